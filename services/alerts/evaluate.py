"""Evaluate §6's rules inside the batch transaction that moved the figures.

After a batch has re-derived its aggregates, every funnel plot one of its keys belongs to is
evaluated again for that period and for the next one (whose warning looks back at it), and
every touched referral's notices are recomputed. Only transitions (raised, resolved,
re-raised) produce output — a ``roms.alerts.v1`` record in the outbox and a delivery per
matching webhook — so they commit with the figures, and the same data raise nothing new.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
import orjson

from scoring.figures import CCG_PROVIDER_SEPARATOR, AggregateKey
from scoring.suppression import suppress_figures
from scoring.types import PERSPECTIVES
from services.alerts import store
from services.alerts.rules import (
    ALL,
    ALLIANCE_MEASURES,
    DEFAULT_POLICY,
    FUNNEL_MEASURE,
    FUNNEL_RULES,
    METHOD,
    REFERRAL_LEVEL,
    SESSION_OUTCOME_MEASURES,
    AlertPolicy,
    Comparison,
    State,
    Unit,
    UnitSignal,
    comparison_of,
    desired_state,
    funnel_signals,
    next_period,
    previous_period,
    referral_notices,
    unit_of,
)
from services.alerts.store import Alert, AlertKey
from services.store.outbox import OutboxRecord
from topics.records import SCORING_VERSION, AlertRecord
from topics.registry import ALERTS

_PERIOD_LOCK_CLASS: Final = 0x414C5254  # "ALRT"
"""Workers evaluate one period at a time (locks taken in order, held to commit), so each
reads the figures the others committed instead of overwriting a state from a stale view."""
_NO_UNITS: Mapping[Unit, Mapping[str, Any]] = {}


async def evaluate(
    connection: asyncpg.Connection,
    touched_keys: Iterable[AggregateKey],
    touched_referrals: Sequence[tuple[str, str]],
    *,
    namespace: str = "",
    policy: AlertPolicy = DEFAULT_POLICY,
) -> list[OutboxRecord]:
    """Apply the rules to what a batch changed; returns the outbox records of transitions."""
    now = datetime.now(UTC)
    changed = await _funnel_changes(connection, touched_keys, policy, now)
    changed += await _notice_changes(connection, touched_referrals, now)
    if not changed:
        return []
    await store.save(connection, [alert for alert, _ in changed])
    transitions = [alert for alert, moved in changed if moved]
    await _queue_deliveries(connection, transitions)
    return [_outbox_record(alert, namespace) for alert in transitions]


async def _funnel_changes(
    connection: asyncpg.Connection,
    touched_keys: Iterable[AggregateKey],
    policy: AlertPolicy,
    now: datetime,
) -> list[tuple[Alert, bool]]:
    touched = {c for key in touched_keys if (c := comparison_of(key)) is not None}
    if not touched:
        return []
    evaluated = touched | {c._replace(period=next_period(c.period)) for c in touched}
    periods = {c.period for c in evaluated}
    for period in sorted(periods):
        await connection.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", _PERIOD_LOCK_CLASS, period
        )
    units = await _units(connection, periods | {previous_period(p) for p in periods})
    stored = await store.funnel_alerts(connection, FUNNEL_RULES, periods)
    stored_units: dict[tuple[Comparison, str], set[Unit]] = defaultdict(set)
    for key in stored:
        comparison = comparison_of(
            AggregateKey(METHOD, key.level, key.code, key.period, key.cohort, key.cohort_value)
        )
        if comparison is not None:
            stored_units[(comparison, key.perspective)].add(Unit(key.code, key.cohort_value))
    changes: list[tuple[Alert, bool]] = []
    for comparison in sorted(evaluated):
        current = units.get(comparison, _NO_UNITS)
        before = units.get(comparison._replace(period=previous_period(comparison.period)))
        for perspective in PERSPECTIVES:
            signals = funnel_signals(current, perspective, policy)
            candidates = set(signals) | stored_units.get((comparison, perspective), set())
            if not candidates:
                continue
            previous = _lazy_signals(before, perspective, policy, signals)
            for unit in sorted(candidates):
                for rule in FUNNEL_RULES:
                    key = AlertKey(
                        rule,
                        comparison.level,
                        unit.code,
                        comparison.cohort,
                        unit.cohort_value,
                        FUNNEL_MEASURE,
                        perspective,
                        comparison.period,
                    )
                    change = _funnel_change(
                        key,
                        comparison.provider_of(unit.code),
                        signals.get(unit),
                        previous.get(unit),
                        stored.get(key),
                        now,
                    )
                    if change is not None:
                        changes.append(change)
    return changes


def _lazy_signals(
    before: Mapping[Unit, Mapping[str, Any]] | None,
    perspective: str,
    policy: AlertPolicy,
    current: Mapping[Unit, UnitSignal],
) -> Mapping[Unit, UnitSignal]:
    """The previous period's signals, computed only when some unit now sits in warning."""
    if before is None or not any(s.signal == "warning" for s in current.values()):
        return {}
    return funnel_signals(before, perspective, policy)


