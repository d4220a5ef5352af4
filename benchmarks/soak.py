"""Soak: the worker and the API under a steady load for minutes, watched for drift.

Run ``.venv/bin/python -m benchmarks.soak`` (``--seconds 600 --rate 2000 --api-rate 100``).
The real processes run: ``outcomes run`` worker(s) and ``outcomes api`` (uvicorn), on a
fresh stack. After a warm-up (the first events processed, the API answering), simulated
events are produced at a steady ``--rate`` while a commissioner's token (a real one, in
the store) asks ``GET /v1/aggregates`` and ``GET /v1/reports/outcomes`` at a steady
``--api-rate`` (open loop: a slow answer does not slow the senders). Every few seconds the
worker's resident memory and the consumer lag are sampled: the lag is the produced offsets
(acknowledged by the broker) minus those reflected in the aggregates
(``services.progress.Reflection``: facts stored and derived). When production ends the
lag must drain; then the final aggregates are compared with the batch recomputation
(``tests.oracle``).

Reports produced events, API requests and errors (non-2xx, timeouts), API p50/p99, worker
RSS with its linear trend (bytes/min), the lag's maximum and trend, the drain time and the
oracle's verdict; prints a table and writes ``benchmarks/results/soak.json``.
``tests/reliability/test_soak.py`` runs the same functions for a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psutil
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata
from rich.console import Console
from rich.table import Table

from benchmarks.api_load import TICK_SECONDS, ApiLoad, load_api, running_api
from benchmarks.common import (
    BenchStack,
    bench_stack,
    counter_mismatches,
    process_tree_rss,
    run_benchmark,
    running_workers,
    stored_counters,
    worker_logs,
    write_results,
)
from benchmarks.provenance import git_commit
from benchmarks.replay import EVENTS_PER_REFERRAL
from services.ingest import event_key
from services.progress import Reflection, wait_until_reflected
from services.runtime import SupervisedProcess
from services.simulate import simulate
from services.store.pool import connect
from tests import oracle

WARM_UP_EVENTS = 50
WARM_UP_TIMEOUT_SECONDS = 120.0
LINGER_MS = 50
"""P: the load generator stands for many EPRs and batches its sends for 50 ms. Tansu's cost is
per produce request: at 2,000 events/s it spent 0.18 of a core on 5 ms batches and 0.08 on
50 ms ones (a bare producer and consumer, 30 s each), CPU taken from the service measured on
the same 2 cores. Freshness, where the wait would count, is ``benchmarks.freshness``."""


@dataclass(frozen=True, slots=True)
class SoakPlan:
    seconds: float
    rate: float
    api_rate: float
    workers: int = 1
    seed: int = 17
    sample_seconds: float = 5.0
    drain_timeout: float = 1800.0
    check: bool = True


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    """Seconds since production started."""
    produced: int
    """Events acknowledged by the broker so far (warm-up included)."""
    lag: int
    """Acknowledged offsets not yet reflected in the store, over all partitions."""
    worker_rss: int
    """Bytes resident in the workers' process trees."""
    api_rss: int
    workers_alive: bool


@dataclass(frozen=True, slots=True)
class SoakReport:
    plan: SoakPlan
    produced: int
    """Events produced at the steady rate (without the warm-up)."""
    produce_errors: int
    production_seconds: float
    samples: list[Sample]
    api: ApiLoad
    drain_seconds: float | None
    """From the end of production until every produced offset was reflected; None if not."""
    oracle_check: str
    worker_tracebacks: int

    def production_samples(self) -> list[Sample]:
        return [sample for sample in self.samples if sample.at <= self.production_seconds]


class _Acknowledged:
    """The highest offset the broker acknowledged per partition, as acknowledgements come."""

    def __init__(self) -> None:
        self.offsets: dict[int, int] = {}
        self.errors = 0

    def record(self, future: asyncio.Future[RecordMetadata]) -> None:
        if future.cancelled() or future.exception() is not None:
            self.errors += 1
            return
        metadata = future.result()
        self.offsets[metadata.partition] = max(
            metadata.offset, self.offsets.get(metadata.partition, -1)
        )

    def lag(self, reflected: dict[int, int]) -> int:
        return sum(max(0, offset - reflected.get(p, -1)) for p, offset in self.offsets.items())


