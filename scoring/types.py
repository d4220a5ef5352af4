"""Value types and the shared machinery every measure module uses.

A measure module declares *what* its questionnaire is (items, allowed responses, scales,
bands) as a :class:`MeasureDefinition`; the arithmetic that several measures share
(prorating with half-up rounding, banding, response checks) lives here once, so that a
clinician can check each measure module line by line against its published guide.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

SCORING_VERSION: Final = "1.0.0"
"""Version of the scoring rules, carried by every output (ARCHITECTURE.md invariant 4).

Bump it with any change to a rule, threshold, pairing or aggregation: a replay from the start
of ``roms.events.v1`` then rebuilds every derived table and topic under the new version.
"""

Informant = Literal["self", "parent", "teacher", "clinician"]
INFORMANTS: Final[tuple[str, ...]] = ("self", "parent", "teacher", "clinician")

Method = Literal["default", "nhs", "unrounded"]
METHODS: Final[tuple[str, ...]] = ("default", "nhs", "unrounded")

Sex = Literal["male", "female"]

ChangeCategory = Literal["reliable_improvement", "no_reliable_change", "reliable_deterioration"]


class InvalidResponse(ValueError):
    """A questionnaire that cannot be scored as given.

    ``error_code`` uses the event contract's vocabulary (``schema.out_of_range`` …) so that
    the validation layer can pass it through unchanged; ``item`` names the offending key.
    """

    def __init__(
        self,
        message: str,
        *,
        error_code: str,
        measure: str | None = None,
        item: str | None = None,
        allowed: str | None = None,
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.measure = measure
        self.item = item
        self.allowed = allowed


@dataclass(frozen=True, slots=True)
class Score:
    """One scored questionnaire. Missing scales are ``None``; never NaN."""

    measure: str
    informant: str
    scales: dict[str, float | None]
    t_scores: dict[str, float | None] = field(default_factory=dict)
    bands: dict[str, str | None] = field(default_factory=dict)
    caseness: bool | None = None
    prorated: frozenset[str] = frozenset()
    alerts: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Change:
    """Reliable change between a first and a last score of one scale."""

    change: float
    improvement: float
    threshold: float | None
    category: ChangeCategory | None


@dataclass(frozen=True, slots=True)
class ResponseRange:
    """The values an item accepts: ``low``..``high`` in steps of ``step``, plus ``extra`` codes.

    ``extra`` holds sentinel codes that are valid answers but carry no value (HoNOSCA 9 =
    not known); scoring treats them as not answered.
    """

    low: float
    high: float
    step: float = 1.0
    extra: frozenset[float] = frozenset()

    def describe(self) -> str:
        unit = "integers" if self.step == 1 else f"numbers in steps of {self.step:g}"
        extra = "".join(f" or {value:g}" for value in sorted(self.extra))
        return f"{unit} {self.low:g}-{self.high:g}{extra}"

    def invalid(self, values: FloatArray) -> BoolArray:
        """Element-wise: is each value *not* allowed? NaN (not answered) is never invalid.

        Every comparison with NaN is false, so no separate NaN mask is needed: this runs on
        million-row batches.
        """
        scaled = values / self.step if self.step != 1 else values
        bad: BoolArray = np.abs(scaled - np.round(scaled)) > 1e-6
        bad |= values < self.low
        bad |= values > self.high
        if self.extra:
            bad &= ~np.isin(values, np.fromiter(self.extra, dtype=np.float64))
        return bad

    def accepts(self, value: float) -> bool:
        """Scalar form of :meth:`valid` for one answered value (pure Python: fast per event)."""
        if value in self.extra:
            return True
        steps = round(value / self.step)
        return self.low <= value <= self.high and abs(steps * self.step - value) < 1e-9

    def answered(self, values: FloatArray) -> FloatArray:
        """Values with the ``extra`` codes turned into NaN (not answered)."""
        if not self.extra:
            return values
        return np.where(np.isin(values, np.fromiter(self.extra, dtype=np.float64)), np.nan, values)


@dataclass(frozen=True, slots=True)
class BatchScores:
    """What a measure's vectorised scorer returns: one array per scale, NaN = missing."""

    scales: dict[str, FloatArray]
    t_scores: dict[str, FloatArray] = field(default_factory=dict)
    prorated: dict[str, BoolArray] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Interpretation:
    """Clinical reading of one scored questionnaire: bands, caseness, alerts."""

    bands: dict[str, str | None] = field(default_factory=dict)
    caseness: bool | None = None
    alerts: frozenset[str] = frozenset()


