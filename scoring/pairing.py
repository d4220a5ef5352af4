"""Per-referral pairing and referral outcome (outcomes.md §1–3, the national rules of N1).

Rules:
- §1 cohort: a profile, age 0–17, received on/after 2016-01-01, closed (``closed_on`` set,
  so not reopened), at least two counted contacts on or before ``closed_on``: attended
  direct contacts and every indirect one. Contacts 1 and 2 are the first two counted.
- §2 pairing per (measure, informant, scale): assessments completed on or before
  ``closed_on`` (all while open); the same scale, date and value counts once; ordered by
  completion date, ``emitted_at``, ``assessment_id``. First = earliest on/after contact 1;
  last = latest that is not the first and is on/after contact 2. RCADS pairs T-scores;
  without both T-scores the pair has no flag, except under ``nhs``, which compares the raw
  change with the T threshold (the national quirk). Each GBO goal is its own scale.
- metric scales (``scoring.codes.METRIC_SCALES``, any GBO goal) alone count for "has an
  assessment", "paired" and categories; every other scale is still paired and reported.
- perspective = informant (teacher has none); under ``nhs`` the national perspective, which
  counts HoNOSCA self-rated scale 1 under ``parent``.
- §3 categories per perspective over paired metric scales with a threshold: deteriorated if
  any reliably deteriorated, else improved if any improved, else no change.
- headlines (added by this project): first, last, change and caseness on the headline scale
  of each measure × informant, and the mean of the paired GBO goals.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from statistics import fmean
from typing import Final

from scoring.change import (
    GBO,
    GOAL_SCALE,
    NATIONAL_METHOD,
    T_SCORE_MEASURES,
    check_method,
    reliable_change,
)
from scoring.codes import CODES, METRIC_SCALES
from scoring.types import (
    PERSPECTIVES,
    Change,
    HeadlineOutcome,
    PairedScale,
    Referral,
    ReferralCategory,
    ReferralOutcome,
)

COHORT_RECEIVED_FROM: Final = date(2016, 1, 1)
"""N1: referrals received before 2016 are outside the metric."""
COHORT_AGES: Final = range(0, 18)
"""N1: age at referral 0–17."""
MIN_CONTACTS: Final = 2

NEVER_PAIRED: Final = frozenset({"SRS", "CSRS"})
"""measures.md § SRS / CSRS: session alliance, not an outcome measure — never paired."""

HEADLINE_SCALES: Final[Mapping[str, str]] = {
    "SDQ": "total",
    "RCADS": "total",
    "HONOSCA": "total",
    "ORS": "total",
    "CORS": "total",
}
"""outcomes.md §3 (added): the scale each measure reports on. RCADS total on raw scores."""

GOAL_MEAN_SCALE: Final = "goal_mean"
"""P: the GBO headline is the mean of the paired goals' first and last ratings, classified
with the single-goal threshold (3 points, N1 gives none for the mean)."""

NATIONAL_PERSPECTIVE: Final[Mapping[tuple[str, str, str], str]] = {
    (coded.measure, coded.informant, coded.scale): coded.national_perspective
    for coded in CODES.values()
    if coded.in_metric and coded.national_perspective is not None
}

ScaleKey = tuple[str, str, str]
"""(measure, informant, scale)."""


@dataclass(frozen=True, slots=True)
class _Observation:
    """One dated score of one scale, from an assessment or a goal rating."""

    on: date
    emitted_at: datetime
    source_id: str
    value: float
    t_score: float | None
    caseness: bool | None


def _counted_contact_dates(referral: Referral) -> list[date]:
    """Dates of attended direct and all indirect contacts up to closure, in order (§1)."""
    return sorted(
        contact.contact_on
        for contact in referral.contacts
        if (contact.attended or contact.kind == "indirect")
        and (referral.closed_on is None or contact.contact_on <= referral.closed_on)
    )


def _in_cohort(referral: Referral, n_contacts: int) -> bool:
    profile = referral.profile
    return (
        profile is not None
        and profile.age_years in COHORT_AGES
        and profile.received_on >= COHORT_RECEIVED_FROM
        and referral.closed_on is not None
        and n_contacts >= MIN_CONTACTS
    )


def _observations(referral: Referral) -> dict[ScaleKey, list[_Observation]]:
    """Every scored value completed on or before closure, grouped by scale."""
    closed_on = referral.closed_on
    groups: dict[ScaleKey, list[_Observation]] = defaultdict(list)
    for assessment in referral.assessments:
        if assessment.measure in NEVER_PAIRED:
            continue
        if closed_on is not None and assessment.completed_on > closed_on:
            continue
        for scale, value in assessment.scales.items():
            if value is None:
                continue
            groups[(assessment.measure, assessment.informant, scale)].append(
                _Observation(
                    on=assessment.completed_on,
                    emitted_at=assessment.emitted_at,
                    source_id=assessment.assessment_id,
                    value=value,
                    t_score=assessment.t_scores.get(scale),
                    caseness=assessment.caseness,
                )
            )
    for rating in referral.goal_ratings:
        if closed_on is not None and rating.rated_on > closed_on:
            continue
        groups[(GBO, rating.informant, f"{GOAL_SCALE}_{rating.goal_id}")].append(
            _Observation(
                on=rating.rated_on,
                emitted_at=rating.emitted_at,
                source_id=rating.goal_id,
                value=rating.rating,
                t_score=None,
                caseness=None,
            )
        )
    return groups


def _first_and_last(
    observations: Iterable[_Observation], contact_1: date, contact_2: date
) -> tuple[_Observation, _Observation] | None:
    """§2: de-duplicate, order, then first on/after contact 1, last on/after contact 2.

    The value closes the order only so that goal ratings (no id) sort the same every time.
    """
    ordered = sorted(
        observations, key=lambda seen: (seen.on, seen.emitted_at, seen.source_id, seen.value)
    )
    unique: list[_Observation] = []
    seen_values: set[tuple[date, float, float | None]] = set()
    for observation in ordered:
        key = (observation.on, observation.value, observation.t_score)
        if key not in seen_values:
            seen_values.add(key)
            unique.append(observation)
    first = next((seen for seen in unique if seen.on >= contact_1), None)
    last = unique[-1]
    if first is None or last is first or last.on < contact_2:
        return None
    return first, last


def _is_metric(key: ScaleKey) -> bool:
    measure, _, _ = key
    return measure == GBO or key in METRIC_SCALES


def _perspective(key: ScaleKey, method: str) -> str | None:
    informant = key[1]
    if method == NATIONAL_METHOD:
        informant = NATIONAL_PERSPECTIVE.get(key, informant)
    return informant if informant in PERSPECTIVES else None


def _pair(key: ScaleKey, first: _Observation, last: _Observation, method: str) -> PairedScale:
    """The pair's values and change; RCADS on T-scores where both exist (§2)."""
    measure, informant, scale = key
    start, end = first.value, last.value
    unflagged = False
    if measure in T_SCORE_MEASURES:
        if first.t_score is not None and last.t_score is not None:
            start, end = first.t_score, last.t_score
        else:
            unflagged = method != NATIONAL_METHOD
    change = reliable_change(measure, informant, scale, start, end, method=method)
    if unflagged:
        change = dataclasses.replace(change, threshold=None, category=None)
    return PairedScale(
        measure=measure,
        informant=informant,
        scale=scale,
        first=start,
        last=end,
        first_on=first.on,
        last_on=last.on,
        change=change,
        in_metric=_is_metric(key),
    )


