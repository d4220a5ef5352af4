"""Derived rows: scored assessments, referral outcomes, aggregate counters and figures.

Aggregates move only by the difference between a referral's old and new contribution
(ARCHITECTURE.md invariant 1): counters are updated with ``value + delta`` under row locks
taken in key order, and the headline figures of every touched key are re-derived from the
counters inside the same transaction, so a concurrent worker can never store a stale row.

A row stores its counters (the exact state) and its headline figures (MHS110–115, what the
API, the reports and the alert rules read most), not the ~800 per-measure figures: those
are a function of the counters (:func:`scoring.published.derive`), derived when asked for.
Writing them with every move cost over a third of a derivation pass (issue 8, soak lag).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import orjson

from scoring.figures import AggregateKey
from scoring.published import headline
from scoring.types import ReferralOutcome, ReferralProfile
from services.store.facts import ReferralKey
from topics.records import ScoredAssessment

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


def outcome_row(
    key: ReferralKey,
    method: str,
    profile: ReferralProfile | None,
    outcome: ReferralOutcome,
    record: Mapping[str, Any],
    scoring_version: str,
) -> dict[str, Any]:
    """A ``referral_outcomes`` row: the record plus the columns the API filters on."""
    return {
        "provider_code": key[0],
        "referral_id": key[1],
        "method": method,
        "in_cohort": outcome.in_cohort,
        "closed_on": outcome.closed_on,
        "ccg_code": None if profile is None else profile.ccg_code,
        "events": int(record["events"]),
        "record": record,
        "scoring_version": scoring_version,
    }


def scored_row(scored: ScoredAssessment, record: Mapping[str, Any]) -> dict[str, Any]:
    """A ``scored_assessments`` row for ``scored`` (``record`` is its JSON form)."""
    return {
        "provider_code": scored.provider_code,
        "referral_id": scored.referral_id,
        "assessment_id": scored.assessment_id,
        "measure": scored.measure,
        "informant": scored.informant,
        "completed_on": scored.completed_on,
        "emitted_at": scored.emitted_at,
        "record": record,
        "scoring_version": scored.scoring_version,
    }


_SCORED_IDENTITY = ("provider_code", "referral_id", "assessment_id", "measure", "informant")


async def stored_scored(
    connection: asyncpg.Connection, keys: Sequence[ReferralKey]
) -> dict[tuple[str, ...], Mapping[str, Any]]:
    """The stored scored record of every assessment of ``keys``, by its identity."""
    rows = await connection.fetch(
        """
        SELECT s.provider_code, s.referral_id, s.assessment_id, s.measure, s.informant, s.record
        FROM scored_assessments s
        JOIN unnest($1::text[], $2::text[]) AS k(p, r)
          ON s.provider_code = k.p AND s.referral_id = k.r
        """,
        [provider for provider, _ in keys],
        [referral for _, referral in keys],
    )
    return {tuple(row[column] for column in _SCORED_IDENTITY): row["record"] for row in rows}


async def save_scored(
    connection: asyncpg.Connection, keys: Sequence[ReferralKey], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Make the scored rows of ``keys`` exactly ``rows`` (withdrawn assessments disappear)."""
    await connection.execute(
        """
        DELETE FROM scored_assessments s
        USING unnest($1::text[], $2::text[]) AS k(p, r)
        WHERE s.provider_code = k.p AND s.referral_id = k.r
        """,
        [provider for provider, _ in keys],
        [referral for _, referral in keys],
    )
    if not rows:
        return
    await connection.execute(
        """
        INSERT INTO scored_assessments (provider_code, referral_id, assessment_id, measure,
                                        informant, completed_on, emitted_at, record,
                                        scoring_version)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                             $6::date[], $7::timestamptz[], $8::jsonb[], $9::text[])
        """,
        *(
            [row[column] for row in rows]
            for column in (
                *_SCORED_IDENTITY,
                "completed_on",
                "emitted_at",
                "record",
                "scoring_version",
            )
        ),
    )


def period_kind(period: str) -> str:
    """``2019-04`` month, ``2019/20 Q1`` quarter, ``2019/20`` financial year."""
    if " Q" in period:
        return "quarter"
    return "year" if "/" in period else "month"


async def move_aggregates(
    connection: asyncpg.Connection, deltas: Counters, scoring_version: str
) -> None:
    """Add each key's counter deltas and store its headline figures; delete emptied keys.

    Existing rows are locked (``FOR UPDATE``, in key order) before they are read, so the
    counters move from their committed values and the figures are derived from the counters
    as this transaction leaves them. A new key is written once, with its final values; if
    another worker created it meanwhile, the insert yields, and the key is locked, read and
    moved like the others. Each row is written once. Two workers creating the same keys at
    once may deadlock; PostgreSQL aborts one and its worker retries the pass.
    """
    if not deltas:
        return
    keys = sorted(deltas)
    current = await _lock(connection, keys)
    fresh, _ = _moved({key: deltas[key] for key in keys if key not in current}, {})
    created = await _insert_new(connection, fresh, scoring_version)
    raced = [key for key, *_ in fresh if key not in created]
    current.update(await _lock(connection, raced))
    updates, emptied = _moved({key: deltas[key] for key in current}, current)
    await _write(connection, updates, scoring_version)
    if emptied:
        await connection.execute(
            """
            DELETE FROM aggregates a
            USING unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                AS u(method, level, code, period, cohort, cohort_value)
            WHERE a.method = u.method AND a.level = u.level AND a.code = u.code
              AND a.period = u.period AND a.cohort = u.cohort AND a.cohort_value = u.cohort_value
            """,
            *_columns(emptied),
        )


