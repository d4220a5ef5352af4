"""Transactional outbox: output records are committed with the facts that caused them and
published afterwards, so the topics can never say what PostgreSQL did not commit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import asyncpg

_DRAIN_LOCK: Final = 0x524F4D4F  # "ROMO"

OutboxRecord = tuple[str, bytes, bytes | None]
"""``(topic, key, value)``; a ``None`` value is a tombstone for a compacted topic."""

Enqueue = Callable[[str, bytes, bytes | None], Awaitable[Awaitable[object]]]
"""Hands one record to the producer; the awaitable it returns completes on the broker's ack."""


async def add(connection: asyncpg.Connection, records: Sequence[OutboxRecord]) -> None:
    """Queue ``records`` in this transaction (binary COPY: a batch queues thousands)."""
    if not records:
        return
    await connection.copy_records_to_table(
        "outbox", records=records, columns=("topic", "key", "value")
    )


async def publish_pending(pool: asyncpg.Pool, enqueue: Enqueue, *, limit: int = 2000) -> int:
    """Publish unpublished records in id order; returns how many were sent.

    A key's records get ids in commit order (the transactions that write them hold the
    key's row or referral lock until they commit), and the aggregate and outcome topics are
    latest-value: the last record of a key must be its newest. So drains take turns (one
    advisory lock across workers): two drains side by side could send a key's older record
    after its newer one. Records are marked published only after the broker acknowledged
    them; a drain that dies in between leaves them to the next, which re-sends them in id
    order before anything newer (at-least-once, last value right).
    """
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _DRAIN_LOCK)
        rows = await connection.fetch(
            "SELECT id, topic, key, value FROM outbox WHERE published_at IS NULL "
            "ORDER BY id LIMIT $1",
            limit,
        )
        # Enqueue one at a time (the producer batches them), then wait for every ack.
        acks = [
            await enqueue(row["topic"], bytes(row["key"]), _bytes(row["value"])) for row in rows
        ]
        await asyncio.gather(*acks)
        if rows:
            await connection.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
    return len(rows)


def _bytes(value: bytes | None) -> bytes | None:
    return None if value is None else bytes(value)
