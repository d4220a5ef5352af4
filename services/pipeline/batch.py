"""One batch of raw events, end to end, in one PostgreSQL transaction.

validate → store new facts by ``event_id`` → lock and re-assemble the touched referrals →
score, pair, compute outcomes per method → move aggregates by the old/new difference →
re-derive touched aggregates → queue every changed output in the outbox and record the
consumed offsets; then commit. A redelivered batch inserts no new fact, so it touches
nothing and changes nothing (ARCHITECTURE.md invariant 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg
from pydantic import TypeAdapter

import topics
from scoring import figures, pairing
from scoring.figures import AggregateKey
from scoring.types import ReferralOutcome, ReferralProfile
from services import alerts
from services.alerts.rules import DEFAULT_POLICY, AlertPolicy
from services.pipeline import outputs
from services.pipeline.assemble import assemble
from services.store import derived, facts, outbox
from services.store.facts import ReferralKey
from topics.records import SCORING_VERSION, DeadLetter

METHODS: Final = ("default", "nhs")
"""Every figure is kept under both methods so the API answers ``method=`` at once."""

_profile_codec: Final = TypeAdapter(ReferralProfile | None)
_outcome_codec: Final = TypeAdapter(ReferralOutcome)


@dataclass(frozen=True, slots=True)
class Incoming:
    """A raw message and where it came from (``kafka:topic/partition/offset`` or gateway)."""

    raw: bytes
    source: str
    position: tuple[str, int, int] | None = None
    """``(topic, partition, offset)`` when it came from Kafka."""

    @classmethod
    def from_kafka(cls, raw: bytes, topic: str, partition: int, offset: int) -> Incoming:
        return cls(raw, f"kafka:{topic}/{partition}/{offset}", (topic, partition, offset))


@dataclass(frozen=True, slots=True)
class BatchReport:
    received: int
    valid: int
    rejected: int
    referrals: int
    aggregates: int


@dataclass(slots=True)
class _Derived:
    """What re-assembling the touched referrals changed."""

    deltas: list[dict[AggregateKey, dict[str, float]]] = field(default_factory=list)
    """Per changed referral and method: its new contribution minus its old one."""
    outcome_rows: list[dict[str, Any]] = field(default_factory=list)
    scored_rows: list[dict[str, Any]] = field(default_factory=list)
    records: list[outbox.OutboxRecord] = field(default_factory=list)


def validate(
    batch: Sequence[Incoming],
) -> tuple[list[tuple[dict[str, Any], str]], list[DeadLetter]]:
    """Valid event bodies with their sources, and a dead letter per rejection."""
    valid: list[tuple[dict[str, Any], str]] = []
    letters: list[DeadLetter] = []
    for message in batch:
        try:
            event = topics.parse_event(message.raw)
        except topics.InvalidEvent as invalid:
            letters.append(topics.dead_letter(message.raw, invalid.problems, message.source))
            continue
        valid.append((event.model_dump(mode="json"), message.source))
        rejected = getattr(event.payload, "rejected", ())
        if rejected:
            letters.append(topics.dead_letter(message.raw, list(rejected), message.source))
    return valid, letters


def contributions(
    profile: ReferralProfile | None, outcome: ReferralOutcome, events: int
) -> dict[AggregateKey, dict[str, float]]:
    """A referral's aggregate counters, plus how many events it reflects."""
    counters = figures.contributions(profile, outcome)
    for values in counters.values():
        values["events"] = float(events)
    return counters


def _stored_contributions(record: Mapping[str, Any]) -> dict[AggregateKey, dict[str, float]]:
    return contributions(
        _profile_codec.validate_python(record["profile"]),
        _outcome_codec.validate_python(record["outcome"]),
        int(record["events"]),
    )


async def _rederive(
    connection: asyncpg.Connection, touched: Sequence[ReferralKey], namespace: str
) -> _Derived:
    stored_events = await facts.events_of(connection, touched)
    old_outcomes = await derived.stored_outcomes(connection, touched)
    old_scored = await derived.stored_scored(connection, touched)
    result = _Derived()
    for key in touched:
        assembled = assemble(stored_events[key])
        for scored in outputs.scored_assessments(key, assembled):
            record = scored.model_dump(mode="json")
            result.scored_rows.append(derived.scored_row(scored, record))
            identity = (*key, scored.assessment_id, scored.measure, scored.informant)
            if old_scored.get(identity) != record:
                result.records.append(outputs.scored_record(scored, namespace))
        profile = assembled.referral.profile
        for method in METHODS:
            outcome = pairing.referral_outcome(assembled.referral, method=method)
            record = {
                "profile": _profile_codec.dump_python(profile, mode="json"),
                "outcome": _outcome_codec.dump_python(outcome, mode="json"),
                "events": assembled.events,
            }
            previous = old_outcomes.get((*key, method))
            if previous == record:
                continue
            old = {} if previous is None else _stored_contributions(previous)
            result.deltas.append(
                figures.delta(old, contributions(profile, outcome, assembled.events))
            )
            result.outcome_rows.append(
                derived.outcome_row(key, method, profile, outcome, record, SCORING_VERSION)
            )
            result.records.extend(outputs.outcome_records(key, method, outcome, namespace))
    return result


async def process_batch(
    connection: asyncpg.Connection,
    batch: Sequence[Incoming],
    *,
    namespace: str = "",
    alert_policy: AlertPolicy = DEFAULT_POLICY,
) -> BatchReport:
    """Apply one batch atomically; applying it again changes nothing.

    ``namespace`` prefixes every output topic name (tests and tenants share a broker); the
    alert rules run on what the batch changed, in the same transaction (outcomes.md §6).
    """
    valid, letters = validate(batch)
    touched_keys: list[AggregateKey] = []
    async with connection.transaction():
        touched = await facts.insert_events(connection, valid)
        new_letters = await facts.insert_dead_letters(
            connection, [letter.model_dump(mode="json") for letter in letters]
        )
        records = [
            outputs.dead_letter_record(DeadLetter.model_validate(letter), namespace)
            for letter in new_letters
        ]
        if touched:
            await facts.lock_referrals(connection, touched)
            result = await _rederive(connection, touched, namespace)
            await derived.save_scored(connection, touched, result.scored_rows)
            await derived.save_outcomes(connection, result.outcome_rows)
            changed = figures.merge(result.deltas)
            touched_keys = sorted(changed)
            for key, published in await derived.move_aggregates(
                connection, changed, SCORING_VERSION
            ):
                result.records.append(outputs.aggregate_record(key, published, namespace))
            result.records += await alerts.evaluate(
                connection, touched_keys, touched, namespace=namespace, policy=alert_policy
            )
            records.extend(result.records)
        await outbox.add(connection, records)
        await facts.record_progress(connection, _highest_offsets(batch))
    return BatchReport(
        received=len(batch),
        valid=len(valid),
        rejected=len(letters),
        referrals=len(touched),
        aggregates=len(touched_keys),
    )


def _highest_offsets(batch: Sequence[Incoming]) -> dict[tuple[str, int], int]:
    highest: dict[tuple[str, int], int] = {}
    for message in batch:
        if message.position is not None:
            topic, partition, offset = message.position
            highest[(topic, partition)] = max(offset, highest.get((topic, partition), -1))
    return highest
