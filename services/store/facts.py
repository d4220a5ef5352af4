"""Facts: unique valid events by ``event_id``, and dead letters by where they came from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

ReferralKey = tuple[str, str]
"""``(provider_code, referral_id)``: the referral key everywhere inside the service."""


async def insert_events(
    connection: asyncpg.Connection, events: Sequence[tuple[Mapping[str, Any], str]]
) -> list[ReferralKey]:
    """Insert ``(event body, source)`` pairs; returns the referrals of the *new* events only.

    A duplicate ``event_id`` (already stored, or twice in this batch) is ignored whatever its
    content (events.md: the idempotency key), so a redelivered batch changes nothing.
    """
    if not events:
        return []
    rows = await connection.fetch(
        """
        INSERT INTO events (event_id, provider_code, referral_id, event_type, emitted_at,
                            body, source)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[],
                             $5::timestamptz[], $6::jsonb[], $7::text[])
        ON CONFLICT (event_id) DO NOTHING
        RETURNING provider_code, referral_id
        """,
        [body["event_id"] for body, _ in events],
        [body["provider_code"] for body, _ in events],
        [body["referral_id"] for body, _ in events],
        [body["event_type"] for body, _ in events],
        [datetime.fromisoformat(body["emitted_at"]) for body, _ in events],
        [body for body, _ in events],
        [source for _, source in events],
    )
    return sorted({(row["provider_code"], row["referral_id"]) for row in rows})


async def insert_dead_letters(
    connection: asyncpg.Connection, letters: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """Record dead letters once per (source, error_code); returns those new to the store."""
    letters = list(letters)
    if not letters:
        return []
    rows = await connection.fetch(
        """
        INSERT INTO dead_letters (source, error_code, record)
        SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])
        ON CONFLICT DO NOTHING
        RETURNING record
        """,
        [letter["source"] for letter in letters],
        [letter["error_code"] for letter in letters],
        letters,
    )
    return [row["record"] for row in rows]


async def lock_referrals(connection: asyncpg.Connection, keys: Sequence[ReferralKey]) -> None:
    """Serialise work on the same referral across workers (rebalances re-deliver batches).

    Locks are taken in sorted order so that two transactions cannot deadlock on them.
    """
    await connection.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(p || '/' || r, 0)) "
        "FROM unnest($1::text[], $2::text[]) AS k(p, r) ORDER BY p, r",
        [provider for provider, _ in keys],
        [referral for _, referral in keys],
    )


async def events_of(
    connection: asyncpg.Connection, keys: Sequence[ReferralKey]
) -> dict[ReferralKey, list[Mapping[str, Any]]]:
    """Every stored event of each referral in ``keys``."""
    grouped: dict[ReferralKey, list[Mapping[str, Any]]] = {key: [] for key in keys}
    rows = await connection.fetch(
        """
        SELECT e.provider_code, e.referral_id, e.body
        FROM events e
        JOIN unnest($1::text[], $2::text[]) AS k(p, r)
          ON e.provider_code = k.p AND e.referral_id = k.r
        """,
        [provider for provider, _ in keys],
        [referral for _, referral in keys],
    )
    for row in rows:
        grouped[(row["provider_code"], row["referral_id"])].append(row["body"])
    return grouped


async def record_progress(
    connection: asyncpg.Connection, offsets: Mapping[tuple[str, int], int]
) -> None:
    """Remember the highest committed offset per partition (kept monotonic with GREATEST)."""
    if not offsets:
        return
    items = sorted(offsets.items())
    await connection.execute(
        """
        INSERT INTO consumer_progress (topic, partition, "offset")
        SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])
        ON CONFLICT (topic, partition)
        DO UPDATE SET "offset" = GREATEST(consumer_progress."offset", EXCLUDED."offset")
        """,
        [topic for (topic, _), _ in items],
        [partition for (_, partition), _ in items],
        [offset for _, offset in items],
    )


async def progress(connection: asyncpg.Connection, topic: str) -> dict[int, int]:
    rows = await connection.fetch(
        'SELECT partition, "offset" FROM consumer_progress WHERE topic = $1', topic
    )
    return {row["partition"]: row["offset"] for row in rows}