BatchScorer = Callable[[str, FloatArray, FloatArray | None, NDArray[np.str_] | None], BatchScores]
"""``(informant, responses (n, k) with NaN = missing, ages or None, sexes or None)``."""


def no_interpretation(
    informant: str,
    scales: Mapping[str, float | None],
    t_scores: Mapping[str, float | None],
    age: float | None,
) -> Interpretation:
    """For measures with no published cut-off: no bands, caseness unknown, no alerts."""
    return Interpretation()


Interpreter = Callable[
    [str, Mapping[str, float | None], Mapping[str, float | None], float | None], Interpretation
]
"""``(informant, scales, t_scores, age)`` of one questionnaire."""


@dataclass(frozen=True, slots=True)
class MeasureDefinition:
    """Everything the generic scorer needs to know about one measure.

    ``columns`` gives, per informant, the item keys in the column order of a batch matrix;
    ``required`` are the keys that must be present in a questionnaire (their value may still
    be ``None`` unless ``answer_required``); keys in ``columns`` but not in ``required`` are
    optional (the SDQ impact supplement). ``higher_is_better`` names the scales where a
    higher score is better, so that reliable change knows which way improvement points.
    """

    code: str
    informants: frozenset[str]
    columns: Mapping[str, tuple[str, ...]]
    responses: Mapping[str, ResponseRange]
    required: Mapping[str, frozenset[str]]
    score_batch: BatchScorer
    interpret: Interpreter
    scales: tuple[str, ...]
    higher_is_better: frozenset[str] = frozenset()
    answer_required: bool = False
    source: str = ""


def round_half_up(values: FloatArray) -> FloatArray:
    """Round .5 away from zero, as the published SDQ and RCADS scoring syntax does.

    numpy's ``round`` rounds half to even (2.5 -> 2); the guides round 6.5 -> 7. The small
    epsilon absorbs binary error in means such as 4/3*5 = 6.666… and 13/2 = 6.5.
    """
    return np.floor(values + 0.5 + 1e-9)


def prorated_sum(
    responses: FloatArray, columns: list[int], *, min_answered: int
) -> tuple[FloatArray, BoolArray]:
    """Sum of ``columns``; with some unanswered, mean × item count rounded half up.

    Returns the scale (NaN where fewer than ``min_answered`` items are answered) and a mask
    of the rows that were prorated.
    """
    block = responses[:, columns]
    answered = (~np.isnan(block)).sum(axis=1)
    total = np.nansum(block, axis=1)
    n_items = len(columns)
    with np.errstate(invalid="ignore", divide="ignore"):
        prorated_value = round_half_up(total / answered * n_items)
    complete = answered == n_items
    value = np.where(complete, total, prorated_value)
    value = np.where(answered >= min_answered, value, np.nan)
    return value, (~complete) & (answered >= min_answered)


def band(
    value: float | None, upper_bounds: tuple[float, ...], labels: tuple[str, ...]
) -> str | None:
    """The label of the first band whose inclusive upper bound ``value`` does not exceed.

    ``labels`` has one more entry than ``upper_bounds`` (the open top band). For scales
    where lower is worse (SDQ prosocial) pass the *negated* value and negated bounds.
    """
    if value is None:
        return None
    for bound, label in zip(upper_bounds, labels, strict=False):
        if value <= bound:
            return label
    return labels[-1]