def _category(changes: Iterable[Change]) -> ReferralCategory | None:
    """§3: deterioration wins; a pair without a threshold votes for nothing."""
    votes = {change.category for change in changes if change.category is not None}
    if "reliable_deterioration" in votes:
        return "deteriorated"
    if "reliable_improvement" in votes:
        return "improved"
    return "no_change" if votes else None


def _headlines(
    selections: Mapping[ScaleKey, tuple[_Observation, _Observation]], method: str
) -> list[HeadlineOutcome]:
    headlines: list[HeadlineOutcome] = []
    goals: dict[str, list[tuple[_Observation, _Observation]]] = defaultdict(list)
    for (measure, informant, scale), (first, last) in selections.items():
        if measure == GBO:
            goals[informant].append((first, last))
        elif HEADLINE_SCALES.get(measure) == scale:
            headlines.append(
                HeadlineOutcome(
                    measure=measure,
                    informant=informant,
                    scale=scale,
                    first=first.value,
                    last=last.value,
                    change=reliable_change(
                        measure, informant, scale, first.value, last.value, method=method
                    ),
                    clinical_first=first.caseness,
                    clinical_last=last.caseness,
                )
            )
    for informant, pairs in goals.items():
        mean_first = fmean(first.value for first, _ in pairs)
        mean_last = fmean(last.value for _, last in pairs)
        headlines.append(
            HeadlineOutcome(
                measure=GBO,
                informant=informant,
                scale=GOAL_MEAN_SCALE,
                first=mean_first,
                last=mean_last,
                change=reliable_change(
                    GBO, informant, GOAL_SCALE, mean_first, mean_last, method=method
                ),
                clinical_first=None,
                clinical_last=None,
            )
        )
    return sorted(headlines, key=lambda headline: (headline.measure, headline.informant))


