"""Shared machinery of the pipeline benchmarks (replay, freshness, memory).

Each run gets its own stack: the embedded Tansu broker and PostgreSQL (or the
KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL given), a fresh database with the migrations applied,
and its own topic namespace, so nothing from an earlier run is counted. "Caught up" is
decided from ``consumer_progress`` (what the worker committed), never from broker end
offsets, which Tansu gets wrong (STREAMING.md). Workers are the production command
(``outcomes run``) as supervised children; every process started here is stopped on exit.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psutil
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

from services.runtime.process import SupervisedProcess
from services.runtime.stack import embedded_stack
from services.runtime.topics import create_topics
from services.store.migrations import upgrade_database
from services.store.pool import connect
from services.worker import worker_process
from topics.registry import EVENTS, TOPICS

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"

WORKER_ENV: Mapping[str, str] = {
    "BROKER_SESSION_TIMEOUT": "3",
    "BROKER_HEARTBEAT_INTERVAL": "0.5",
    "BROKER_REQUEST_TIMEOUT": "5",
    "LOG_LEVEL": "WARNING",
}
"""P: a 3 s session makes Tansu's group join take ~1.5 s instead of ~3 s (STREAMING.md); the
batch size and wait stay the service's defaults unless a benchmark flag overrides them. The
per-batch INFO log line is silenced: it is not part of the work being measured."""

RAW_CONSUMER_SESSION_MS = 3000
"""P: the raw consumer's own group joins as quickly as the workers' (Tansu holds a join for
half the session timeout)."""


def run_benchmark(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run(main)``, with SIGTERM cancelling it like Ctrl-C, so that every context
    manager unwinds and stops the workers, the broker and PostgreSQL it started."""

    async def guarded() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            await main
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        asyncio.run(guarded())
    except asyncio.CancelledError:
        raise SystemExit(128 + signal.SIGTERM) from None


def machine() -> dict[str, Any]:
    """What the figures were measured on; the load average says how shared the machine was."""
    return {
        "cpus": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": sys.version.split()[0],
    }


def write_results(name: str, results: Mapping[str, Any], *, commit: str) -> Path:
    """Write ``benchmarks/results/NAME.json`` with the commit measured (taken when the
    benchmark started: the checkout may move on while it runs), the machine and the time."""
    path = RESULTS / f"{name.removesuffix('.json')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        **results,
        "commit": commit,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    return path


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


@dataclass(frozen=True, slots=True)
class BenchStack:
    """A running stack with a fresh database and this run's own topics."""

    kafka_bootstrap_servers: str
    database_url: str
    namespace: str
    workdir: Path

    @property
    def events_topic(self) -> str:
        return self.namespace + EVENTS.name


@asynccontextmanager
async def bench_stack(name: str) -> AsyncIterator[BenchStack]:
    """The embedded stack (or the given endpoints), migrated, with a unique topic namespace."""
    async with embedded_stack(
        kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        database_url=os.environ.get("DATABASE_URL"),
        isolated_database=True,
    ) as stack:
        await upgrade_database(stack.database_url)
        namespace = f"bench-{name}-{uuid.uuid4().hex[:8]}."
        await create_topics(
            stack.kafka_bootstrap_servers,
            {namespace + spec.name: spec.partitions for spec in TOPICS.values()},
        )
        with tempfile.TemporaryDirectory(prefix=f"roms-bench-{name}-") as workdir:
            yield BenchStack(
                stack.kafka_bootstrap_servers, stack.database_url, namespace, Path(workdir)
            )


def _worker(
    stack: BenchStack, group: str, index: int, env: Mapping[str, str], profile: Path | None
) -> SupervisedProcess:
    log_path = stack.workdir / f"worker-{index}.log"
    process = worker_process(
        kafka_bootstrap_servers=stack.kafka_bootstrap_servers,
        database_url=stack.database_url,
        consumer_group=group,
        log_path=log_path,
        topic_namespace=stack.namespace,
        extra_env={**WORKER_ENV, **env},
    )
    if profile is None:
        return process
    # The same command under cProfile, which dumps its stats when the worker exits on SIGTERM.
    return SupervisedProcess(
        "worker",
        [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "services.cli", "run"],
        log_path=log_path,
        env={
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
            "DATABASE_URL": stack.database_url,
            "CONSUMER_GROUP": group,
            "TOPIC_NAMESPACE": stack.namespace,
            **WORKER_ENV,
            **env,
        },
    )