# --- Referral facts (input of pairing) and outcomes (its output, input of aggregation) ---

Perspective = Literal["self", "parent", "clinician"]
PERSPECTIVES: Final[tuple[str, ...]] = ("self", "parent", "clinician")

ReferralCategory = Literal["improved", "deteriorated", "no_change"]


@dataclass(frozen=True, slots=True)
class ReferralProfile:
    """What ``referral.opened`` says about a referral: its place and its cohort dimensions."""

    provider_code: str
    referral_id: str
    ccg_code: str
    team_code: str | None
    received_on: date
    age_years: int
    gender: str
    ethnicity: str
    looked_after: bool
    ld_or_autism: bool


@dataclass(frozen=True, slots=True)
class Contact:
    contact_id: str
    contact_on: date
    attended: bool
    kind: Literal["direct", "indirect"] = "direct"


@dataclass(frozen=True, slots=True)
class Assessment:
    """The current (latest, not withdrawn) form of one scored assessment of one measure.

    ``scales`` and ``t_scores`` are as :class:`Score` gives them; coded scores
    (``assessment.scored``) carry only the scales their SNOMED codes name.
    """

    assessment_id: str
    measure: str
    informant: str
    completed_on: date
    emitted_at: datetime
    scales: Mapping[str, float | None]
    t_scores: Mapping[str, float | None] = field(default_factory=dict)
    caseness: bool | None = None


@dataclass(frozen=True, slots=True)
class GoalRating:
    goal_id: str
    rating: float
    rated_on: date
    emitted_at: datetime
    informant: str = "self"


@dataclass(frozen=True, slots=True)
class Referral:
    """Everything known about one referral, corrections and withdrawals already applied.

    ``profile`` is ``None`` until ``referral.opened`` arrives (events may come in any order);
    ``closed_on`` is ``None`` while the referral is open (a reopen clears it).
    """

    profile: ReferralProfile | None
    closed_on: date | None
    contacts: tuple[Contact, ...] = ()
    assessments: tuple[Assessment, ...] = ()
    goal_ratings: tuple[GoalRating, ...] = ()


@dataclass(frozen=True, slots=True)
class PairedScale:
    """First and last score of one scale of one measure and informant (outcomes.md §2)."""

    measure: str
    informant: str
    scale: str
    first: float
    last: float
    first_on: date
    last_on: date
    change: Change
    in_metric: bool


@dataclass(frozen=True, slots=True)
class HeadlineOutcome:
    """Per measure × informant on its headline scale (outcomes.md §3, added by this project)."""

    measure: str
    informant: str
    scale: str
    first: float
    last: float
    change: Change
    clinical_first: bool | None
    clinical_last: bool | None

    @property
    def recovered(self) -> bool | None:
        """Clinical at first, not at last (CORC)."""
        if self.clinical_first is None or self.clinical_last is None:
            return None
        return self.clinical_first and not self.clinical_last

    @property
    def reliably_recovered(self) -> bool | None:
        recovered = self.recovered
        if recovered is None:
            return None
        return recovered and self.change.category == "reliable_improvement"


@dataclass(frozen=True, slots=True)
class ReferralOutcome:
    """The outcome of one referral under one method: what aggregation counts."""

    method: str
    in_cohort: bool
    """Closed (and not reopened), age 0–17, received on/after 2016-01-01, ≥ 2 contacts (§1)."""
    closed_on: date | None
    with_assessment: frozenset[str]
    """Perspectives with at least one valid assessment on a metric scale."""
    paired: frozenset[str]
    """Perspectives with at least one paired metric scale."""
    categories: Mapping[str, ReferralCategory]
    """Per perspective: the referral outcome of §3 (absent when no paired scale voted)."""
    pairs: tuple[PairedScale, ...] = ()
    headlines: tuple[HeadlineOutcome, ...] = ()