_Update = tuple[AggregateKey, dict[str, float], dict[str, Any], int]
"""A row to write: key, counters, headline figures, events."""


def _moved(
    deltas: Mapping[AggregateKey, Mapping[str, float]],
    current: Mapping[AggregateKey, Mapping[str, float]],
) -> tuple[list[_Update], list[AggregateKey]]:
    """The rows ``deltas`` leave (sorted by key), and the keys they empty."""
    updates: list[_Update] = []
    emptied: list[AggregateKey] = []
    for key in sorted(deltas):
        counters = add_counters(current.get(key, {}), deltas[key])
        if round(counters.get("closed_referrals", 0)) == 0:
            emptied.append(key)
            continue
        updates.append((key, counters, headline(counters), round(counters.get("events", 0))))
    return updates, emptied


def _columns(keys: Sequence[AggregateKey]) -> list[list[str]]:
    return [[getattr(key, column) for key in keys] for column in AggregateKey._fields]


async def _lock(
    connection: asyncpg.Connection, keys: Sequence[AggregateKey]
) -> dict[AggregateKey, Mapping[str, float]]:
    """Lock the existing rows of ``keys`` in key order; their counters."""
    if not keys:
        return {}
    rows = await connection.fetch(
        """
        SELECT a.method, a.level, a.code, a.period, a.cohort, a.cohort_value, a.counters
        FROM aggregates a
        JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
            AS u(method, level, code, period, cohort, cohort_value)
          USING (method, level, code, period, cohort, cohort_value)
        ORDER BY 1, 2, 3, 4, 5, 6
        FOR UPDATE OF a
        """,
        *_columns(keys),
    )
    return {AggregateKey(*(row[c] for c in AggregateKey._fields)): row["counters"] for row in rows}


_AGGREGATE_ROWS = """
    SELECT method, level, code, period, cohort, cohort_value, counters::json, figures::json,
           events, period_kind, $11, now()
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::text[], $8::text[], $9::bigint[], $10::text[])
        AS u(method, level, code, period, cohort, cohort_value, counters, figures, events,
             period_kind)
    ORDER BY 1, 2, 3, 4, 5, 6
"""
_AGGREGATE_COLUMNS = """aggregates (method, level, code, period, cohort, cohort_value, counters,
    figures, events, period_kind, scoring_version, computed_at)"""


def _row_arguments(updates: Sequence[_Update], scoring_version: str) -> list[Any]:
    return [
        *_columns([key for key, *_ in updates]),
        # Encoded here as text: asyncpg's per-element json codec costs as much again.
        [orjson.dumps(counters).decode() for _, counters, _, _ in updates],
        [orjson.dumps(figures).decode() for _, _, figures, _ in updates],
        [events for *_, events in updates],
        [period_kind(key.period) for key, *_ in updates],
        scoring_version,
    ]


async def _insert_new(
    connection: asyncpg.Connection, updates: Sequence[_Update], scoring_version: str
) -> set[AggregateKey]:
    """Insert rows for keys that did not exist; the keys actually created."""
    if not updates:
        return set()
    rows = await connection.fetch(
        f"INSERT INTO {_AGGREGATE_COLUMNS} {_AGGREGATE_ROWS} ON CONFLICT DO NOTHING "
        "RETURNING method, level, code, period, cohort, cohort_value",
        *_row_arguments(updates, scoring_version),
    )
    return {AggregateKey(*(row[c] for c in AggregateKey._fields)) for row in rows}


async def _write(
    connection: asyncpg.Connection, updates: Sequence[_Update], scoring_version: str
) -> None:
    """Overwrite locked rows with their moved counters and figures."""
    if not updates:
        return
    await connection.execute(
        f"INSERT INTO {_AGGREGATE_COLUMNS} {_AGGREGATE_ROWS} "
        """ON CONFLICT (method, level, code, period, cohort, cohort_value) DO UPDATE SET
            counters = EXCLUDED.counters, figures = EXCLUDED.figures,
            events = EXCLUDED.events, scoring_version = EXCLUDED.scoring_version,
            computed_at = EXCLUDED.computed_at""",
        *_row_arguments(updates, scoring_version),
    )


def add_counters(current: Mapping[str, float], delta: Mapping[str, float]) -> dict[str, float]:
    """``current + delta``, dropping what nets to (float) zero so emptied keys leave no residue."""
    total = dict(current)
    for name, value in delta.items():
        total[name] = total.get(name, 0.0) + value
    return {name: value for name, value in total.items() if abs(value) > 1e-9}
