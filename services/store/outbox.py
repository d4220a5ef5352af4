"""Transactional outbox: output records are committed with the facts that caused them and
published afterwards, so the topics can never say what PostgreSQL did not commit.

Aggregates take a shorter road: a pass queues only the keys it moved (``aggregate_changes``)
and the drain publishes each key's committed row as it finds it, so a key moved by several
passes between two drains is published once, with its newest figures
(``0007_aggregate_changes.sql``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple

import asyncpg

from scoring.figures import AggregateKey

_DRAIN_LOCK: Final = 0x524F4D4F  # "ROMO"
_AGGREGATE_DRAIN_LOCK: Final = 0x524F4D41  # "ROMA"

OutboxRecord = tuple[str, bytes, bytes | None]
"""``(topic, key, value)``; a ``None`` value is a tombstone for a compacted topic."""

Enqueue = Callable[[str, bytes, bytes | None], Awaitable[Awaitable[object]]]
"""Hands one record to the producer; the awaitable it returns completes on the broker's ack."""

StoredAggregate = Mapping[str, Any]
"""An aggregate row as the drain reads it: ``counters``, ``events``, ``computed_at``,
``scoring_version``."""

AggregateOutput = Callable[[AggregateKey, StoredAggregate | None], OutboxRecord]
"""The record publishing one aggregate key's row (``None``: the key has no row any more)."""


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
    after its newer one. Records are deleted only after the broker acknowledged them; a drain
    that dies in between leaves them to the next, which re-sends them in id order before
    anything newer (at-least-once, last value right).
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
        if rows:  # sent: the topic holds them now, and the table stays the size of the backlog
            await connection.execute(
                "DELETE FROM outbox WHERE id = ANY($1::bigint[])", [row["id"] for row in rows]
            )
    return len(rows)


async def queue_aggregates(connection: asyncpg.Connection, keys: Sequence[AggregateKey]) -> None:
    """Queue ``keys`` for publishing from the table, in this transaction (binary COPY)."""
    if keys:
        await connection.copy_records_to_table(
            "aggregate_changes", records=keys, columns=AggregateKey._fields
        )


_TAKE_CHANGED_AGGREGATES: Final = """
    WITH taken AS (
        DELETE FROM aggregate_changes
        RETURNING method, level, code, period, cohort, cohort_value
    ), keys AS (
        SELECT method, level, code, period, cohort, cohort_value, count(*) AS entries
        FROM taken GROUP BY 1, 2, 3, 4, 5, 6
    )
    SELECT k.method, k.level, k.code, k.period, k.cohort, k.cohort_value, k.entries,
           a.counters, a.events, a.computed_at, a.scoring_version
    FROM keys k
    LEFT JOIN aggregates a USING (method, level, code, period, cohort, cohort_value)
"""
_ROWS_PER_FETCH: Final = 500
"""Rows read at a time: a drain after a long pass may publish tens of thousands of keys."""


class Drained(NamedTuple):
    entries: int
    """Queue entries taken (0: nothing was queued)."""
    records: int
    """Records sent: one per distinct key of those entries."""


async def publish_aggregates(
    pool: asyncpg.Pool, enqueue: Enqueue, output: AggregateOutput
) -> Drained:
    """Publish the row of every queued key, once per key however many passes queued it.

    Each key's value is its row as committed when the drain reads it, so a drain can only
    send a key's newest figures or figures newer still; drains take turns (one advisory lock
    across workers), so a later drain never sends older figures than an earlier one. The
    queue entries are deleted in the drain's transaction, which commits only after the broker
    acknowledged every record: a drain that dies leaves them to the next (at-least-once).
    Entries queued while the drain runs are left to the next one.
    """
    entries = records = 0
    acks: list[Awaitable[object]] = []
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _AGGREGATE_DRAIN_LOCK)
        async for row in connection.cursor(_TAKE_CHANGED_AGGREGATES, prefetch=_ROWS_PER_FETCH):
            key = AggregateKey(*(row[column] for column in AggregateKey._fields))
            acks.append(await enqueue(*output(key, None if row["counters"] is None else row)))
            entries += row["entries"]
            if len(acks) == _ROWS_PER_FETCH:  # bounded in flight: ~7 KB a record
                await asyncio.gather(*acks)
                records += len(acks)
                acks.clear()
        await asyncio.gather(*acks)
    return Drained(entries, records + len(acks))


async def unpublished(connection: asyncpg.Connection) -> int:
    """Records and aggregate keys committed but not yet published (0: the topics are current)."""
    count: int = await connection.fetchval(
        "SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL)"
        " + (SELECT count(*) FROM aggregate_changes)"
    )
    return count


def _bytes(value: bytes | None) -> bytes | None:
    return None if value is None else bytes(value)