@contextmanager
def running_workers(
    stack: BenchStack,
    count: int,
    *,
    env: Mapping[str, str] | None = None,
    profile: Path | None = None,
) -> Iterator[list[SupervisedProcess]]:
    """Start ``count`` workers in one consumer group; stop every one of them on exit."""
    group = f"{stack.namespace}group-{uuid.uuid4().hex[:6]}"
    workers: list[SupervisedProcess] = []
    try:
        for index in range(count):
            worker = _worker(stack, group, index, env or {}, profile if index == 0 else None)
            worker.start()
            workers.append(worker)
        yield workers
    finally:
        for worker in workers:
            worker.stop()


def worker_logs(workers: Sequence[SupervisedProcess]) -> str:
    return "\n".join(f"--- {worker.name} ---\n{worker.log_tail()}" for worker in workers)


async def raw_consume(bootstrap: str, topic: str, expected: int) -> tuple[float, float]:
    """Read ``topic`` from the start with ``getmany`` and no processing, in its own group,
    until ``expected`` messages have been counted.

    Returns (seconds reading, from partition assignment to the last message counted; seconds
    joining the group, Tansu's fixed hold, which says nothing about the rate).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"{topic}.raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=RAW_CONSUMER_SESSION_MS,
        heartbeat_interval_ms=RAW_CONSUMER_SESSION_MS // 6,
    )
    assignment = _Assignment()
    consumer.subscribe([topic], listener=assignment)
    started = time.perf_counter()
    await consumer.start()
    try:
        await assignment.assigned.wait()
        assigned = time.perf_counter()
        seen = 0
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(len(records) for records in batches.values())
        finished = time.perf_counter()
    finally:
        await consumer.stop()
    return finished - assigned, assigned - started


class _Assignment(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.assigned = asyncio.Event()

    async def on_partitions_revoked(self, revoked: object) -> None:
        self.assigned.clear()

    async def on_partitions_assigned(self, assigned: object) -> None:
        self.assigned.set()


def process_tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    root = psutil.Process(pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


async def database_bytes(dsn: str) -> dict[str, int]:
    """Table + index + TOAST bytes of every table of the service's schema."""
    connection = await connect(dsn)
    try:
        await connection.execute("CHECKPOINT")
        rows = await connection.fetch(
            "SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()"
        )
    finally:
        await connection.close()
    return {row["name"]: int(row["bytes"]) for row in rows}


def counter_mismatches(
    stored: Mapping[tuple[str, ...], Mapping[str, float]],
    expected: Mapping[Any, Mapping[str, float]],
) -> list[str]:
    """Differences between stored aggregate counters and the batch recomputation's (the
    integration tests' comparison: zero counters ignored, rel 1e-9 / abs 1e-6)."""
    wanted = {
        tuple(key): {name: value for name, value in values.items() if abs(value) > 1e-9}
        for key, values in expected.items()
    }
    wanted = {key: values for key, values in wanted.items() if values}
    problems = [f"missing aggregate {key}" for key in wanted.keys() - stored.keys()]
    problems += [f"unexpected aggregate {key}" for key in stored.keys() - wanted.keys()]
    for key in wanted.keys() & stored.keys():
        for name in wanted[key].keys() | stored[key].keys():
            have, want = stored[key].get(name, 0.0), wanted[key].get(name, 0.0)
            if not math.isclose(have, want, rel_tol=1e-9, abs_tol=1e-6):
                problems.append(f"{key} {name}: stored {have} expected {want}")
    return problems


async def stored_counters(dsn: str) -> dict[tuple[str, ...], dict[str, float]]:
    connection = await connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT method, level, code, period, cohort, cohort_value, counters FROM aggregates"
        )
    finally:
        await connection.close()
    keys = ("method", "level", "code", "period", "cohort", "cohort_value")
    return {tuple(row[c] for c in keys): row["counters"] for row in rows if row["counters"]}
