"""Shared pieces of the reliability suite: a migrated database per test, the real worker,
per-message production, and an NHS-number detector written apart from ``topics.privacy``.

Every test here runs the production ``outcomes run`` command in a child process against a
real broker and PostgreSQL (``tests/conftest.py`` chooses them), in its own topic
namespace and database, so the tests are independent and leave nothing behind.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.ingest import event_key
from services.runtime import EmbeddedPostgres, create_database, drop_database
from services.runtime.topics import create_topics
from services.store.migrations import upgrade_database
from topics.registry import EVENTS, TOPICS

# Room for the oversize messages: the producer's own limit must not be what refuses them.
PRODUCER_MAX_REQUEST_BYTES = 8 << 20
_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
# Ten digits, each optionally preceded by spaces, bounded by non-digits on both sides.
_TEN_DIGITS = re.compile(r"(?<![0-9])[0-9](?: *[0-9]){9}(?![0-9])")


@pytest.fixture
async def dsn(postgres_server: str) -> AsyncIterator[str]:
    """A fresh migrated database on the session's server, dropped afterwards."""
    database = await create_database(postgres_server, prefix="roms_reliability")
    await upgrade_database(database)
    try:
        yield database
    finally:
        await drop_database(postgres_server, database)


@pytest.fixture
async def own_postgres() -> AsyncIterator[EmbeddedPostgres]:
    """A private PostgreSQL server this test may pause and resume (deleted afterwards)."""
    server = EmbeddedPostgres()
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def create_namespaced_topics(bootstrap: str, namespace: str) -> None:
    await create_topics(
        bootstrap, {namespace + spec.name: spec.partitions for spec in TOPICS.values()}
    )


async def produce_each(
    bootstrap: str, namespace: str, messages: Sequence[bytes]
) -> list[tuple[int, int] | None]:
    """Produce every message keyed as ``services.ingest`` keys it; return each one's
    ``(partition, offset)``, or ``None`` where the broker refused it (e.g. too large)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=10,
        max_request_size=PRODUCER_MAX_REQUEST_BYTES,
    )
    await producer.start()
    positions: list[tuple[int, int] | None] = []
    try:
        for first in range(0, len(messages), 500):
            pending = [
                await producer.send(namespace + EVENTS.name, value=raw, key=event_key(raw))
                for raw in messages[first : first + 500]
            ]
            for future in pending:
                try:
                    metadata = await future
                except KafkaError:
                    positions.append(None)
                else:
                    positions.append((metadata.partition, metadata.offset))
    finally:
        await producer.stop()
    return positions


def last_offsets(positions: Sequence[tuple[int, int] | None]) -> dict[int, int]:
    last: dict[int, int] = {}
    for position in positions:
        if position is not None:
            partition, offset = position
            last[partition] = max(offset, last.get(partition, -1))
    return last


def nhs_check_digit(nine: str) -> int | None:
    """The mod-11 check digit of nine digits, or ``None`` when no valid number has them."""
    check = 11 - sum(int(d) * w for d, w in zip(nine, _WEIGHTS, strict=True)) % 11
    return {11: 0, 10: None}.get(check, check)


def nhs_numbers(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct valid NHS numbers (10 digits, no spaces)."""
    found: set[str] = set()
    while len(found) < count:
        nine = f"{rng.randrange(10**9):09d}"
        check = nhs_check_digit(nine)
        if check is not None:
            found.add(f"{nine}{check}")
    return sorted(found)


def spaced(number: str) -> str:
    """The 3-3-4 form an NHS number is often written in."""
    return f"{number[:3]} {number[3:6]} {number[6:]}"


def nhs_shaped(text: str) -> list[str]:
    """Every NHS-number-shaped string in ``text``: ten digits (spaces allowed between them)
    not touching another digit, whose last digit is the mod-11 check of the first nine."""
    shaped = []
    for match in _TEN_DIGITS.finditer(text):
        digits = match.group(0).replace(" ", "")
        if nhs_check_digit(digits[:9]) == int(digits[9]):
            shaped.append(match.group(0))
    return shaped


def read_log(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")