def _funnel_change(
    key: AlertKey,
    provider: str,
    signal: UnitSignal | None,
    previous: UnitSignal | None,
    stored: Alert | None,
    now: datetime,
) -> tuple[Alert, bool] | None:
    """The alert to save and whether its state moved, or ``None`` when nothing changes."""
    state = desired_state(
        key.rule,
        None if signal is None else signal.signal,
        None if previous is None else previous.signal,
        None if stored is None else stored.state,
    )
    if state is None:
        return None
    figures: store.Figures = signal.figures() if signal else {f"paired_{key.perspective}": 0}
    limits: store.Figures = signal.limits() if signal else {}
    return _changed(stored, key, provider, state, figures, limits, now)


def _changed(
    stored: Alert | None,
    key: AlertKey,
    provider: str,
    state: State,
    figures: store.Figures,
    limits: store.Figures,
    now: datetime,
) -> tuple[Alert, bool] | None:
    if stored is None:
        return Alert(key, provider, state, figures, limits, 1, now), True
    if stored.state != state:
        return replace(stored.moved_to(state, now), figures=figures, limits=limits), True
    if state == "open" and (stored.figures, stored.limits) != (figures, limits):
        return replace(stored, figures=figures, limits=limits), False
    return None


async def _units(
    connection: asyncpg.Connection, periods: Iterable[str]
) -> dict[Comparison, dict[Unit, Mapping[str, Any]]]:
    """The figures of every unit of every comparison in ``periods``."""
    rows = await connection.fetch(
        "SELECT level, code, period, cohort, cohort_value, figures FROM aggregates "
        "WHERE method = $1 AND level IN ('provider', 'team') AND period = ANY($2::text[])",
        METHOD,
        sorted(set(periods)),
    )
    grouped: dict[Comparison, dict[Unit, Mapping[str, Any]]] = defaultdict(dict)
    for row in rows:
        key = AggregateKey(
            METHOD, row["level"], row["code"], row["period"], row["cohort"], row["cohort_value"]
        )
        comparison = comparison_of(key)
        if comparison is not None:
            grouped[comparison][unit_of(key)] = row["figures"]
    return grouped


