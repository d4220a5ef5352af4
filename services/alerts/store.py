"""The ``alerts`` table (migration 0003): one row per stable alert key (outcomes.md §6)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from services.alerts.rules import State

Figures = dict[str, float | None]


class AlertKey(NamedTuple):
    """§6's stable key; ``referral_id`` is empty except on referral-level notices."""

    rule: str
    level: str
    code: str
    cohort: str
    cohort_value: str
    measure: str
    perspective: str
    period: str
    referral_id: str = ""

    def text(self) -> str:
        return "/".join(self)


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as stored: its key, state, the figures that raised it and its limits."""

    key: AlertKey
    provider_code: str
    state: State
    figures: Figures
    limits: Figures
    sequence: int
    """How many times the state has been set: each transition is delivered once."""
    raised_at: datetime
    resolved_at: datetime | None = None

    @property
    def idempotency_key(self) -> str:
        """Same for every delivery of one transition, different for each transition."""
        return f"{self.key.text()}/{self.state}/{self.sequence}"

    def moved_to(self, state: State, at: datetime) -> Alert:
        """This alert after a transition to ``state`` at ``at``."""
        if state == "open":
            return replace(
                self, state=state, sequence=self.sequence + 1, raised_at=at, resolved_at=None
            )
        return replace(self, state=state, sequence=self.sequence + 1, resolved_at=at)

    def payload(self) -> dict[str, Any]:
        """The alert as JSON for webhooks and views."""
        return {
            **self.key._asdict(),
            "provider_code": self.provider_code,
            "state": self.state,
            "figures": self.figures,
            "limits": self.limits,
            "raised_at": self.raised_at.isoformat(),
            "resolved_at": None if self.resolved_at is None else self.resolved_at.isoformat(),
        }


_KEY_COLUMNS = AlertKey._fields
_SELECT = (
    "SELECT rule, level, code, cohort, cohort_value, measure, perspective, period, referral_id,\n"
    "       provider_code, state, figures, limits, sequence, raised_at, resolved_at\n"
    "FROM alerts"
)


def _alert(row: Mapping[str, Any]) -> Alert:
    return Alert(
        AlertKey(*(row[column] for column in _KEY_COLUMNS)),
        row["provider_code"],
        row["state"],
        row["figures"],
        row["limits"],
        row["sequence"],
        row["raised_at"],
        row["resolved_at"],
    )


async def funnel_alerts(
    connection: asyncpg.Connection, rules: Sequence[str], periods: Iterable[str]
) -> dict[AlertKey, Alert]:
    """Stored unit-level alerts of ``rules`` in ``periods``, by key."""
    rows = await connection.fetch(
        _SELECT + " WHERE referral_id = '' AND rule = ANY($1::text[]) AND period = ANY($2::text[])",
        list(rules),
        sorted(set(periods)),
    )
    return {alert.key: alert for alert in map(_alert, rows)}


async def referral_alerts(
    connection: asyncpg.Connection, referrals: Sequence[tuple[str, str]]
) -> dict[AlertKey, Alert]:
    """Stored notices of the ``(provider_code, referral_id)`` referrals, by key."""
    rows = await connection.fetch(
        _SELECT
        + """ JOIN unnest($1::text[], $2::text[]) AS k(p, r)
            ON provider_code = k.p AND referral_id = k.r""",
        [provider for provider, _ in referrals],
        [referral for _, referral in referrals],
    )
    return {alert.key: alert for alert in map(_alert, rows)}


async def save(connection: asyncpg.Connection, alerts: Sequence[Alert]) -> None:
    """Insert or overwrite each alert's row."""
    if not alerts:
        return
    await connection.executemany(
        """
        INSERT INTO alerts (rule, level, code, cohort, cohort_value, measure, perspective,
                            period, referral_id, provider_code, state, figures, limits,
                            sequence, raised_at, resolved_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, now())
        ON CONFLICT (rule, level, code, cohort, cohort_value, measure, perspective, period,
                     referral_id) DO UPDATE SET
            provider_code = EXCLUDED.provider_code, state = EXCLUDED.state,
            figures = EXCLUDED.figures, limits = EXCLUDED.limits,
            sequence = EXCLUDED.sequence, raised_at = EXCLUDED.raised_at,
            resolved_at = EXCLUDED.resolved_at, updated_at = now()
        """,
        [
            (
                *alert.key,
                alert.provider_code,
                alert.state,
                alert.figures,
                alert.limits,
                alert.sequence,
                alert.raised_at,
                alert.resolved_at,
            )
            for alert in alerts
        ],
    )


async def list_alerts(
    connection: asyncpg.Connection,
    *,
    state: State | None = None,
    org: str | None = None,
    period: str | None = None,
) -> list[Alert]:
    """Alerts filtered by state, organisation (the provider whose data raised them, or a CCG
    it serves in that period) and period; newest first."""
    rows = await connection.fetch(
        """
        SELECT rule, level, code, cohort, cohort_value, measure, perspective, period,
               referral_id, provider_code, state, figures, limits, sequence, raised_at,
               resolved_at
        FROM alerts
        WHERE ($1::text IS NULL OR state = $1)
          AND ($3::text IS NULL OR period = $3)
          AND ($2::text IS NULL OR provider_code = $2 OR (referral_id = '' AND EXISTS (
                SELECT 1 FROM aggregates a
                WHERE a.level = 'ccg_provider' AND a.period = alerts.period
                  AND a.code = $2 || '/' || alerts.provider_code)))
        ORDER BY raised_at DESC, rule, level, code, cohort, cohort_value, perspective, period
        """,
        state,
        org,
        period,
    )
    return [_alert(row) for row in rows]


async def open_alerts(connection: asyncpg.Connection) -> list[Alert]:
    """Every open alert and notice (for ``outcomes demo``)."""
    return await list_alerts(connection, state="open")
