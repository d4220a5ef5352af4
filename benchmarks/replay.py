"""Replay throughput: the full pipeline against the raw consume limit, in the same run.

Run ``.venv/bin/python -m benchmarks.replay`` (``--events 1000000``, ``--workers 1 2``,
``--runs 3``, ``--no-check``, ``--profile FILE``). Per run: N simulated events (realistic
delivery noise) are produced to a fresh stack first; then (a) an aiokafka consumer in its own
group reads the topic with ``getmany`` and no processing until it has counted every produced
message — the raw limit; (b) the worker process(es) of ``outcomes run`` process the same topic
from the start, timed from their start until every produced offset is reflected in the
aggregates (``services.progress``). The final aggregates are compared with the independent
batch recomputation (``tests.oracle``). The median of the runs goes to
``benchmarks/results/replay.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from benchmarks.common import (
    BenchStack,
    bench_stack,
    counter_mismatches,
    median,
    raw_consume,
    run_benchmark,
    running_workers,
    stored_counters,
    worker_logs,
    write_results,
)
from benchmarks.provenance import git_commit
from services.ingest import produce
from services.progress import Reflection, covers
from services.settings import Settings
from services.simulate import simulate
from services.store.pool import connect
from tests import oracle

EVENTS_PER_REFERRAL = 23.6
"""Measured mean of ``simulate`` (realistic noise): 9,455 events for 400 referrals."""
CATCH_UP_TIMEOUT_SECONDS = 3600.0
"""P: a replay that has not finished in an hour is broken, not slow."""
POLL_SECONDS = 0.05
NATIONAL_YEAR_EVENTS = 10_000_000
"""Issue 7: about 10 million events a year for England."""


@dataclass(frozen=True, slots=True)
class ReplayRun:
    commit: str
    batch_size: int
    workers: int
    events: int
    raw_consume_events_per_s: float
    raw_join_s: float
    events_per_s: float
    """End to end: worker start to the last produced offset committed."""
    events_per_s_after_first_batch: float
    """From the first committed batch to the last: the rate without start-up and join."""
    first_batch_s: float
    pipeline_s: float
    ratio_to_raw: float
    oracle_check: str


def messages_for(events: int, seed: int) -> list[bytes]:
    referrals = max(1, round(events / EVENTS_PER_REFERRAL))
    return [orjson.dumps(event) for event in simulate(referrals, seed)]


async def _pipeline(
    stack: BenchStack,
    last_offsets: dict[int, int],
    workers: int,
    env: dict[str, str],
    profile: Path | None,
) -> tuple[float, float]:
    """Seconds from worker start to everything committed, and to the first commit."""
    connection = await connect(stack.database_url)
    try:
        started = time.perf_counter()
        first: float | None = None
        reflection = Reflection(stack.events_topic)
        with running_workers(stack, workers, env=env, profile=profile) as processes:
            try:
                async with asyncio.timeout(CATCH_UP_TIMEOUT_SECONDS):
                    while True:
                        progress = await reflection.poll(connection)
                        now = time.perf_counter()
                        if progress and first is None:
                            first = now
                        if covers(progress, last_offsets):
                            break
                        await asyncio.sleep(POLL_SECONDS)
            except TimeoutError:
                raise TimeoutError(f"workers did not catch up:\n{worker_logs(processes)}") from None
        assert first is not None
        return now - started, first - started
    finally:
        await connection.close()


async def replay_once(
    events: int,
    *,
    seed: int,
    workers: int,
    check: bool,
    env: dict[str, str],
    profile: Path | None,
    console: Console,
) -> ReplayRun:
    commit = git_commit()
    messages = messages_for(events, seed)
    async with bench_stack("replay") as stack:
        console.log(f"producing {len(messages):,} events …")
        last_offsets = await produce(
            stack.kafka_bootstrap_servers, messages, namespace=stack.namespace
        )
        console.log("raw consume …")
        raw_s, raw_join_s = await raw_consume(
            stack.kafka_bootstrap_servers, stack.events_topic, len(messages)
        )
        console.log(f"pipeline with {workers} worker(s) …")
        pipeline_s, first_batch_s = await _pipeline(stack, last_offsets, workers, env, profile)
        verdict = "skipped"
        if check:
            console.log("checking the aggregates against the batch recomputation …")
            expected = await asyncio.to_thread(oracle.recompute, messages)
            problems = counter_mismatches(await stored_counters(stack.database_url), expected)
            verdict = "pass" if not problems else f"FAIL ({len(problems)}): {problems[:3]}"
    raw_rate = len(messages) / raw_s
    rate = len(messages) / pipeline_s
    return ReplayRun(
        commit=commit,
        batch_size=int(env["BATCH_SIZE"]),
        workers=workers,
        events=len(messages),
        raw_consume_events_per_s=round(raw_rate),
        raw_join_s=round(raw_join_s, 2),
        events_per_s=round(rate),
        events_per_s_after_first_batch=round(len(messages) / (pipeline_s - first_batch_s)),
        first_batch_s=round(first_batch_s, 2),
        pipeline_s=round(pipeline_s, 2),
        ratio_to_raw=round(rate / raw_rate, 6),
        oracle_check=verdict,
    )


def _table(runs: list[ReplayRun]) -> Table:
    table = Table(title="Replay throughput (events/s)")
    for header in (
        "workers",
        "events",
        "raw getmany",
        "pipeline e2e",
        "after 1st batch",
        "1st batch s",
        "ratio",
        "oracle",
    ):
        table.add_column(header, justify="right")
    for run in runs:
        table.add_row(
            str(run.workers),
            f"{run.events:,}",
            f"{run.raw_consume_events_per_s:,.0f}",
            f"{run.events_per_s:,.0f}",
            f"{run.events_per_s_after_first_batch:,.0f}",
            f"{run.first_batch_s:.1f}",
            f"{run.ratio_to_raw:.1%}",
            run.oracle_check,
        )
    return table


def _summary(runs: list[ReplayRun]) -> dict[str, Any]:
    """Medians over the runs of one worker count."""
    return {
        "events_per_s": median(run.events_per_s for run in runs),
        "events_per_s_after_first_batch": median(
            run.events_per_s_after_first_batch for run in runs
        ),
        "raw_consume_events_per_s": median(run.raw_consume_events_per_s for run in runs),
        "ratio_to_raw": median(run.ratio_to_raw for run in runs),
        "workers": runs[0].workers,
        "events": runs[0].events,
        "oracle_check": sorted({run.oracle_check for run in runs}),
    }


async def main(arguments: argparse.Namespace) -> None:
    console = Console()
    commit = git_commit()
    # Pinned for the worker, so a default changed in the checkout mid-run cannot mix figures.
    env = {"BATCH_SIZE": str(arguments.batch_size or Settings().batch_size)}
    runs: list[ReplayRun] = []
    for workers in arguments.workers:
        for index in range(arguments.runs):
            profile = arguments.profile if index == 0 and not runs else None
            runs.append(
                await replay_once(
                    arguments.events,
                    seed=arguments.seed,
                    workers=workers,
                    check=not arguments.no_check,
                    env=env,
                    profile=profile,
                    console=console,
                )
            )
    console.print(_table(runs))
    by_workers = [
        _summary([run for run in runs if run.workers == workers]) for workers in arguments.workers
    ]
    headline = by_workers[0]
    rate = headline["events_per_s"]
    path = write_results(
        arguments.output,
        {
            **headline,
            "batch_size": int(env["BATCH_SIZE"]),
            "national_year_projection_s": round(NATIONAL_YEAR_EVENTS / rate),
            "scale_out": by_workers[1:],
            "runs": [asdict(run) for run in runs],
        },
        commit=commit,
    )
    console.print(
        f"median {rate:,.0f} events/s with {headline['workers']} worker(s) → "
        f"{NATIONAL_YEAR_EVENTS:,} events in {NATIONAL_YEAR_EVENTS / rate / 60:,.1f} min; "
        f"wrote {path.relative_to(path.parents[2])}"
    )


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="about this many events")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="workers in one consumer group; several counts (1 2) compare them on one replay",
    )
    parser.add_argument("--runs", type=int, default=1, help="runs; the median is reported")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--batch-size", type=int, default=None, help="BATCH_SIZE of the worker (its default)"
    )
    parser.add_argument("--no-check", action="store_true", help="skip the oracle comparison")
    parser.add_argument(
        "--profile", type=Path, default=None, help="cProfile the (first) worker of run 1 to FILE"
    )
    parser.add_argument(
        "--output", default="replay", help="results file name under benchmarks/results/"
    )
    return parser.parse_args()


if __name__ == "__main__":
    run_benchmark(main(parse_arguments()))
