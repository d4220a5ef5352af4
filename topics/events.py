"""Input events of contract version 1 (``shared/spec/events.md``), as strict pydantic models.

Strict means: unknown fields are rejected at every level, JSON types are not coerced
(``"true"`` is not a boolean, ``3.0`` is not an integer), dates are ``YYYY-MM-DD`` and
date-times carry an offset. :data:`Event` is the union discriminated on ``event_type``;
:func:`topics.parse_event` validates raw bytes against it and adds the checks a schema cannot
express (item responses by the scoring library, coded scores, dates against the clock).

Project choices (P), where events.md leaves the detail open:
- identifiers local to a referral (``contact_id``, ``assessment_id``, ``goal_id``,
  ``team_code``, ``target``) use the referral-id alphabet, 1–64 characters;
- ``ethnicity`` is an NHS ethnic category code: the letters ``A``–``S`` *in use* (the data
  dictionary has no ``I``, ``O`` or ``Q``), ``Z`` not stated, ``99`` not known;
- ``goal.rated`` may carry ``informant`` (``self`` by default, or ``parent``), as measures.md
  allows ("``self`` unless the event says otherwise");
- ``record.entered_in_error`` of a goal rating requires ``rated_on``: a goal's ratings are
  told apart by their date.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Final, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
)
from pydantic_core import PydanticCustomError

from topics.privacy import looks_like_nhs_number
from topics.problems import Problem

SCHEMA_VERSION: Final = 1

PROVIDER_CODE_PATTERN: Final = r"^[A-Z0-9]{3}([A-Z0-9]{2})?$"
CCG_CODE_PATTERN: Final = r"^[A-Z0-9]{3}([A-Z0-9]{2})?$"
IDENTIFIER_PATTERN: Final = r"^[A-Za-z0-9_-]+$"
SNOMED_PATTERN: Final = r"^[1-9][0-9]{5,17}$"
"""SNOMED CT concept ids are 6–18 digits without a leading zero."""
MAX_CODED_SCORES: Final = 200
"""P: far above any instrument's scale count; bounds the work one event can cause."""

Measure = Literal["SDQ", "RCADS", "RCADS25", "HONOSCA", "ORS", "CORS", "SRS", "CSRS"]
QuestionnaireInformant = Literal["self", "parent", "teacher", "clinician"]
GoalInformant = Literal["self", "parent"]
Gender = Literal["male", "female", "other", "unknown"]
Ethnicity = Literal[
    "A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S", "Z", "99"
]  # fmt: skip
ClosureReason = Literal["treatment_completed", "transferred", "disengaged", "other"]
ContactKind = Literal["direct", "indirect"]


def _not_an_nhs_number(value: object) -> object:
    """Runs before the pattern check, so that a spaced NHS number is named for what it is."""
    if isinstance(value, str) and looks_like_nhs_number(value):
        raise PydanticCustomError(
            "nhs_number",
            "must be a pseudonymised identifier, not a valid NHS number; remove it at source",
        )
    return value


