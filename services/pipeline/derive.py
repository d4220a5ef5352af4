"""Derivation: fold pending referrals into outcomes, aggregates, alerts and outputs.

One pass claims up to ``limit`` of the oldest pending referrals (``services.store.pending``)
and, in one transaction: re-assembles each from all its stored events, scores and pairs it
under both methods, moves each aggregate by the referral's new minus old contribution,
re-derives every touched aggregate's headline once, evaluates the alert rules once and
queues the changed outputs in the outbox (the touched aggregate keys, whose rows are
published from the table: ``services.store.outbox``). A referral that received many events
since its last pass is folded once; an aggregate touched by many referrals is written once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg
from pydantic import TypeAdapter

from scoring import figures, pairing
from scoring.types import ReferralOutcome, ReferralProfile
from services import alerts
from services.alerts.rules import DEFAULT_POLICY, AlertPolicy
from services.pipeline import outputs
from services.pipeline.assemble import AssembledReferral, assemble_many
from services.store import derived, facts, outbox, pending
from services.store.facts import ReferralKey
from topics.records import SCORING_VERSION

METHODS: Final = ("default", "nhs")
"""Every figure is kept under both methods so the API answers ``method=`` at once."""

_CHUNK: Final = 50
"""Referrals assembled (their questionnaires scored together) between two yields to the event
loop (~0.3 s of work at most)."""
_profile_codec: Final = TypeAdapter(ReferralProfile | None)
_outcome_codec: Final = TypeAdapter(ReferralOutcome)


@dataclass(frozen=True, slots=True)
class DerivationReport:
    referrals: int
    aggregates: int


@dataclass(slots=True)
class _Derived:
    """What re-assembling the claimed referrals changed."""

    changes: list[tuple[figures.Contribution, float]] = field(default_factory=list)
    """The old contributions of the changed referrals (to take away, -1) and their new (+1)."""
    outcome_rows: list[dict[str, Any]] = field(default_factory=list)
    scored_rows: list[dict[str, Any]] = field(default_factory=list)
    records: list[outbox.OutboxRecord] = field(default_factory=list)


def contribution(
    profile: ReferralProfile | None, outcome: ReferralOutcome, events: int
) -> figures.Contribution:
    """A referral's aggregate counters, plus how many events it reflects."""
    keys, counters = figures.contribution(profile, outcome)
    return figures.Contribution(keys, {**counters, "events": float(events)})


def _stored_contribution(record: Mapping[str, Any]) -> figures.Contribution:
    return contribution(
        _profile_codec.validate_python(record["profile"]),
        _outcome_codec.validate_python(record["outcome"]),
        int(record["events"]),
    )


async def _rederive(
    connection: asyncpg.Connection, referrals: Sequence[ReferralKey], namespace: str
) -> _Derived:
    stored_events = await facts.events_of(connection, referrals)
    old_outcomes = await derived.stored_outcomes(connection, referrals)
    old_scored = await derived.stored_scored(connection, referrals)
    result = _Derived()
    for start in range(0, len(referrals), _CHUNK):
        # Let the hot path and the Kafka client's heartbeats run during a long pass.
        await asyncio.sleep(0)
        chunk = referrals[start : start + _CHUNK]
        for key, assembled in zip(
            chunk, assemble_many([stored_events[key] for key in chunk]), strict=True
        ):
            _fold(key, assembled, old_outcomes, old_scored, namespace, result)
    return result


def _fold(
    key: ReferralKey,
    assembled: AssembledReferral,
    old_outcomes: Mapping[tuple[str, str, str], Mapping[str, Any]],
    old_scored: Mapping[tuple[str, ...], Mapping[str, Any]],
    namespace: str,
    result: _Derived,
) -> None:
    """Add what one re-assembled referral changed to ``result``."""
    for scored in outputs.scored_assessments(key, assembled):
        record = scored.model_dump(mode="json")
        result.scored_rows.append(derived.scored_row(scored, record))
        identity = (*key, scored.assessment_id, scored.measure, scored.informant)
        if old_scored.get(identity) != record:
            result.records.append(outputs.scored_record(scored, namespace))
    profile = assembled.referral.profile
    for method, outcome in zip(
        METHODS, pairing.referral_outcomes(assembled.referral, METHODS), strict=True
    ):
        record = {
            "profile": _profile_codec.dump_python(profile, mode="json"),
            "outcome": _outcome_codec.dump_python(outcome, mode="json"),
            "events": assembled.events,
        }
        previous = old_outcomes.get((*key, method))
        if previous == record:
            continue
        if previous is not None:
            result.changes.append((_stored_contribution(previous), -1.0))
        result.changes.append((contribution(profile, outcome, assembled.events), 1.0))
        result.outcome_rows.append(
            derived.outcome_row(key, method, profile, outcome, record, SCORING_VERSION)
        )
        result.records.extend(outputs.outcome_records(key, method, outcome, namespace))


async def derive_pending(
    connection: asyncpg.Connection,
    *,
    limit: int,
    namespace: str = "",
    alert_policy: AlertPolicy = DEFAULT_POLICY,
) -> DerivationReport:
    """Fold up to ``limit`` of the oldest pending referrals; a no-op when none is pending.

    ``namespace`` prefixes every output topic name (tests and tenants share a broker); the
    alert rules run on what the pass changed, in the same transaction (outcomes.md §6).
    """
    async with connection.transaction():
        referrals = await pending.claim(connection, limit)
        if not referrals:
            return DerivationReport(referrals=0, aggregates=0)
        # Rebalances can hand a referral to two workers' passes in turn: serialise them.
        await facts.lock_referrals(connection, referrals)
        result = await _rederive(connection, referrals, namespace)
        await derived.save_scored(connection, referrals, result.scored_rows)
        await derived.save_outcomes(connection, result.outcome_rows)
        changed = figures.movements(result.changes)
        touched_keys = sorted(changed)
        await derived.move_aggregates(connection, changed, SCORING_VERSION)
        await outbox.queue_aggregates(connection, touched_keys)
        result.records += await alerts.evaluate(
            connection, touched_keys, referrals, namespace=namespace, policy=alert_policy
        )
        await outbox.add(connection, result.records)
    return DerivationReport(referrals=len(referrals), aggregates=len(touched_keys))
