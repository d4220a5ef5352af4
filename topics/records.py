"""Output records the service publishes (events.md § Outputs), each with ``scoring_version``.

They reuse ``scoring.types`` values where those are what is published (:class:`PairedScale`
and its :class:`Change`), so the topic contract and the arithmetic cannot drift apart. The
pipeline may add fields; removing or renaming one is a contract change (a new topic version).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from scoring.types import SCORING_VERSION as SCORING_VERSION
from scoring.types import Change, HeadlineOutcome, PairedScale, Score
from topics.problems import ErrorCode, Problem


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scoring_version: str


class ScoredAssessment(_Record):
    """One scored assessment (``roms.scored.v1``): from item responses or coded scores."""

    event_id: UUID
    provider_code: str
    referral_id: str
    assessment_id: str
    measure: str
    informant: str
    completed_on: date
    emitted_at: datetime
    source: Literal["items", "snomed"]
    scales: dict[str, float | None]
    t_scores: dict[str, float | None] = {}
    bands: dict[str, str | None] = {}
    caseness: bool | None = None
    prorated: list[str] = []
    alerts: list[str] = []

    @classmethod
    def from_score(
        cls, score: Score, *, scoring_version: str = SCORING_VERSION, **identity: object
    ) -> ScoredAssessment:
        """The record of ``score``; ``identity`` gives the event and assessment fields."""
        return cls.model_validate(
            {
                **identity,
                "measure": score.measure,
                "informant": score.informant,
                "source": "items",
                "scales": score.scales,
                "t_scores": score.t_scores,
                "bands": score.bands,
                "caseness": score.caseness,
                "prorated": sorted(score.prorated),
                "alerts": sorted(score.alerts),
                "scoring_version": scoring_version,
            }
        )


class Headline(BaseModel):
    """:class:`scoring.types.HeadlineOutcome` with its derived recovery flags spelled out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    measure: str
    informant: str
    scale: str
    first: float
    last: float
    change: Change
    clinical_first: bool | None
    clinical_last: bool | None
    recovered: bool | None
    reliably_recovered: bool | None

    @classmethod
    def of(cls, outcome: HeadlineOutcome) -> Headline:
        return cls(
            measure=outcome.measure,
            informant=outcome.informant,
            scale=outcome.scale,
            first=outcome.first,
            last=outcome.last,
            change=outcome.change,
            clinical_first=outcome.clinical_first,
            clinical_last=outcome.clinical_last,
            recovered=outcome.recovered,
            reliably_recovered=outcome.reliably_recovered,
        )


class ReferralOutcomeRecord(_Record):
    """Paired outcome of one referral × measure × informant under one method (latest wins)."""

    provider_code: str
    referral_id: str
    measure: str
    informant: str
    method: str
    in_cohort: bool
    closed_on: date | None
    pairs: list[PairedScale]
    headline: Headline | None = None
    computed_at: datetime


class AggregateRecord(_Record):
    """Figures of one aggregate key (outcomes.md §4); ``measure`` set for per-measure figures."""

    method: str
    level: Literal["national", "ccg", "provider", "ccg_provider", "team"]
    code: str
    period: str
    cohort: str
    cohort_value: str
    measure: str | None = None
    informant: str | None = None
    figures: dict[str, float | None]
    events: int
    computed_at: datetime


class AlertRecord(_Record):
    """A funnel-plot alert (outcomes.md §6) or a referral-level notice to the provider."""

    rule: str
    state: Literal["open", "resolved"]
    level: str
    code: str
    cohort: str
    cohort_value: str = "all"
    """The unit compared within its cohort dimension (``looked_after`` → ``true``)."""
    measure: str
    perspective: str
    period: str
    referral_id: str | None = None
    figures: dict[str, float | None]
    raised_at: datetime


class DeadLetter(_Record):
    """An invalid event (or a left-out coded score) on ``roms.deadletter.v1`` (events.md)."""

    source: str
    """``kafka:<topic>/<partition>/<offset>`` or ``gateway:<request id>``."""
    error_code: ErrorCode
    problems: list[Problem]
    message: str
    original_base64: str
    redacted: bool
    """True when NHS numbers were removed from ``original_base64``: it is not byte-exact."""
    received_at: datetime
