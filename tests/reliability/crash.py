"""Crash-and-restart tools: SIGKILL the real worker at a chosen kind of moment, read which
partitions each worker holds, and wait for the outbox to be published.

A kill is aimed first by the worker's log (after so many hot-path batches or derivation
passes, and a seeded delay), then by PostgreSQL's view of the worker: the next moment one
of the worker's own backends (matched to the process by its client port) shows in
``pg_stat_activity`` with a transaction id (it has written or locked rows), either running
a statement (``active``) or waiting for the worker between two (``idle in transaction``:
assembling and scoring referrals, or awaiting the broker's acks while it holds outbox
rows). The kill follows the sighting within milliseconds, so it lands in that transaction
or just after it.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import asyncpg
import psutil
import pytest

from services.runtime.process import SupervisedProcess
from services.store import outbox
from services.store.pool import connect
from tests.reliability.conftest import read_log

POLL_SECONDS = 0.002
"""How often the worker's backends are looked at while a kill waits for its moment (P)."""
LOG_POLL_SECONDS = 0.02
OUTBOX_POLL_SECONDS = 0.2
LIVENESS_POLL_SECONDS = 0.5
STORED, DERIVED = "batch stored", "referrals derived"
"""What the worker logs after each hot-path batch and each derivation pass."""
_WRITE_TRANSACTIONS = """
    SELECT client_port, query FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND state = ANY($1::text[]) AND backend_xid IS NOT NULL
"""
T = TypeVar("T")
_ASSIGNED = re.compile(r"Setting newly assigned partitions (.*) for group")


class Moment(StrEnum):
    """Where a kill is aimed."""

    START_UP = "start-up"
    """Seconds after the spawn: connecting, joining the group, draining the outbox."""
    INGESTING = "ingesting"
    """After some hot-path batches, in the worker's next write transaction of any kind (the
    next batch while a replay is still being taken in)."""
    DERIVING = "between statements"
    """After some derivation passes, in a write transaction between two statements
    (``idle in transaction``: assembling and scoring, or awaiting the broker's acks)."""
    WRITING = "in a statement"
    """After some derivation passes, while PostgreSQL runs a write transaction's statement."""


_AFTER: dict[Moment, tuple[str, tuple[str, ...]]] = {
    Moment.INGESTING: (STORED, ("active", "idle in transaction")),
    Moment.DERIVING: (DERIVED, ("idle in transaction",)),
    Moment.WRITING: (DERIVED, ("active",)),
}
"""Per moment: the log line counted first, and the backend states that trigger the kill."""


_DELAYS = {Moment.START_UP: 2.5, Moment.INGESTING: 0.0, Moment.DERIVING: 1.0, Moment.WRITING: 1.0}
"""Longest seeded delay per moment, s (P): start-up kills come up to 2.5 s after the spawn
(the group join alone takes ~1.5 s on Tansu); ingestion of a replay is over within about
a second of the join, so the hot-path kill waits for no delay."""


@dataclass(frozen=True, slots=True)
class Kill:
    """Once the run's log shows ``times`` lines of the moment's kind and ``delay`` s more
    have passed, kill at the next sighting of the moment (start-up: ``delay`` after the
    spawn, at once)."""

    moment: Moment
    times: int
    delay: float


def kill_schedule(rng: random.Random, moments: Sequence[Moment]) -> list[Kill]:
    """A seeded kill per moment, in the order given."""
    return [Kill(moment, rng.randint(1, 3), _DELAYS[moment] * rng.random()) for moment in moments]


def sigkill(worker: SupervisedProcess) -> None:
    """SIGKILL the worker's whole process group (nothing can run on the way out), reap it."""
    assert worker.pid is not None
    os.killpg(worker.pid, signal.SIGKILL)
    worker.stop()


