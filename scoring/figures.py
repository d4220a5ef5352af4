"""Aggregate figures: the additive counters one referral contributes, and what they publish.

Rules (``shared/spec/outcomes.md`` §4; N1 = the national CYP outcome metric MHS110–MHS115f):
- dimensions: level ``national`` (code ``ENG``), ``ccg``, ``provider``, ``team``; period by
  ``closed_on`` — month ``2019-04``, financial quarter ``2019/20 Q1`` (April–June), financial
  year ``2019/20``; cohort one dimension at a time: ``all``, ``age_band``, ``gender``,
  ``ethnic_group``, ``looked_after``, ``ld_or_autism``.
- counts MHS110–MHS115 and their percentages, one decimal half up, 0 over a zero
  denominator (N1); per measure × informant on the headline scale (added): means, SD of
  change, effect size, paired t test, reliable change, recovery, 95% Wilson intervals.

Aggregates are kept exact in PostgreSQL by moving them by the *difference* between a
referral's old and new contribution (ARCHITECTURE.md invariant 1), so everything published
is a function of sums: :func:`contribution` gives one referral's counters and keys,
:func:`movements` sums them, added or taken away; :mod:`scoring.published` derives the
published figures from the sums.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Final, NamedTuple

from scipy import sparse

from scoring.types import PERSPECTIVES, HeadlineOutcome, ReferralOutcome, ReferralProfile

Counters = dict[str, float]
Figures = dict[str, float | int | None]

NATIONAL_CODE: Final = "ENG"
TEAM_CODE_SEPARATOR: Final = "/"
CCG_PROVIDER_SEPARATOR: Final = "/"
"""Added level ``ccg_provider`` (code ``ccg/provider``): a provider's referrals from one CCG,
the rows of the commissioner table (a provider may serve several CCGs)."""
"""P: team codes are local to a provider, so a team's aggregate code is ``provider/team``."""

AGE_BANDS: Final = ((0, 4, "0-4"), (5, 10, "5-10"), (11, 15, "11-15"), (16, 17, "16-17"))

NOT_STATED: Final = "Not stated/known"
ETHNIC_GROUPS: Final[Mapping[str, str]] = {
    **dict.fromkeys("ABC", "White"),
    **dict.fromkeys("DEFG", "Mixed"),
    **dict.fromkeys("HJKL", "Asian or Asian British"),
    **dict.fromkeys("MNP", "Black or Black British"),
    **dict.fromkeys("RS", "Other"),
}
"""NHS Data Dictionary ETHNIC CATEGORY (2001 census 16+1): the national code is the first
character (a second one is local and groups with it); R Chinese and S any other are "Other
Ethnic Groups"; Z not stated, 99 not known and anything unrecognised are "Not stated/known"."""


class AggregateKey(NamedTuple):
    method: str
    level: str
    code: str
    period: str
    cohort: str
    cohort_value: str


# --- periods and cohorts ---


def _financial_year_start(day: date) -> int:
    return day.year if day.month >= 4 else day.year - 1


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def year_of(day: date) -> str:
    """Financial year April–March: 2020-03-31 -> ``2019/20``."""
    start = _financial_year_start(day)
    return f"{start:04d}/{(start + 1) % 100:02d}"


def quarter_of(day: date) -> str:
    """Financial quarter, Q1 = April–June: 2020-03-31 -> ``2019/20 Q4``."""
    return f"{year_of(day)} Q{(day.month - 4) % 12 // 3 + 1}"


def age_band(age_years: int) -> str | None:
    """The metric's age band; ``None`` outside 0–17 (not in the cohort of §1)."""
    for low, high, label in AGE_BANDS:
        if low <= age_years <= high:
            return label
    return None


def ethnic_group(ethnicity: str) -> str:
    return ETHNIC_GROUPS.get(ethnicity.strip().upper()[:1], NOT_STATED)


def _places(profile: ReferralProfile) -> list[tuple[str, str]]:
    places = [
        ("national", NATIONAL_CODE),
        ("ccg", profile.ccg_code),
        ("provider", profile.provider_code),
        ("ccg_provider", f"{profile.ccg_code}{CCG_PROVIDER_SEPARATOR}{profile.provider_code}"),
    ]
    if profile.team_code:
        team = f"{profile.provider_code}{TEAM_CODE_SEPARATOR}{profile.team_code}"
        places.append(("team", team))
    return places


def _cohorts(profile: ReferralProfile) -> list[tuple[str, str]]:
    cohorts = [
        ("all", "all"),
        ("gender", profile.gender),
        ("ethnic_group", ethnic_group(profile.ethnicity)),
        ("looked_after", str(profile.looked_after).lower()),
        ("ld_or_autism", str(profile.ld_or_autism).lower()),
    ]
    band = age_band(profile.age_years)
    if band is not None:
        cohorts.insert(1, ("age_band", band))
    return cohorts


# --- counters ---


