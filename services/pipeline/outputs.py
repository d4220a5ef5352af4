"""Output records, built from what a transaction computed or committed (published via the outbox).

Every record is a ``topics.records`` model, so the topics carry exactly the published
contract (``outcomes schema``); keys come from ``topics.registry``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from scoring.figures import AggregateKey
from scoring.published import derive
from scoring.types import ReferralOutcome
from services.pipeline.assemble import AssembledReferral
from services.store.facts import ReferralKey
from services.store.outbox import OutboxRecord, StoredAggregate
from topics.records import (
    SCORING_VERSION,
    AggregateRecord,
    DeadLetter,
    Headline,
    ReferralOutcomeRecord,
    ScoredAssessment,
)
from topics.registry import AGGREGATES, DEAD_LETTERS, OUTCOMES, SCORED, TopicSpec


def _record(spec: TopicSpec, namespace: str, record: BaseModel) -> OutboxRecord:
    return (namespace + spec.name, spec.key(record), record.model_dump_json().encode())


def scored_assessments(key: ReferralKey, assembled: AssembledReferral) -> list[ScoredAssessment]:
    """The scored form of each current assessment of one referral."""
    records = []
    for assessment in assembled.referral.assessments:
        score = assembled.scores.get(assessment.assessment_id)
        records.append(
            ScoredAssessment(
                event_id=assembled.sources[assessment.assessment_id],
                provider_code=key[0],
                referral_id=key[1],
                assessment_id=assessment.assessment_id,
                measure=assessment.measure,
                informant=assessment.informant,
                completed_on=assessment.completed_on,
                emitted_at=assessment.emitted_at,
                source="snomed" if score is None else "items",
                scales=dict(assessment.scales),
                t_scores=dict(assessment.t_scores),
                bands={} if score is None else score.bands,
                caseness=assessment.caseness,
                prorated=[] if score is None else sorted(score.prorated),
                alerts=[] if score is None else sorted(score.alerts),
                scoring_version=SCORING_VERSION,
            )
        )
    return records


def scored_record(record: ScoredAssessment, namespace: str) -> OutboxRecord:
    return _record(SCORED, namespace, record)


def outcome_records(
    key: ReferralKey, method: str, outcome: ReferralOutcome, namespace: str
) -> list[OutboxRecord]:
    """One record per measure × informant of the referral (latest value wins by key)."""
    pairs: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for pair in outcome.pairs:
        pairs[(pair.measure, pair.informant)].append(pair)
    headlines = {(h.measure, h.informant): h for h in outcome.headlines}
    now = datetime.now(UTC)
    return [
        _record(
            OUTCOMES,
            namespace,
            ReferralOutcomeRecord(
                provider_code=key[0],
                referral_id=key[1],
                measure=measure,
                informant=informant,
                method=method,
                in_cohort=outcome.in_cohort,
                closed_on=outcome.closed_on,
                pairs=pairs.get((measure, informant), []),
                headline=(
                    Headline.of(headlines[(measure, informant)])
                    if (measure, informant) in headlines
                    else None
                ),
                computed_at=now,
                scoring_version=SCORING_VERSION,
            ),
        )
        for measure, informant in sorted({*pairs, *headlines})
    ]


def aggregate_record(
    key: AggregateKey, stored: StoredAggregate | None, namespace: str
) -> OutboxRecord:
    """A stored aggregate's figures, derived from its counters; a tombstone when it has no
    row (no referral left in it)."""
    record = AggregateRecord(
        method=key.method,
        level=key.level,
        code=key.code,
        period=key.period,
        cohort=key.cohort,
        cohort_value=key.cohort_value,
        figures={} if stored is None else derive(stored["counters"]),
        events=0 if stored is None else stored["events"],
        computed_at=datetime.now(UTC) if stored is None else stored["computed_at"],
        scoring_version=SCORING_VERSION if stored is None else stored["scoring_version"],
    )
    name, record_key, value = _record(AGGREGATES, namespace, record)
    return (name, record_key, None if stored is None else value)


def dead_letter_record(letter: DeadLetter, namespace: str) -> OutboxRecord:
    return _record(DEAD_LETTERS, namespace, letter)