def event_stream(count: int, seed: int) -> Iterator[bytes]:
    """The first ``count`` simulated events (realistic noise), serialised; the same each time."""
    referrals = int(count / EVENTS_PER_REFERRAL * 1.2) + 2
    return itertools.islice((orjson.dumps(e) for e in simulate(referrals, seed)), count)


async def _produce_steadily(
    stack: BenchStack, messages: Iterator[bytes], count: int, rate: float, acked: _Acknowledged
) -> float:
    """Send ``count`` messages at ``rate`` per second; return the seconds it took."""
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, acks="all", linger_ms=LINGER_MS
    )
    await producer.start()
    pending: set[asyncio.Future[RecordMetadata]] = set()
    try:
        started = time.perf_counter()
        sent = 0
        while sent < count:
            due = min(count, int((time.perf_counter() - started) * rate) + 1)
            while sent < due:
                raw = next(messages)
                future = await producer.send(stack.events_topic, value=raw, key=event_key(raw))
                future.add_done_callback(acked.record)
                future.add_done_callback(pending.discard)
                pending.add(future)
                sent += 1
            await asyncio.sleep(TICK_SECONDS)
        await asyncio.gather(*pending, return_exceptions=True)
        return time.perf_counter() - started
    finally:
        await producer.stop()


def _alive(process: SupervisedProcess) -> bool:
    try:
        return process.pid is not None and psutil.Process(process.pid).status() not in (
            psutil.STATUS_ZOMBIE,
            psutil.STATUS_DEAD,
        )
    except psutil.NoSuchProcess:
        return False


def _rss(processes: Sequence[SupervisedProcess]) -> int:
    return sum(process_tree_rss(p.pid) for p in processes if p.pid is not None and _alive(p))


async def _sample(
    stack: BenchStack,
    workers: Sequence[SupervisedProcess],
    api: SupervisedProcess,
    acked: _Acknowledged,
    every: float,
    stop: asyncio.Event,
) -> list[Sample]:
    """A sample every ``every`` seconds from the start of production until ``stop``."""
    connection = await connect(stack.database_url)
    reflection = Reflection(stack.events_topic)
    samples: list[Sample] = []
    started = time.perf_counter()
    try:
        while True:
            reflected = await reflection.poll(connection)
            samples.append(
                Sample(
                    at=time.perf_counter() - started,
                    produced=sum(offset + 1 for offset in acked.offsets.values()),
                    lag=acked.lag(reflected),
                    worker_rss=_rss(workers),
                    api_rss=_rss([api]),
                    workers_alive=all(_alive(worker) for worker in workers),
                )
            )
            if stop.is_set():
                return samples
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
    finally:
        await connection.close()


async def _oracle_check(stack: BenchStack, plan: SoakPlan, events: int) -> str:
    expected = await asyncio.to_thread(oracle.recompute, event_stream(events, plan.seed))
    problems = counter_mismatches(await stored_counters(stack.database_url), expected)
    return "pass" if not problems else f"FAIL ({len(problems)}): {problems[:3]}"


async def run_soak(stack: BenchStack, plan: SoakPlan, console: Console | None = None) -> SoakReport:
    """The soak on ``stack`` (migrated, with its topics): workers and API started and stopped
    here."""
    say = (console or Console(quiet=True)).log
    count = int(plan.rate * plan.seconds)
    messages = event_stream(WARM_UP_EVENTS + count, plan.seed)
    acked = _Acknowledged()
    with running_workers(stack, plan.workers) as workers:
        async with running_api(stack) as (api, client):
            say("warming up the worker …")
            warm_up = list(itertools.islice(messages, WARM_UP_EVENTS))
            await _produce_steadily(stack, iter(warm_up), len(warm_up), 1e6, acked)
            async with asyncio.timeout(WARM_UP_TIMEOUT_SECONDS):
                await wait_until_reflected(stack.database_url, stack.events_topic, acked.offsets)
            say(f"{count:,} events at {plan.rate:g}/s, API at {plan.api_rate:g} req/s …")
            stop = asyncio.Event()
            sampler = asyncio.create_task(
                _sample(stack, workers, api, acked, plan.sample_seconds, stop)
            )
            try:
                production_seconds, load = await asyncio.gather(
                    _produce_steadily(stack, messages, count, plan.rate, acked),
                    load_api(client, plan.seconds, plan.api_rate, plan.seed),
                )
                say("draining …")
                drain_started = time.perf_counter()
                try:
                    async with asyncio.timeout(plan.drain_timeout):
                        await wait_until_reflected(
                            stack.database_url, stack.events_topic, dict(acked.offsets)
                        )
                    drain_seconds: float | None = time.perf_counter() - drain_started
                except TimeoutError:
                    say(f"not drained in {plan.drain_timeout:g} s:\n{worker_logs(workers)}")
                    drain_seconds = None
            finally:
                stop.set()
                samples = await sampler
        tracebacks = sum(worker.log_tail(1 << 30).count("Traceback") for worker in workers)
    if not plan.check:
        verdict = "not checked"
    elif drain_seconds is None or acked.errors:
        verdict = f"not checked: {acked.errors} sends failed, drained: {drain_seconds is not None}"
    else:
        say("checking the aggregates against the batch recomputation …")
        verdict = await _oracle_check(stack, plan, WARM_UP_EVENTS + count)
    return SoakReport(
        plan,
        count,
        acked.errors,
        production_seconds,
        samples,
        load,
        drain_seconds,
        verdict,
        tracebacks,
    )