PseudonymisedId = Annotated[
    str,
    Field(min_length=8, max_length=64, pattern=IDENTIFIER_PATTERN),
    BeforeValidator(_not_an_nhs_number),
]
LocalId = Annotated[str, Field(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


# --- Payloads ---


class ReferralOpenedPayload(_Strict):
    ccg_code: Annotated[str, Field(pattern=CCG_CODE_PATTERN)]
    team_code: LocalId | None = None
    received_on: date
    age_years: Annotated[int, Field(ge=0, le=25)]
    gender: Gender
    ethnicity: Ethnicity
    looked_after: bool
    ld_or_autism: bool


class ReferralClosedPayload(_Strict):
    closed_on: date
    """Not before ``received_on``: checked by the pipeline, which holds both events."""
    reason: ClosureReason


class ReferralReopenedPayload(_Strict):
    """Empty: a reopen undoes the close."""


class ContactRecordedPayload(_Strict):
    contact_id: LocalId
    contact_on: date
    attended: bool
    kind: ContactKind = "direct"


class QuestionnaireCompletedPayload(_Strict):
    assessment_id: LocalId
    measure: Measure
    informant: QuestionnaireInformant
    completed_on: date
    items: dict[str, float | None] = Field(
        description="Item number as a string ('1'…'n') or a named SDQ impact key, to the "
        "response, or null for not answered. Keys and ranges per measure: measures.md."
    )


class CodedScore(_Strict):
    snomed: Annotated[str, Field(pattern=SNOMED_PATTERN)]
    value: float


class AssessmentScoredPayload(_Strict):
    """Coded scores as MHSDS records them: one per SNOMED CT concept (measure, informant, scale)."""

    assessment_id: LocalId
    completed_on: date
    scores: Annotated[list[CodedScore], Field(min_length=1, max_length=MAX_CODED_SCORES)]
    _rejected: tuple[Problem, ...] = PrivateAttr(default=())

    @property
    def rejected(self) -> tuple[Problem, ...]:
        """Scores left out by :func:`topics.parse_event` (unknown code, value out of range)."""
        return self._rejected

    def without(
        self, rejected: tuple[Problem, ...], kept: list[CodedScore]
    ) -> AssessmentScoredPayload:
        """A copy holding only ``kept`` scores and reporting ``rejected``."""
        payload = self.model_copy(update={"scores": kept})
        payload._rejected = rejected
        return payload


class GoalRatedPayload(_Strict):
    goal_id: LocalId
    rating: Annotated[int, Field(ge=0, le=10)]
    rated_on: date
    informant: GoalInformant = "self"


class AssessmentWithdrawn(_Strict):
    target: LocalId
    kind: Literal["assessment"]


class GoalRatingWithdrawn(_Strict):
    target: LocalId
    kind: Literal["goal_rating"]
    rated_on: date


EnteredInErrorPayload = Annotated[
    AssessmentWithdrawn | GoalRatingWithdrawn, Field(discriminator="kind")
]


# --- Events ---


class _Envelope(_Strict):
    event_id: UUID
    schema_version: Literal[1]
    occurred_at: AwareDatetime
    emitted_at: AwareDatetime
    provider_code: Annotated[str, Field(pattern=PROVIDER_CODE_PATTERN)]
    referral_id: PseudonymisedId
    patient_id: PseudonymisedId

    @property
    def referral_key(self) -> str:
        """The service's referral identity: ``provider_code`` + ``referral_id`` (events.md)."""
        return f"{self.provider_code}/{self.referral_id}"


class ReferralOpened(_Envelope):
    event_type: Literal["referral.opened"]
    payload: ReferralOpenedPayload


class ReferralClosed(_Envelope):
    event_type: Literal["referral.closed"]
    payload: ReferralClosedPayload


class ReferralReopened(_Envelope):
    event_type: Literal["referral.reopened"]
    payload: ReferralReopenedPayload


class ContactRecorded(_Envelope):
    event_type: Literal["contact.recorded"]
    payload: ContactRecordedPayload


class QuestionnaireCompleted(_Envelope):
    event_type: Literal["questionnaire.completed"]
    payload: QuestionnaireCompletedPayload


class AssessmentScored(_Envelope):
    event_type: Literal["assessment.scored"]
    payload: AssessmentScoredPayload


class GoalRated(_Envelope):
    event_type: Literal["goal.rated"]
    payload: GoalRatedPayload


class RecordEnteredInError(_Envelope):
    event_type: Literal["record.entered_in_error"]
    payload: EnteredInErrorPayload


Event = Annotated[
    ReferralOpened
    | ReferralClosed
    | ReferralReopened
    | ContactRecorded
    | QuestionnaireCompleted
    | AssessmentScored
    | GoalRated
    | RecordEnteredInError,
    Field(discriminator="event_type"),
]

EVENT_MODELS: Final[dict[str, type[_Envelope]]] = {
    "referral.opened": ReferralOpened,
    "referral.closed": ReferralClosed,
    "referral.reopened": ReferralReopened,
    "contact.recorded": ContactRecorded,
    "questionnaire.completed": QuestionnaireCompleted,
    "assessment.scored": AssessmentScored,
    "goal.rated": GoalRated,
    "record.entered_in_error": RecordEnteredInError,
}
"""``event_type`` → model, in the order of events.md."""