def alive(worker: SupervisedProcess) -> bool:
    """The worker is running (neither exited nor killed)."""
    if worker.pid is None:
        return False
    try:
        return psutil.Process(worker.pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def while_alive(workers: Sequence[SupervisedProcess], work: Awaitable[T]) -> T:
    """Await ``work``, failing at once with its log if a worker dies meanwhile."""
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=LIVENESS_POLL_SECONDS)
            for worker in workers:
                if not task.done() and not alive(worker):
                    pytest.fail(f"a worker died by itself; its log:\n{worker.log_tail()}")
        return task.result()
    finally:
        task.cancel()


def _ports(worker: SupervisedProcess) -> set[int]:
    assert worker.pid is not None
    try:
        connections = psutil.Process(worker.pid).net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return set()
    return {connection.laddr.port for connection in connections if connection.laddr}


async def logged(log_path: Path, line: str, times: int) -> None:
    """Wait until ``line`` is in the log ``times`` times. Bound it with a timeout."""
    while True:
        if read_log(log_path).count(line) >= times:
            return
        await asyncio.sleep(LOG_POLL_SECONDS)


async def _in_transaction(
    connection: asyncpg.Connection, worker: SupervisedProcess, states: tuple[str, ...]
) -> str:
    """The statement of the worker's first backend seen in one of ``states`` in a write
    transaction (it has written or locked rows)."""
    while True:
        rows = await connection.fetch(_WRITE_TRANSACTIONS, list(states))
        ports = _ports(worker) if rows else set()
        for row in rows:
            if row["client_port"] in ports:
                return " ".join(str(row["query"]).split())[:100]
        await asyncio.sleep(POLL_SECONDS)


async def kill_at(
    worker: SupervisedProcess, log_path: Path, dsn: str, kill: Kill, give_up_after: float
) -> str | None:
    """Carry out ``kill`` on a worker logging to ``log_path``; return the statement its
    backend was running (or last ran) in the transaction the kill landed in. When the moment
    does not come within ``give_up_after`` s (the worker ran out of work), kill anyway and
    return ``None``; so does a start-up kill."""
    if kill.moment is Moment.START_UP:
        await asyncio.sleep(kill.delay)
        sigkill(worker)
        return None
    line, states = _AFTER[kill.moment]
    connection = await connect(dsn)
    try:
        async with asyncio.timeout(give_up_after):
            await while_alive([worker], logged(log_path, line, kill.times))
            await asyncio.sleep(kill.delay)
            statement: str | None = await _in_transaction(connection, worker, states)
    except TimeoutError:
        statement = None
    finally:
        sigkill(worker)
        await connection.close()
    return statement


def assigned_partitions(log_path: Path, topic: str) -> frozenset[int] | None:
    """The partitions of ``topic`` in the worker's latest assignment (aiokafka logs each at
    INFO), or ``None`` before its first."""
    assignments = _ASSIGNED.findall(read_log(log_path)) if log_path.exists() else []
    if not assignments:
        return None
    pattern = rf"topic='{re.escape(topic)}', partition=(\d+)"
    return frozenset(int(partition) for partition in re.findall(pattern, assignments[-1]))


async def wait_for_split(
    log_paths: Sequence[Path], topic: str, partitions: int
) -> list[frozenset[int]]:
    """Wait until the workers' latest assignments share out every partition of ``topic``,
    each worker holding some and no two the same; return them. Bound it with a timeout."""
    everything = frozenset(range(partitions))
    while True:
        latest = [assigned_partitions(path, topic) for path in log_paths]
        held = [assignment for assignment in latest if assignment]
        shared_out = sum(map(len, held)) == partitions and frozenset().union(*held) == everything
        if len(held) == len(log_paths) and shared_out:
            return held
        await asyncio.sleep(LOG_POLL_SECONDS)


async def wait_until_published(dsn: str) -> None:
    """Wait until no outbox record or moved aggregate is left unpublished. Bound it with a
    timeout."""
    connection = await connect(dsn)
    try:
        while True:
            if not await outbox.unpublished(connection):
                return
            await asyncio.sleep(OUTBOX_POLL_SECONDS)
    finally:
        await connection.close()
