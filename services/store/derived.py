"""Derived rows: scored assessments, referral outcomes, aggregate counters and figures.

Aggregates move only by the difference between a referral's old and new contribution
(ARCHITECTURE.md invariant 1): counters are updated with ``value + delta`` under row locks
taken in key order, and the published figures of every touched key are re-derived from the
counters inside the same transaction, so a concurrent worker can never publish a stale row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from scoring.figures import AggregateKey, derive
from services.store.facts import ReferralKey

Counters = Mapping[AggregateKey, Mapping[str, float]]


async def stored_outcomes(
    connection: asyncpg.Connection, keys: Sequence[ReferralKey]
) -> dict[tuple[str, str, str], Mapping[str, Any]]:
    """The last computed outcome record per (provider, referral, method)."""
    rows = await connection.fetch(
        """
        SELECT o.provider_code, o.referral_id, o.method, o.record
        FROM referral_outcomes o
        JOIN unnest($1::text[], $2::text[]) AS k(p, r)
          ON o.provider_code = k.p AND o.referral_id = k.r
        """,
        [provider for provider, _ in keys],
        [referral for _, referral in keys],
    )
    return {
        (row["provider_code"], row["referral_id"], row["method"]): row["record"] for row in rows
    }


async def save_outcomes(connection: asyncpg.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Upsert referral outcome rows (keys of the ``referral_outcomes`` table)."""
    if not rows:
        return
    await connection.execute(
        """
        INSERT INTO referral_outcomes (provider_code, referral_id, method, in_cohort, closed_on,
                                       ccg_code, events, record, scoring_version, updated_at)
        SELECT *, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[],
                                    $5::date[], $6::text[], $7::int[], $8::jsonb[], $9::text[])
        ON CONFLICT (provider_code, referral_id, method) DO UPDATE SET
            in_cohort = EXCLUDED.in_cohort, closed_on = EXCLUDED.closed_on,
            ccg_code = EXCLUDED.ccg_code, events = EXCLUDED.events, record = EXCLUDED.record,
            scoring_version = EXCLUDED.scoring_version, updated_at = now()
        """,
        *(
            [row[column] for row in rows]
            for column in (
                "provider_code",
                "referral_id",
                "method",
                "in_cohort",
                "closed_on",
                "ccg_code",
                "events",
                "record",
                "scoring_version",
            )
        ),
    )


async def save_scored(connection: asyncpg.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        return
    await connection.execute(
        """
        INSERT INTO scored_assessments (provider_code, referral_id, assessment_id, measure,
                                        informant, completed_on, emitted_at, record,
                                        scoring_version)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                             $6::date[], $7::timestamptz[], $8::jsonb[], $9::text[])
        ON CONFLICT (provider_code, referral_id, assessment_id, measure, informant)
        DO UPDATE SET completed_on = EXCLUDED.completed_on, emitted_at = EXCLUDED.emitted_at,
            record = EXCLUDED.record, scoring_version = EXCLUDED.scoring_version
        """,
        *(
            [row[column] for row in rows]
            for column in (
                "provider_code",
                "referral_id",
                "assessment_id",
                "measure",
                "informant",
                "completed_on",
                "emitted_at",
                "record",
                "scoring_version",
            )
        ),
    )


async def delete_scored(
    connection: asyncpg.Connection, keys: Sequence[ReferralKey], keep: set[tuple[str, ...]]
) -> None:
    """Drop scored rows of ``keys`` that are no longer current (withdrawn assessments)."""
    rows = await connection.fetch(
        """
        SELECT s.provider_code, s.referral_id, s.assessment_id, s.measure, s.informant
        FROM scored_assessments s
        JOIN unnest($1::text[], $2::text[]) AS k(p, r)
          ON s.provider_code = k.p AND s.referral_id = k.r
        """,
        [provider for provider, _ in keys],
        [referral for _, referral in keys],
    )
    stale = [tuple(row.values()) for row in rows if tuple(row.values()) not in keep]
    if stale:
        await connection.executemany(
            "DELETE FROM scored_assessments WHERE provider_code = $1 AND referral_id = $2 "
            "AND assessment_id = $3 AND measure = $4 AND informant = $5",
            stale,
        )


async def apply_deltas(connection: asyncpg.Connection, deltas: Counters) -> None:
    """Add each counter delta; rows are touched in key order so workers cannot deadlock."""
    flat = sorted(
        (*key, counter, value)
        for key, counters in deltas.items()
        for counter, value in counters.items()
        if value != 0
    )
    if not flat:
        return
    columns = list(zip(*flat, strict=True))
    await connection.execute(
        """
        INSERT INTO aggregate_counters (method, level, code, period, cohort, cohort_value,
                                        counter, value)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                             $6::text[], $7::text[], $8::float8[])
        ORDER BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (method, level, code, period, cohort, cohort_value, counter)
        DO UPDATE SET value = aggregate_counters.value + EXCLUDED.value
        """,
        *[list(column) for column in columns],
    )


def period_kind(period: str) -> str:
    """``2019-04`` month, ``2019/20 Q1`` quarter, ``2019/20`` financial year."""
    if " Q" in period:
        return "quarter"
    return "year" if "/" in period else "month"


async def refresh_aggregates(
    connection: asyncpg.Connection, keys: Sequence[AggregateKey], scoring_version: str
) -> list[tuple[AggregateKey, dict[str, Any] | None]]:
    """Re-derive the figures of ``keys`` from their counters; ``None`` where a key emptied."""
    if not keys:
        return []
    columns = list(zip(*sorted(keys), strict=True))
    rows = await connection.fetch(
        """
        SELECT c.method, c.level, c.code, c.period, c.cohort, c.cohort_value, c.counter, c.value
        FROM aggregate_counters c
        JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
          AS k(method, level, code, period, cohort, cohort_value)
          USING (method, level, code, period, cohort, cohort_value)
        """,
        *[list(column) for column in columns],
    )
    counters: dict[AggregateKey, dict[str, float]] = {key: {} for key in keys}
    for row in rows:
        key = AggregateKey(*(row[name] for name in AggregateKey._fields))
        counters[key][row["counter"]] = row["value"]
    results: list[tuple[AggregateKey, dict[str, Any] | None]] = []
    upserts: list[tuple[Any, ...]] = []
    emptied: list[AggregateKey] = []
    for key in sorted(keys):
        values = counters[key]
        if round(values.get("closed_referrals", 0)) == 0:
            emptied.append(key)
            results.append((key, None))
            continue
        figures = derive(values)
        events = round(values.get("events", 0))
        upserts.append((*key, period_kind(key.period), figures, events, scoring_version))
        results.append((key, {"figures": figures, "events": events}))
    if upserts:
        await connection.executemany(
            """
            INSERT INTO aggregates (method, level, code, period, cohort, cohort_value,
                                    period_kind, figures, events, scoring_version, computed_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())
            ON CONFLICT (method, level, code, period, cohort, cohort_value) DO UPDATE SET
                figures = EXCLUDED.figures, events = EXCLUDED.events,
                scoring_version = EXCLUDED.scoring_version, computed_at = now()
            """,
            upserts,
        )
    if emptied:
        await connection.executemany(
            "DELETE FROM aggregates WHERE method = $1 AND level = $2 AND code = $3 "
            "AND period = $4 AND cohort = $5 AND cohort_value = $6",
            emptied,
        )
    return results