def slope_per_minute(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per minute; 0 with fewer than 2."""
    if len(points) < 2:
        return 0.0
    seconds, values = np.array(points, dtype=float).T
    return float(np.polyfit(seconds / 60.0, values, 1)[0])


def percentiles_ms(seconds: Sequence[float], prefix: str = "") -> dict[str, float]:
    milliseconds = np.array(seconds or [0.0]) * 1000
    return {f"{prefix}p{q}_ms": round(float(np.percentile(milliseconds, q)), 1) for q in (50, 99)}


def thirds_mean_lag(samples: Sequence[Sample]) -> tuple[float, float]:
    """Mean lag over the first and the last third of the samples."""
    third = max(1, len(samples) // 3)
    first, last = samples[:third], samples[-third:]
    return (
        float(np.mean([s.lag for s in first])),
        float(np.mean([s.lag for s in last])),
    )


def summarise(report: SoakReport) -> dict[str, Any]:
    """The results document (``benchmarks/results/soak.json``)."""
    during = report.production_samples() or report.samples
    every_latency = [seconds for each in report.api.latencies.values() for seconds in each]
    half = [s for s in during if s.at >= during[-1].at / 2]
    first_third, last_third = thirds_mean_lag(during)
    rss = [s.worker_rss for s in during]
    return {
        "seconds": report.plan.seconds,
        "rate_events_per_s": report.plan.rate,
        "events": report.produced,
        "produced_events_per_s": round(report.produced / report.production_seconds, 1),
        "produce_errors": report.produce_errors,
        "workers": report.plan.workers,
        "api_rate_requests_per_s": report.plan.api_rate,
        "api_requests": report.api.requests,
        "api_errors": report.api.errors,
        "api_timeouts": report.api.timeouts,
        "api_transport_errors": report.api.transport_errors,
        "api_statuses": {str(k): v for k, v in sorted(report.api.statuses.items())},
        **percentiles_ms(every_latency, "api_"),
        "api_by_endpoint": {
            endpoint: {"requests": len(seconds), **percentiles_ms(seconds)}
            for endpoint, seconds in sorted(report.api.latencies.items())
        },
        "worker_rss_first_bytes": rss[0],
        "worker_rss_last_bytes": rss[-1],
        "worker_rss_max_bytes": max(rss),
        "worker_rss_slope_bytes_per_min": round(
            slope_per_minute([(s.at, s.worker_rss) for s in during])
        ),
        "worker_rss_slope_second_half_bytes_per_min": round(
            slope_per_minute([(s.at, s.worker_rss) for s in half])
        ),
        "api_rss_slope_bytes_per_min": round(slope_per_minute([(s.at, s.api_rss) for s in during])),
        "lag_max_events": max(s.lag for s in report.samples),
        "lag_end_of_production_events": during[-1].lag,
        "lag_slope_events_per_min": round(slope_per_minute([(s.at, s.lag) for s in during])),
        "lag_mean_first_third_events": round(first_third),
        "lag_mean_last_third_events": round(last_third),
        "drain_s": None if report.drain_seconds is None else round(report.drain_seconds, 1),
        "workers_alive_throughout": all(s.workers_alive for s in report.samples),
        "worker_tracebacks": report.worker_tracebacks,
        "oracle_check": report.oracle_check,
        "sample_s": report.plan.sample_seconds,
        "samples": [
            [round(s.at, 1), s.produced, s.lag, s.worker_rss, s.api_rss] for s in report.samples
        ],
        "samples_columns": ["at_s", "produced", "lag_events", "worker_rss_bytes", "api_rss_bytes"],
    }


def render(results: dict[str, Any]) -> Table:
    r = results
    mib = 1 << 20
    rss = [r[f"worker_rss_{which}_bytes"] / mib for which in ("first", "last", "max")]
    drain = "not drained" if r["drain_s"] is None else f"{r['drain_s']} s"
    table = Table(
        title=f"Soak: {r['rate_events_per_s']:g} events/s and "
        f"{r['api_rate_requests_per_s']:g} API req/s for {r['seconds']:g} s"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    for row in (
        ("events produced (events/s)", f"{r['events']:,} ({r['produced_events_per_s']:,})"),
        ("API requests", f"{r['api_requests']:,}"),
        ("API errors (of which timeouts)", f"{r['api_errors']:,} ({r['api_timeouts']:,})"),
        ("API p50 / p99", f"{r['api_p50_ms']:,} ms / {r['api_p99_ms']:,} ms"),
        *(
            (f"… {endpoint} ({e['requests']:,})", f"{e['p50_ms']:,} ms / {e['p99_ms']:,} ms")
            for endpoint, e in r["api_by_endpoint"].items()
        ),
        ("worker RSS first → last (max)", f"{rss[0]:.1f} → {rss[1]:.1f} MiB ({rss[2]:.1f})"),
        ("worker RSS trend", f"{r['worker_rss_slope_bytes_per_min'] / 1024:+,.1f} KiB/min"),
        (
            "… over the second half",
            f"{r['worker_rss_slope_second_half_bytes_per_min'] / 1024:+,.1f} KiB/min",
        ),
        ("lag max", f"{r['lag_max_events']:,} events"),
        ("lag at the end of production", f"{r['lag_end_of_production_events']:,} events"),
        ("lag trend", f"{r['lag_slope_events_per_min']:+,} events/min"),
        (
            "lag mean, first → last third",
            f"{r['lag_mean_first_third_events']:,} → {r['lag_mean_last_third_events']:,}",
        ),
        ("drain after production", drain),
        (
            "workers alive / tracebacks",
            f"{r['workers_alive_throughout']} / {r['worker_tracebacks']}",
        ),
        ("aggregates vs tests/oracle.py", r["oracle_check"]),
    ):
        table.add_row(*row)
    return table


async def main(arguments: argparse.Namespace) -> None:
    console = Console()
    commit = git_commit()
    plan = SoakPlan(
        seconds=arguments.seconds,
        rate=arguments.rate,
        api_rate=arguments.api_rate,
        workers=arguments.workers,
        seed=arguments.seed,
        sample_seconds=arguments.sample_seconds,
        drain_timeout=arguments.drain_timeout,
        check=not arguments.no_check,
    )
    async with bench_stack("soak") as stack:
        try:
            report = await run_soak(stack, plan, console)
        finally:
            if arguments.keep_logs is not None:
                shutil.copytree(stack.workdir, arguments.keep_logs, dirs_exist_ok=True)
    results = summarise(report)
    console.print(render(results))
    path = write_results(arguments.output, results, commit=commit)
    console.print(f"wrote {path.relative_to(path.parents[2])}")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="how long to produce")
    parser.add_argument("--rate", type=float, default=2000.0, help="events per second")
    parser.add_argument("--api-rate", type=float, default=100.0, help="API requests per second")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="sampling interval")
    parser.add_argument(
        "--drain-timeout", type=float, default=1800.0, help="longest wait for the lag to drain"
    )
    parser.add_argument("--no-check", action="store_true", help="skip the oracle comparison")
    parser.add_argument("--output", default="soak", help="results file name under results/")
    parser.add_argument("--keep-logs", type=Path, help="copy the worker and API logs here")
    return parser.parse_args()


if __name__ == "__main__":
    run_benchmark(main(parse_arguments()))
