"""Pending referrals: the hand-over from the hot path (facts) to derivation (aggregates).

Ingestion marks every referral a batch gave new facts; derivation claims the oldest marks
and deletes them in the transaction that folds those referrals (issue 7: each referral is
folded once per pass, however many of its events arrived meanwhile).

Why no event is ever left underived: :func:`mark` re-marks with ``DO UPDATE``, which locks
the mark row. If derivation has claimed (deleted, not yet committed) the row, the marking
transaction waits for it to commit and then inserts a fresh mark, so the newer events get
their own pass. If marking locked the row first, derivation skips it (``SKIP LOCKED``) until
the facts are committed. A mark's first value is kept, so a busy referral is not starved.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.store.facts import ReferralKey


async def mark(connection: asyncpg.Connection, keys: Sequence[ReferralKey]) -> None:
    """Mark ``keys`` pending in this transaction (locks taken in key order: no deadlock)."""
    if not keys:
        return
    await connection.execute(
        """
        INSERT INTO pending_referrals (provider_code, referral_id)
        SELECT p, r FROM unnest($1::text[], $2::text[]) AS k(p, r) ORDER BY p, r
        ON CONFLICT (provider_code, referral_id)
        DO UPDATE SET marked = pending_referrals.marked
        """,
        [provider for provider, _ in keys],
        [referral for _, referral in keys],
    )


async def claim(connection: asyncpg.Connection, limit: int) -> list[ReferralKey]:
    """Take up to ``limit`` of the oldest marks no one else holds; gone when this commits."""
    rows = await connection.fetch(
        """
        DELETE FROM pending_referrals p
        USING (
            SELECT provider_code, referral_id FROM pending_referrals
            ORDER BY marked LIMIT $1 FOR UPDATE SKIP LOCKED
        ) AS c
        WHERE p.provider_code = c.provider_code AND p.referral_id = c.referral_id
        RETURNING p.provider_code, p.referral_id
        """,
        limit,
    )
    return sorted((row["provider_code"], row["referral_id"]) for row in rows)


async def watermark(connection: asyncpg.Connection) -> int:
    """The latest mark handed out so far (0 before the first)."""
    value: int = await connection.fetchval(
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM pending_referrals_marked"
    )
    return value


async def oldest(connection: asyncpg.Connection) -> int | None:
    """The oldest mark still pending (claimed marks count until their pass commits)."""
    value: int | None = await connection.fetchval("SELECT min(marked) FROM pending_referrals")
    return value