async def _notice_changes(
    connection: asyncpg.Connection, referrals: Sequence[tuple[str, str]], now: datetime
) -> list[tuple[Alert, bool]]:
    if not referrals:
        return []
    rows = await connection.fetch(
        """
        SELECT s.provider_code, s.referral_id, s.record FROM scored_assessments s
        JOIN unnest($1::text[], $2::text[]) AS k(p, r)
          ON s.provider_code = k.p AND s.referral_id = k.r
        WHERE s.measure = ANY($3::text[])
        """,
        [provider for provider, _ in referrals],
        [referral for _, referral in referrals],
        sorted(ALLIANCE_MEASURES | SESSION_OUTCOME_MEASURES),
    )
    records: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        records[(row["provider_code"], row["referral_id"])].append(row["record"])
    wanted: dict[AlertKey, store.Figures] = {}
    for (provider, referral), scored in records.items():
        for notice in referral_notices(scored):
            key = AlertKey(
                notice.rule,
                REFERRAL_LEVEL,
                provider,
                ALL,
                ALL,
                notice.measure,
                notice.informant,
                notice.session.isoformat(),
                referral,
            )
            wanted[key] = notice.figures
    stored = await store.referral_alerts(connection, referrals)
    changes = []
    for key in sorted(wanted.keys() | stored.keys()):
        previous = stored.get(key)
        if key in wanted:
            change = _changed(previous, key, key.code, "open", wanted[key], {}, now)
        elif previous is not None:
            change = _changed(previous, key, key.code, "resolved", previous.figures, {}, now)
        else:
            change = None
        if change is not None:
            changes.append(change)
    return changes


async def _queue_deliveries(connection: asyncpg.Connection, alerts: Sequence[Alert]) -> None:
    """A delivery per transition and webhook: the provider's own webhooks get every alert as
    computed; a commissioner's (org = a CCG the provider served in that period, from the
    ``ccg_provider`` aggregates) gets funnel alerts only, with figures suppressed (§5)."""
    if not alerts:
        return
    webhooks = await connection.fetch("SELECT id, org_code FROM webhooks")
    if not webhooks:
        return
    by_org: dict[str, list[int]] = defaultdict(list)
    for webhook in webhooks:
        by_org[webhook["org_code"]].append(webhook["id"])
    served = await _commissioners(
        connection, {a.key.period for a in alerts if not a.key.referral_id}
    )
    queued: list[tuple[int, str, bytes]] = []
    for alert in alerts:
        payload = alert.payload()
        for webhook in by_org.get(alert.provider_code, ()):
            queued.append((webhook, alert.idempotency_key, orjson.dumps(payload)))
        if alert.key.referral_id:
            continue
        shared = {**payload, "figures": suppress_figures(alert.figures, alert.key.level)}
        for ccg in served.get((alert.provider_code, alert.key.period), ()):
            for webhook in by_org.get(ccg, ()):
                queued.append((webhook, alert.idempotency_key, orjson.dumps(shared)))
    await connection.executemany(
        "INSERT INTO deliveries (webhook_id, idempotency_key, body) VALUES ($1, $2, $3) "
        "ON CONFLICT (webhook_id, idempotency_key) DO NOTHING",
        queued,
    )


async def _commissioners(
    connection: asyncpg.Connection, periods: Iterable[str]
) -> dict[tuple[str, str], list[str]]:
    """CCGs each provider served per period: ``(provider, period) -> [ccg, …]``."""
    rows = await connection.fetch(
        "SELECT DISTINCT code, period FROM aggregates "
        "WHERE method = $1 AND level = 'ccg_provider' AND period = ANY($2::text[])",
        METHOD,
        sorted(set(periods)),
    )
    served: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        ccg, provider = row["code"].split(CCG_PROVIDER_SEPARATOR, 1)
        served[(provider, row["period"])].append(ccg)
    return served


def _outbox_record(alert: Alert, namespace: str) -> OutboxRecord:
    key = alert.key
    record = AlertRecord(
        scoring_version=SCORING_VERSION,
        rule=key.rule,
        state=alert.state,
        level=key.level,
        code=key.code,
        cohort=key.cohort,
        cohort_value=key.cohort_value,
        measure=key.measure,
        perspective=key.perspective,
        period=key.period,
        referral_id=key.referral_id or None,
        figures={**alert.figures, **alert.limits},
        raised_at=alert.raised_at,
    )
    return (namespace + ALERTS.name, ALERTS.key(record), record.model_dump_json().encode())
