"""Freshness: how long after it is produced an event's effect is visible, at a steady rate.

Run ``.venv/bin/python -m benchmarks.freshness`` (``--rate 1000 --seconds 60``). A worker is
started and warmed up (one referral's events, processed), then simulated events are produced at
a steady ``--rate`` for ``--seconds``, each with its produce time (just before ``send``) and,
from its acknowledgement, its partition and offset. An event's effect is visible in the
aggregates table from the first poll (every 50 ms) that finds its offset reflected
(``services.progress.Reflection``: stored, and its referral derived). Reports p50/p99/max of
the delay to ``benchmarks/results/freshness.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata
from rich.console import Console
from rich.table import Table

from benchmarks.common import (
    BenchStack,
    bench_stack,
    run_benchmark,
    running_workers,
    worker_logs,
    write_results,
)
from benchmarks.provenance import git_commit
from benchmarks.replay import EVENTS_PER_REFERRAL
from services.ingest import event_key, produce
from services.progress import Reflection, covers, wait_until_reflected
from services.simulate import simulate
from services.store.pool import connect

POLL_SECONDS = 0.05
SEND_TICK_SECONDS = 0.005
"""P: the producer wakes every 5 ms and sends what is due, so the rate is steady at 1 ms scale."""
LINGER_MS = 5
"""P: a producer as an EPR integration would run it: small linger, acknowledged by all."""
DRAIN_TIMEOUT_SECONDS = 600.0
WARM_UP_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Sent:
    produced_at: float
    partition: int
    offset: int


def _messages(count: int, seed: int) -> list[bytes]:
    referrals = max(1, round(count / EVENTS_PER_REFERRAL) + 1)
    events: Iterator[bytes] = (orjson.dumps(event) for event in simulate(referrals, seed))
    return [raw for raw, _ in zip(events, range(count), strict=False)]


async def _produce_steadily(
    stack: BenchStack, messages: Sequence[bytes], rate: float
) -> list[Sent]:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, acks="all", linger_ms=LINGER_MS
    )
    await producer.start()
    pending: list[tuple[float, asyncio.Future[RecordMetadata]]] = []
    try:
        started = time.perf_counter()
        index = 0
        while index < len(messages):
            due = min(len(messages), int((time.perf_counter() - started) * rate) + 1)
            while index < due:
                raw = messages[index]
                sent_at = time.perf_counter()
                future = await producer.send(stack.events_topic, value=raw, key=event_key(raw))
                pending.append((sent_at, future))
                index += 1
            await asyncio.sleep(SEND_TICK_SECONDS)
        acknowledged = await asyncio.gather(*(future for _, future in pending))
    finally:
        await producer.stop()
    return [
        Sent(sent_at, metadata.partition, metadata.offset)
        for (sent_at, _), metadata in zip(pending, acknowledged, strict=True)
    ]


async def _watch_progress(
    stack: BenchStack, final: asyncio.Future[dict[int, int]]
) -> list[tuple[float, dict[int, int]]]:
    """(time, committed offset per partition) every 50 ms, until the ``final`` offsets (known
    once production ends) are all committed."""
    connection = await connect(stack.database_url)
    polls: list[tuple[float, dict[int, int]]] = []
    reflection = Reflection(stack.events_topic)
    try:
        while True:
            progress = await reflection.poll(connection)
            polls.append((time.perf_counter(), progress))
            if final.done() and covers(progress, final.result()):
                return polls
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await connection.close()


def delays(sent: Sequence[Sent], polls: Sequence[tuple[float, dict[int, int]]]) -> list[float]:
    """For each event, the first poll whose committed offset covers it, minus its produce time.

    Committed offsets only grow, so per partition a binary search over the polls finds it.
    """
    times = [moment for moment, _ in polls]
    visible: dict[int, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for poll_index, (_, progress) in enumerate(polls):
        for partition, offset in progress.items():
            visible[partition][0].append(poll_index)
            visible[partition][1].append(offset)
    result = []
    for event in sent:
        indices, offsets = visible[event.partition]
        position = bisect.bisect_left(offsets, event.offset)
        if position == len(offsets):
            raise RuntimeError(f"offset {event.partition}/{event.offset} never became visible")
        result.append(times[indices[position]] - event.produced_at)
    return result


async def main(arguments: argparse.Namespace) -> None:
    console = Console()
    commit = git_commit()
    count = int(arguments.rate * arguments.seconds)
    messages = _messages(count + 50, arguments.seed)
    warm_up, steady = messages[:50], messages[50:]
    async with bench_stack("freshness") as stack:
        with running_workers(stack, 1) as workers:
            console.log("warming up the worker …")
            last = await produce(stack.kafka_bootstrap_servers, warm_up, namespace=stack.namespace)
            async with asyncio.timeout(WARM_UP_TIMEOUT_SECONDS):
                await wait_until_reflected(stack.database_url, stack.events_topic, last)
            console.log(f"producing {len(steady):,} events at {arguments.rate:g}/s …")
            final: asyncio.Future[dict[int, int]] = asyncio.get_running_loop().create_future()
            watcher = asyncio.create_task(_watch_progress(stack, final))
            try:
                sent = await _produce_steadily(stack, steady, arguments.rate)
                offsets: dict[int, int] = {}
                for event in sent:
                    offsets[event.partition] = max(offsets.get(event.partition, -1), event.offset)
                final.set_result(offsets)
                polls = await asyncio.wait_for(watcher, DRAIN_TIMEOUT_SECONDS)
            except TimeoutError:
                raise TimeoutError(f"worker did not catch up:\n{worker_logs(workers)}") from None
            finally:
                watcher.cancel()
    observed = np.array(delays(sent, polls))
    results = {
        "freshness_p50_s": round(float(np.percentile(observed, 50)), 3),
        "freshness_p99_s": round(float(np.percentile(observed, 99)), 3),
        "freshness_max_s": round(float(observed.max()), 3),
        "rate_events_per_s": arguments.rate,
        "seconds": arguments.seconds,
        "events": len(sent),
        "workers": 1,
        "poll_s": POLL_SECONDS,
    }
    table = Table(title=f"Freshness at {arguments.rate:g} events/s for {arguments.seconds:g} s")
    for header in ("events", "p50 s", "p99 s", "max s"):
        table.add_column(header, justify="right")
    table.add_row(
        f"{len(sent):,}",
        f"{results['freshness_p50_s']:.3f}",
        f"{results['freshness_p99_s']:.3f}",
        f"{results['freshness_max_s']:.3f}",
    )
    console.print(table)
    path = write_results(arguments.output, results, commit=commit)
    console.print(f"wrote {path.relative_to(path.parents[2])}")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to produce")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--output", default="freshness", help="results file name under benchmarks/results/"
    )
    return parser.parse_args()


if __name__ == "__main__":
    run_benchmark(main(parse_arguments()))