@dataclass(frozen=True, slots=True)
class _Selection:
    """What §1–2 decide whatever the method: the counted contacts, the scales with a score,
    and the first and last score of each scale that has both."""

    n_contacts: int
    scales: tuple[ScaleKey, ...]
    selections: dict[ScaleKey, tuple[_Observation, _Observation]]


def _select(referral: Referral) -> _Selection:
    contact_dates = _counted_contact_dates(referral)
    groups = _observations(referral)
    selections: dict[ScaleKey, tuple[_Observation, _Observation]] = {}
    if len(contact_dates) >= MIN_CONTACTS:
        contact_1, contact_2 = contact_dates[0], contact_dates[1]
        for key in sorted(groups):
            selected = _first_and_last(groups[key], contact_1, contact_2)
            if selected is not None:
                selections[key] = selected
    return _Selection(len(contact_dates), tuple(groups), selections)


def referral_outcome(referral: Referral, *, method: str = "default") -> ReferralOutcome:
    """Cohort membership, pairs, perspectives and categories of one referral (§1–3)."""
    check_method(method)
    return _outcome(referral, _select(referral), method)


def referral_outcomes(referral: Referral, methods: Iterable[str]) -> list[ReferralOutcome]:
    """:func:`referral_outcome` under each of ``methods``, selecting the first and last scores
    (which no method changes) once."""
    checked = list(methods)
    for method in checked:
        check_method(method)
    selection = _select(referral)
    return [_outcome(referral, selection, method) for method in checked]


def _outcome(referral: Referral, selection: _Selection, method: str) -> ReferralOutcome:
    with_assessment = {
        perspective
        for key in selection.scales
        if _is_metric(key) and (perspective := _perspective(key, method)) is not None
    }
    selections = selection.selections
    pairs = tuple(_pair(key, first, last, method) for key, (first, last) in selections.items())
    voting: dict[str, list[Change]] = defaultdict(list)
    paired: set[str] = set()
    for key, pair in zip(selections, pairs, strict=True):
        perspective = _perspective(key, method)
        if pair.in_metric and perspective is not None:
            paired.add(perspective)
            voting[perspective].append(pair.change)
    categories = {
        perspective: category
        for perspective, changes in voting.items()
        if (category := _category(changes)) is not None
    }

    return ReferralOutcome(
        method=method,
        in_cohort=_in_cohort(referral, selection.n_contacts),
        closed_on=referral.closed_on,
        with_assessment=frozenset(with_assessment),
        paired=frozenset(paired),
        categories=categories,
        pairs=pairs,
        headlines=tuple(_headlines(selections, method)),
    )
