"""Request parameters and response bodies of the HTTP API (they make the OpenAPI document)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, Field

Level = Literal["national", "ccg", "provider", "team", "ccg_provider"]
PeriodKind = Literal["month", "quarter", "year"]
Cohort = Literal["all", "age_band", "gender", "ethnic_group", "looked_after", "ld_or_autism"]
Method = Literal["default", "nhs"]
Perspective = Literal["self", "parent", "teacher", "clinician"]
Detail = Literal["headline", "all"]
"""Which figures of an aggregate: the national metrics (names without a dot) or all."""
Figure = int | float | str | None
"""A figure as published: a number, ``"*"`` when suppressed, null when undefined."""

PERIOD_PATTERNS: Final[dict[str, str]] = {
    "month": r"^\d{4}-(0[1-9]|1[0-2])$",
    "quarter": r"^\d{4}/\d{2} Q[1-4]$",
    "year": r"^\d{4}/\d{2}$",
}
"""outcomes.md §4: month ``2019-04``, financial quarter ``2019/20 Q1``, financial year."""
ANY_PERIOD_PATTERN: Final = "|".join(f"({pattern})" for pattern in PERIOD_PATTERNS.values())
CODE_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64})?$"
"""An aggregate code: ``ENG``, a CCG or provider code, ``PROVIDER/TEAM`` or ``CCG/PROVIDER``."""
COHORT_VALUE_PATTERN: Final = r"^[^\x00-\x1f]{1,64}$"
"""A cohort value (``0-4``, ``Not stated/known``, ``true``): printable text."""
ORG_PATTERN: Final = r"^[A-Z0-9]{3}([A-Z0-9]{2})?$"
YEAR_PATTERN: Final = PERIOD_PATTERNS["year"]
REFERRAL_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{8,64}$"


class ErrorBody(BaseModel):
    error_code: str = Field(examples=["auth.forbidden"])
    message: str


class AggregateRow(BaseModel):
    method: Method
    level: Level
    code: str
    period: str
    period_kind: PeriodKind
    cohort: str
    cohort_value: str
    figures: dict[str, Figure] = Field(
        description="The headline figures (MHS110-115, names without a dot) unless detail=all,"
        " measure= or perspective= asks for the per measure x informant ones."
    )
    suppressed: bool = Field(description="True when figures were suppressed per outcomes.md §5.")
    events: int = Field(description="How many unique valid events the aggregate reflects.")
    scoring_version: str
    computed_at: datetime


class AggregatePage(BaseModel):
    items: list[AggregateRow]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page."
    )


class Problem(BaseModel):
    error_code: str = Field(examples=["schema.out_of_range"])
    field: str
    message: str


EventStatus = Literal["accepted", "duplicate", "rejected", "forbidden"]


class EventResult(BaseModel):
    index: int = Field(description="Position in the posted array (0 for a single event).")
    event_id: str | None
    status: EventStatus
    problems: list[Problem] = Field(
        default_factory=list,
        description="Why it was rejected, or the coded scores left out of an accepted event.",
    )


class IngestResponse(BaseModel):
    request_id: str
    accepted: int
    duplicates: int
    rejected: int
    forbidden: int
    results: list[EventResult]


class ReportRow(BaseModel):
    quarter: str
    provider: str = Field(description='A provider code, or "all providers" for the CCG.')
    figures: dict[str, Figure]


class OutcomesReport(BaseModel):
    ccg: str
    year: str | None
    method: Method
    suppressed: bool
    columns: list[str] = Field(description="Figure names of each row, in table order.")
    headers: list[str] = Field(description="Human titles of the CSV columns.")
    rows: list[ReportRow]


class ReferralOutcomes(BaseModel):
    provider_code: str
    referral_id: str
    method: Method
    in_cohort: bool
    closed_on: date | None
    events: int
    scoring_version: str
    updated_at: datetime
    profile: dict[str, Any] | None
    outcome: dict[str, Any] = Field(
        description="First and last scores, change and category per measure and informant."
    )


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]
