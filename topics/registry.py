"""Topics of the service: names, keys, default partitions, cleanup policy and value schema.

Keys (ARCHITECTURE.md § Data flow, events.md):
- ``roms.events.v1`` is keyed by the EPR with ``referral_id`` (UTF-8), as the contract says;
  ``roms.scored.v1`` uses the same key so that the two topics are co-partitioned.
- latest-value topics are compacted, so their key must name the thing uniquely: the
  service's referral key is ``provider_code`` + ``referral_id`` (a referral id is unique
  only within its provider), and the method is part of an outcome's and an aggregate's key.
- alerts are keyed by their stable key (outcomes.md §6); dead letters by where they came from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import TypeAdapter

from topics.events import Event
from topics.records import (
    AggregateRecord,
    AlertRecord,
    DeadLetter,
    ReferralOutcomeRecord,
    ScoredAssessment,
)

CleanupPolicy = Literal["delete", "compact"]
KEY_SEPARATOR: Final = "/"

REFERRAL_PARTITIONS: Final = 12
"""P: referral-keyed topics; 12 divides evenly among 1, 2, 3, 4, 6 or 12 workers."""
AGGREGATE_PARTITIONS: Final = 6
"""P: one record per aggregate key and period; far fewer than referrals."""
SMALL_PARTITIONS: Final = 3
"""P: low-volume topics (alerts, dead letters)."""


def _join(*parts: str | None) -> bytes:
    return KEY_SEPARATOR.join(part or "" for part in parts).encode()


def event_key(event: Event) -> bytes:
    return event.referral_id.encode()


def scored_key(record: ScoredAssessment) -> bytes:
    return record.referral_id.encode()


def outcome_key(record: ReferralOutcomeRecord) -> bytes:
    return _join(
        record.provider_code, record.referral_id, record.measure, record.informant, record.method
    )


def aggregate_key(record: AggregateRecord) -> bytes:
    return _join(
        record.method,
        record.level,
        record.code,
        record.period,
        record.cohort,
        record.cohort_value,
        record.measure,
        record.informant,
    )


def alert_key(record: AlertRecord) -> bytes:
    return _join(
        record.rule,
        record.level,
        record.code,
        record.cohort,
        record.cohort_value,
        record.measure,
        record.perspective,
        record.period,
        record.referral_id,
    )


def dead_letter_key(record: DeadLetter) -> bytes:
    return record.source.encode()


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """How one topic is created and written."""

    name: str
    key: Callable[[Any], bytes]
    value: TypeAdapter[Any]
    partitions: int
    cleanup_policy: CleanupPolicy

    @property
    def config(self) -> dict[str, str]:
        """Broker-side topic configuration."""
        return {"cleanup.policy": self.cleanup_policy}


EVENTS: Final = TopicSpec(
    "roms.events.v1", event_key, TypeAdapter(Event), REFERRAL_PARTITIONS, "delete"
)
SCORED: Final = TopicSpec(
    "roms.scored.v1", scored_key, TypeAdapter(ScoredAssessment), REFERRAL_PARTITIONS, "delete"
)
OUTCOMES: Final = TopicSpec(
    "roms.outcomes.v1",
    outcome_key,
    TypeAdapter(ReferralOutcomeRecord),
    REFERRAL_PARTITIONS,
    "compact",
)
AGGREGATES: Final = TopicSpec(
    "roms.aggregates.v1",
    aggregate_key,
    TypeAdapter(AggregateRecord),
    AGGREGATE_PARTITIONS,
    "compact",
)
ALERTS: Final = TopicSpec(
    "roms.alerts.v1", alert_key, TypeAdapter(AlertRecord), SMALL_PARTITIONS, "delete"
)
DEAD_LETTERS: Final = TopicSpec(
    "roms.deadletter.v1", dead_letter_key, TypeAdapter(DeadLetter), SMALL_PARTITIONS, "delete"
)

TOPICS: Final[Mapping[str, TopicSpec]] = {
    spec.name: spec for spec in (EVENTS, SCORED, OUTCOMES, AGGREGATES, ALERTS, DEAD_LETTERS)
}