def _headline_counters(headline: HeadlineOutcome) -> Counters:
    prefix = f"{headline.measure}.{headline.informant}."
    change = headline.last - headline.first
    counters = {
        "n_paired": 1.0,
        "sum_first": headline.first,
        "sum_last": headline.last,
        "sum_change": change,
        "sum_change_sq": change * change,
        "sum_first_sq": headline.first * headline.first,
        "with_threshold": float(headline.change.category is not None),
        "reliable_improvement": float(headline.change.category == "reliable_improvement"),
        "reliable_deterioration": float(headline.change.category == "reliable_deterioration"),
    }
    if headline.recovered is not None:
        counters["clinical_first"] = float(bool(headline.clinical_first))
        counters["recovered"] = float(headline.recovered)
        counters["reliably_recovered"] = float(bool(headline.reliably_recovered))
    return {prefix + name: value for name, value in counters.items() if value != 0}


def referral_counters(outcome: ReferralOutcome) -> Counters:
    """The non-zero counters of one in-cohort referral (the same under every key it is in)."""
    counters: Counters = {"closed_referrals": 1.0}
    for family, perspectives in (
        ("with_assessment", outcome.with_assessment),
        ("paired", outcome.paired),
    ):
        if perspectives:
            counters[family] = 1.0
        counters.update({f"{family}_{p}": 1.0 for p in perspectives if p in PERSPECTIVES})
    counters.update({f"{category}_{p}": 1.0 for p, category in outcome.categories.items()})
    for headline in outcome.headlines:
        for name, value in _headline_counters(headline).items():
            counters[name] = counters.get(name, 0.0) + value
    return counters


class Contribution(NamedTuple):
    """One referral's part in the aggregates: the same ``counters`` added to each of ``keys``."""

    keys: tuple[AggregateKey, ...]
    counters: Counters


NO_CONTRIBUTION: Final = Contribution((), {})


def contribution(profile: ReferralProfile | None, outcome: ReferralOutcome) -> Contribution:
    """What one referral adds to the aggregates; nothing outside the cohort (§1)."""
    if profile is None or outcome.closed_on is None or not outcome.in_cohort:
        return NO_CONTRIBUTION
    closed_on = outcome.closed_on
    periods = (month_of(closed_on), quarter_of(closed_on), year_of(closed_on))
    keys = tuple(
        AggregateKey(outcome.method, level, code, period, cohort, value)
        for level, code in _places(profile)
        for period in periods
        for cohort, value in _cohorts(profile)
    )
    return Contribution(keys, referral_counters(outcome))


def contributions(
    profile: ReferralProfile | None, outcome: ReferralOutcome
) -> dict[AggregateKey, Counters]:
    """:func:`contribution` spelt out key by key."""
    keys, counters = contribution(profile, outcome)
    return {key: dict(counters) for key in keys}


def movements(changes: Iterable[tuple[Contribution, float]]) -> dict[AggregateKey, Counters]:
    """Per key, the sum of the signed contributions in ``changes``, without the counters that
    net to zero and without the keys left with none.

    A referral that changed is moved by taking its old contribution away (sign -1) and adding
    its new one (+1). Each contribution adds the same counters to ~55 keys, so the sums are
    one sparse product, keys × contributions (the signs) by contributions × counters, rather
    than a dictionary update per key, counter and referral.
    """
    names: dict[str, int] = {}
    keys: dict[AggregateKey, int] = {}
    counter_rows: list[int] = []
    counter_columns: list[int] = []
    counter_values: list[float] = []
    key_rows: list[int] = []
    key_columns: list[int] = []
    signs: list[float] = []
    changed = 0
    for changed, (contribution, sign) in enumerate(changes, start=1):
        for name, value in contribution.counters.items():
            counter_rows.append(changed - 1)
            counter_columns.append(names.setdefault(name, len(names)))
            counter_values.append(value)
        for key in contribution.keys:
            key_rows.append(keys.setdefault(key, len(keys)))
            key_columns.append(changed - 1)
            signs.append(sign)
    if not keys or not names:
        return {}
    counters = sparse.csr_array(
        (counter_values, (counter_rows, counter_columns)), shape=(changed, len(names))
    )
    incidence = sparse.csr_array((signs, (key_rows, key_columns)), shape=(len(keys), changed))
    sums = incidence @ counters
    sums.eliminate_zeros()
    columns = list(names)
    settled: dict[AggregateKey, Counters] = {}
    for key, row in keys.items():
        start, stop = sums.indptr[row], sums.indptr[row + 1]
        if start < stop:
            settled[key] = dict(
                zip(
                    [columns[index] for index in sums.indices[start:stop].tolist()],
                    sums.data[start:stop].tolist(),
                    strict=True,
                )
            )
    return settled


def recompute(
    rows: Iterable[tuple[ReferralProfile | None, ReferralOutcome]],
) -> dict[AggregateKey, Counters]:
    """The batch recomputation: the sum of every referral's contributions."""
    return movements((contribution(profile, outcome), 1.0) for profile, outcome in rows)
