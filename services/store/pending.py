"""Pending referrals: the hand-over from the hot path (facts) to derivation (aggregates).

Ingestion appends a mark for every referral a batch gave new facts; derivation claims the
oldest marks, with every other mark of the same referrals, and deletes them in the
transaction that folds those referrals (issue 7: each referral is folded once per pass,
however many of its events arrived meanwhile).

Why no event is ever left underived: a pass deletes only the marks its claim saw committed,
and it reads the referral's events after that claim, so it sees every fact those marks
stand for. A mark committed after the claim survives the pass and earns the referral
another one. Marks are never updated, so the hot path never waits for a pass. Two passes
may claim different marks of one referral; ``facts.lock_referrals`` serialises them, and
the second folds what the first committed.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.store.facts import ReferralKey


async def mark(connection: asyncpg.Connection, keys: Sequence[ReferralKey]) -> None:
    """Append a pending mark for each of ``keys`` in this transaction."""
    if not keys:
        return
    await connection.execute(
        "INSERT INTO pending_referrals (provider_code, referral_id) "
        "SELECT * FROM unnest($1::text[], $2::text[])",
        [provider for provider, _ in keys],
        [referral for _, referral in keys],
    )


async def claim(connection: asyncpg.Connection, limit: int) -> list[ReferralKey]:
    """Take the referrals of up to ``limit`` of the oldest marks, with all their marks no
    other pass holds; the marks are gone when this transaction commits."""
    rows = await connection.fetch(
        """
        WITH chosen AS (
            SELECT DISTINCT provider_code, referral_id FROM (
                SELECT provider_code, referral_id FROM pending_referrals
                ORDER BY marked LIMIT $1
            ) AS oldest
        ), claimed AS (
            SELECT p.marked FROM pending_referrals p JOIN chosen USING (provider_code, referral_id)
            FOR UPDATE OF p SKIP LOCKED
        )
        DELETE FROM pending_referrals p USING claimed WHERE p.marked = claimed.marked
        RETURNING p.provider_code, p.referral_id
        """,
        limit,
    )
    return sorted({(row["provider_code"], row["referral_id"]) for row in rows})


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
