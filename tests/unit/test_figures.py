"""Aggregate counters and figures of outcomes.md §4, with expectations worked out by hand."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from scoring import published
from scoring.figures import (
    AggregateKey,
    Contribution,
    age_band,
    contribution,
    contributions,
    ethnic_group,
    month_of,
    movements,
    quarter_of,
    recompute,
    year_of,
)
from scoring.published import (
    MEASURE_DENOMINATORS,
    METRIC_COUNTS,
    METRIC_DENOMINATORS,
    FigureRole,
    _one_decimal,
    derive,
    figure_role,
    percentage,
    wilson_interval,
)
from scoring.types import (
    Change,
    ChangeCategory,
    HeadlineOutcome,
    ReferralOutcome,
    ReferralProfile,
)

PROFILE = ReferralProfile(
    provider_code="RXX",
    referral_id="R1",
    ccg_code="05A",
    team_code="T1",
    received_on=date(2019, 1, 10),
    age_years=7,
    gender="female",
    ethnicity="H",
    looked_after=False,
    ld_or_autism=False,
)


def headline(
    first: float,
    last: float,
    category: ChangeCategory | None,
    clinical_first: bool | None = None,
    clinical_last: bool | None = None,
) -> HeadlineOutcome:
    threshold = None if category is None else 6.0
    change = Change(last - first, first - last, threshold, category)
    return HeadlineOutcome(
        "SDQ", "parent", "total", first, last, change, clinical_first, clinical_last
    )


def outcome(closed_on: date | None = date(2019, 6, 30), **fields: object) -> ReferralOutcome:
    base = ReferralOutcome(
        method="default",
        in_cohort=True,
        closed_on=closed_on,
        with_assessment=frozenset(),
        paired=frozenset(),
        categories={},
    )
    return replace(base, **fields)  # type: ignore[arg-type]


IMPROVED = outcome(
    with_assessment=frozenset({"self", "parent"}),
    paired=frozenset({"parent"}),
    categories={"parent": "improved"},
    headlines=(headline(20, 12, "reliable_improvement", True, False),),
)


def key(
    level: str, code: str, period: str, cohort: str = "all", value: str = "all"
) -> AggregateKey:
    return AggregateKey("default", level, code, period, cohort, value)


# --- periods and cohorts ---


@pytest.mark.parametrize(
    ("day", "month", "quarter", "year"),
    [
        (date(2019, 4, 1), "2019-04", "2019/20 Q1", "2019/20"),
        (date(2019, 6, 30), "2019-06", "2019/20 Q1", "2019/20"),
        (date(2019, 7, 1), "2019-07", "2019/20 Q2", "2019/20"),
        (date(2019, 12, 31), "2019-12", "2019/20 Q3", "2019/20"),
        (date(2020, 1, 1), "2020-01", "2019/20 Q4", "2019/20"),
        (date(2020, 3, 31), "2020-03", "2019/20 Q4", "2019/20"),
        (date(2020, 4, 1), "2020-04", "2020/21 Q1", "2020/21"),
        (date(1999, 5, 1), "1999-05", "1999/00 Q1", "1999/00"),
    ],
)
def test_periods_follow_the_financial_year(day: date, month: str, quarter: str, year: str) -> None:
    assert (month_of(day), quarter_of(day), year_of(day)) == (month, quarter, year)


@pytest.mark.parametrize(
    ("age", "band"),
    [(0, "0-4"), (4, "0-4"), (5, "5-10"), (10, "5-10"), (11, "11-15"), (15, "11-15"),
     (16, "16-17"), (17, "16-17"), (18, None), (-1, None)],
)  # fmt: skip
def test_age_bands_edges(age: int, band: str | None) -> None:
    assert age_band(age) == band


@pytest.mark.parametrize(
    ("code", "group"),
    [("A", "White"), ("C", "White"), ("D", "Mixed"), ("G", "Mixed"),
     ("H", "Asian or Asian British"), ("L", "Asian or Asian British"),
     ("M", "Black or Black British"), ("P", "Black or Black British"), ("R", "Other"),
     ("S", "Other"), ("Z", "Not stated/known"), ("99", "Not stated/known"),
     ("", "Not stated/known"), ("X", "Not stated/known"), ("I", "Not stated/known"),
     ("h", "Asian or Asian British"), ("CA", "White")],
)  # fmt: skip
def test_ethnic_group_from_the_national_letter(code: str, group: str) -> None:
    assert ethnic_group(code) == group


# --- contributions ---


def test_one_referral_falls_in_every_level_period_and_cohort() -> None:
    keys = contributions(PROFILE, IMPROVED)
    # 5 levels (national, ccg, provider, ccg_provider, team) x 3 periods x 6 cohorts
    assert len(keys) == 90
    expected_counters = {
        "closed_referrals": 1.0,
        "with_assessment": 1.0,
        "with_assessment_self": 1.0,
        "with_assessment_parent": 1.0,
        "paired": 1.0,
        "paired_parent": 1.0,
        "improved_parent": 1.0,
        "SDQ.parent.n_paired": 1.0,
        "SDQ.parent.sum_first": 20.0,
        "SDQ.parent.sum_last": 12.0,
        "SDQ.parent.sum_change": -8.0,  # 12 - 20
        "SDQ.parent.sum_change_sq": 64.0,
        "SDQ.parent.sum_first_sq": 400.0,
        "SDQ.parent.with_threshold": 1.0,
        "SDQ.parent.reliable_improvement": 1.0,
        "SDQ.parent.clinical_first": 1.0,
        "SDQ.parent.recovered": 1.0,
        "SDQ.parent.reliably_recovered": 1.0,
    }
    for expected_key in (
        key("national", "ENG", "2019-06"),
        key("ccg", "05A", "2019/20 Q1", "age_band", "5-10"),
        key("provider", "RXX", "2019/20", "ethnic_group", "Asian or Asian British"),
        key("team", "RXX/T1", "2019-06", "gender", "female"),
        key("provider", "RXX", "2019-06", "looked_after", "false"),
        key("national", "ENG", "2019/20", "ld_or_autism", "false"),
    ):
        assert keys[expected_key] == expected_counters


def test_no_team_no_team_key_and_zero_counters_absent() -> None:
    profile = replace(PROFILE, team_code=None, age_years=16, ethnicity="99", looked_after=True)
    assessed = outcome(closed_on=date(2020, 3, 31), with_assessment=frozenset({"clinician"}))
    keys = contributions(profile, assessed)
    assert len(keys) == 72  # 4 levels (no team) x 3 periods x 6 cohorts
    assert all(k.level != "team" for k in keys)
    assert keys[key("national", "ENG", "2019/20 Q4", "age_band", "16-17")] == {
        "closed_referrals": 1.0,
        "with_assessment": 1.0,
        "with_assessment_clinician": 1.0,
    }
    assert key("ccg", "05A", "2019/20", "ethnic_group", "Not stated/known") in keys
    assert key("ccg", "05A", "2019/20", "looked_after", "true") in keys


@pytest.mark.parametrize(
    ("profile", "referral"),
    [
        (PROFILE, replace(IMPROVED, in_cohort=False)),
        (None, IMPROVED),
        (PROFILE, replace(IMPROVED, closed_on=None)),
    ],
)
def test_outside_the_metric_cohort_contributes_nothing(
    profile: ReferralProfile | None, referral: ReferralOutcome
) -> None:
    assert contributions(profile, referral) == {}


def test_recompute_sums_referrals_and_keeps_methods_apart() -> None:
    second = replace(PROFILE, referral_id="R2", ccg_code="06B", team_code=None)
    closed_only = outcome(closed_on=date(2020, 3, 1))
    nhs = replace(IMPROVED, method="nhs")
    totals = recompute([(PROFILE, IMPROVED), (second, closed_only), (PROFILE, nhs)])
    national_year = totals[key("national", "ENG", "2019/20")]
    assert national_year["closed_referrals"] == 2  # R1 (June) + R2 (March), default method
    assert national_year["improved_parent"] == 1
    assert totals[key("ccg", "06B", "2019/20")] == {"closed_referrals": 1.0}
    assert key("ccg", "06B", "2019-06") not in totals
    nhs_key = AggregateKey("nhs", "national", "ENG", "2019/20", "all", "all")
    assert totals[nhs_key]["closed_referrals"] == 1


def moved(
    old: tuple[ReferralProfile | None, ReferralOutcome] | None,
    new: tuple[ReferralProfile | None, ReferralOutcome] | None,
) -> dict[AggregateKey, dict[str, float]]:
    """What moving one referral from ``old`` to ``new`` changes (``None``: not there)."""
    changes = [] if old is None else [(contribution(*old), -1.0)]
    changes += [] if new is None else [(contribution(*new), 1.0)]
    return movements(changes)


def test_moving_a_referral_changes_only_what_changed() -> None:
    assert moved((PROFILE, IMPROVED), (PROFILE, IMPROVED)) == {}
    worse = replace(IMPROVED, categories={"parent": "deteriorated"})
    changes = moved((PROFILE, IMPROVED), (PROFILE, worse))
    assert len(changes) == 90
    assert all(
        counters == {"improved_parent": -1.0, "deteriorated_parent": 1.0}
        for counters in changes.values()
    )
    # Leaving the cohort removes everything it had added; moving team adds/removes team keys.
    old = contributions(PROFILE, IMPROVED)
    assert moved((PROFILE, IMPROVED), None) == {
        k: {n: -v for n, v in c.items()} for k, c in old.items()
    }
    team_moved = moved((PROFILE, IMPROVED), (replace(PROFILE, team_code="T2"), IMPROVED))
    assert {k.level for k in team_moved} == {"team"}
    assert team_moved[key("team", "RXX/T2", "2019-06")]["closed_referrals"] == 1
    assert team_moved[key("team", "RXX/T1", "2019-06")]["closed_referrals"] == -1


def test_contribution_is_one_set_of_counters_on_every_key() -> None:
    keys, counters = contribution(PROFILE, IMPROVED)
    assert contributions(PROFILE, IMPROVED) == {k: counters for k in keys}
    assert len(set(keys)) == len(keys) == 90


def test_movements_sum_signed_contributions_per_key() -> None:
    national = key("national", "ENG", "2019-06")
    june = key("ccg", "05A", "2019-06")
    changes = [
        (Contribution((national, june), {"paired": 2.0, "closed_referrals": 3.0}), 1.0),
        (Contribution((national,), {"paired": 1.0, "closed_referrals": 1.0}), 1.0),
        (Contribution((june,), {"paired": 2.0, "closed_referrals": 2.0}), -1.0),
    ]
    # national 2 + 1 paired, 3 + 1 closed; June's CCG 2 - 2 = 0 (dropped), 3 - 2 closed.
    assert movements(changes) == {
        national: {"paired": 3.0, "closed_referrals": 4.0},
        june: {"closed_referrals": 1.0},
    }
    taken_back = [(contribution, -sign) for contribution, sign in changes]
    assert movements(changes + taken_back) == {}
    assert movements([]) == {}


versions = st.builds(
    lambda closed, category, first, last, team: (
        replace(PROFILE, team_code=team),
        outcome(
            closed_on=date(2019, closed, 1),
            paired=frozenset({"self"}),
            with_assessment=frozenset({"self"}),
            categories={} if category is None else {"self": category},
            headlines=(headline(first, last, None),),
        ),
    ),
    st.integers(1, 12),
    st.sampled_from([None, "improved", "deteriorated", "no_change"]),
    st.integers(0, 40),
    st.integers(0, 40),
    st.sampled_from([None, "T1", "T2"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), versions), max_size=12))
def test_applying_deltas_equals_batch_recomputation(
    updates: list[tuple[int, tuple[ReferralProfile, ReferralOutcome]]],
) -> None:
    """A store moved by differences as updates arrive equals a recomputation of the end state."""
    latest: dict[int, tuple[ReferralProfile, ReferralOutcome]] = {}
    store: dict[AggregateKey, dict[str, float]] = {}
    for referral, version in updates:
        changes = [(contribution(*version), 1.0)]
        if referral in latest:
            changes.append((contribution(*latest[referral]), -1.0))
        for moved_key, delta in movements(changes).items():
            counters = store.setdefault(moved_key, {})
            for name, value in delta.items():
                counters[name] = counters.get(name, 0.0) + value
        latest[referral] = version
    settled = {k: {n: v for n, v in c.items() if v} for k, c in store.items()}
    assert {k: c for k, c in settled.items() if c} == recompute(latest.values())


# --- derived figures ---


def test_percentages_round_half_up_to_one_decimal() -> None:
    figures = derive(
        {"closed_referrals": 400, "with_assessment": 33, "paired": 1, "paired_self": 3,
         "improved_self": 2, "no_change_self": 1}
    )  # fmt: skip
    assert figures["closed_referrals"] == 400
    assert figures["pct_with_assessment"] == 8.3  # 33/400 = 8.25% -> 8.3 (half even would give 8.2)
    assert figures["pct_paired"] == 0.3  # 1/400 = 0.25% -> 0.3
    assert figures["pct_paired_self"] == 0.8  # 3/400 = 0.75%
    assert figures["pct_improved_self"] == 66.7  # 2/3 of paired_self = 66.66…%
    assert figures["pct_no_change_self"] == 33.3
    assert figures["deteriorated_self"] == 0
    assert figures["pct_deteriorated_self"] == 0.0
    assert figures["pct_improved_parent"] == 0.0  # denominator paired_parent = 0


def test_empty_counters_derive_zeros() -> None:
    figures = derive({})
    assert figures["closed_referrals"] == 0
    assert figures["pct_with_assessment_clinician"] == 0.0
    assert len(figures) == 1 + 8 + 9 + 17  # counts, MHS111–112 family, MHS113–115, percentages


def test_measure_statistics_by_hand() -> None:
    # Four parent SDQ totals: first 20 18 15 11, last 12 16 15 5; change -8 -2 0 -6.
    referrals = [
        headline(20, 12, "reliable_improvement", True, False),
        headline(18, 16, "no_reliable_change", True, True),
        headline(15, 15, None, None, False),  # no threshold, caseness unknown at first
        headline(11, 5, "reliable_improvement", True, False),
    ]
    rows = [
        (replace(PROFILE, referral_id=str(i)), outcome(headlines=(h,)))
        for i, h in enumerate(referrals)
    ]
    totals = recompute(rows)[key("national", "ENG", "2019-06")]
    figures = derive(totals)
    assert figures["SDQ.parent.n_paired"] == 4
    assert figures["SDQ.parent.mean_first"] == 16.0  # 64 / 4
    assert figures["SDQ.parent.mean_last"] == 12.0  # 48 / 4
    assert figures["SDQ.parent.mean_change"] == -4.0  # -16 / 4
    # SD of change: (Σc² - n·mean²)/(n-1) = (64+4+0+36 - 4·16)/3 = 40/3 -> √13.333 = 3.651484
    assert figures["SDQ.parent.sd_change"] == pytest.approx(3.651484, abs=1e-6)
    # SD of first: (400+324+225+121 - 4·256)/3 = 46/3 -> 3.915780; effect -4/3.915780 = -1.021508
    assert figures["SDQ.parent.effect_size"] == pytest.approx(-1.021508, abs=1e-6)
    # t = -4 / (3.651484/√4) = -2.190890
    assert figures["SDQ.parent.t_statistic"] == pytest.approx(-2.190890, abs=1e-6)
    # df = 3: P(|T| > t) = 1 - (2/π)(θ + sinθ cosθ), θ = atan(t/√3) = 0.901808 -> 0.116158
    theta = math.atan(2.190890 / math.sqrt(3))
    p_by_hand = 1 - 2 / math.pi * (theta + math.sin(theta) * math.cos(theta))
    assert p_by_hand == pytest.approx(0.116158, abs=1e-6)
    assert figures["SDQ.parent.p_value"] == pytest.approx(p_by_hand, abs=1e-6)
    # reliable change over the 3 pairs with a threshold: 2 improved (66.7%), 0 deteriorated
    assert figures["SDQ.parent.with_threshold"] == 3
    assert figures["SDQ.parent.reliable_improvement"] == 2
    assert figures["SDQ.parent.pct_reliable_improvement"] == 66.7
    # Wilson 2/3: centre (0.6667+0.6402)/2.2805 = 0.5731, half 0.3654 -> 20.8% … 93.9%
    assert figures["SDQ.parent.pct_reliable_improvement_ci_low"] == 20.8
    assert figures["SDQ.parent.pct_reliable_improvement_ci_high"] == 93.9
    assert figures["SDQ.parent.pct_reliable_deterioration"] == 0.0
    # recovery over the 3 clinical at first (the 4th has no caseness at first): pairs 1 and 4
    assert figures["SDQ.parent.clinical_first"] == 3
    assert figures["SDQ.parent.recovered"] == 2
    assert figures["SDQ.parent.reliably_recovered"] == 2
    assert figures["SDQ.parent.pct_recovered"] == 66.7


def test_statistics_undefined_for_one_pair() -> None:
    rows = [(PROFILE, outcome(headlines=(headline(10, 7, None),)))]
    figures = derive(recompute(rows)[key("national", "ENG", "2019-06")])
    assert figures["SDQ.parent.mean_change"] == -3.0
    assert figures["SDQ.parent.sd_change"] is None
    assert figures["SDQ.parent.effect_size"] is None
    assert figures["SDQ.parent.t_statistic"] is None
    assert figures["SDQ.parent.p_value"] is None
    assert figures["SDQ.parent.pct_reliable_improvement_ci_low"] is None  # 0 with a threshold


def test_identical_changes_give_zero_sd_and_no_t() -> None:
    rows = [
        (
            replace(PROFILE, referral_id=str(i)),
            outcome(headlines=(headline(first, first - 2, None),)),
        )
        for i, first in enumerate((10.1, 13.7, 20.3))
    ]
    figures = derive(recompute(rows)[key("national", "ENG", "2019-06")])
    assert figures["SDQ.parent.sd_change"] == 0.0
    assert figures["SDQ.parent.t_statistic"] is None


def test_wilson_interval_by_hand() -> None:
    # 8/10, z = 1.959964, z²/n = 0.384146: centre 0.992073/1.384146 = 0.716738,
    # half = 1.416009 · √(0.016 + 0.009604) = 0.226578 -> (0.4902, 0.9433)
    low, high = wilson_interval(8, 10) or (0.0, 0.0)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    # 0/10: (0, z²/n / (1 + z²/n)) = (0, 0.2775)
    low, high = wilson_interval(0, 10) or (1.0, 1.0)
    assert (low, round(high, 4)) == (0.0, 0.2775)
    assert wilson_interval(0, 0) is None


def test_percentage_helper() -> None:
    assert percentage(1, 8) == 12.5
    assert percentage(1, 400) == 0.3
    assert percentage(0, 0) == 0.0


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("closed_referrals", FigureRole("count")),
        ("improved_self", FigureRole("count")),
        ("pct_paired_parent", FigureRole("percentage", "paired_parent", "closed_referrals")),
        (
            "pct_no_change_clinician",
            FigureRole("percentage", "no_change_clinician", "paired_clinician"),
        ),
        ("SDQ.self.n_paired", FigureRole("count")),
        ("SDQ.self.mean_change", FigureRole("statistic", sample_size="SDQ.self.n_paired")),
        (
            "GBO.self.pct_recovered",
            FigureRole("percentage", "GBO.self.recovered", "GBO.self.clinical_first"),
        ),
        (
            "SDQ.self.pct_reliable_deterioration_ci_high",
            FigureRole("interval", "SDQ.self.reliable_deterioration", "SDQ.self.with_threshold"),
        ),
    ],
)
def test_figure_roles(name: str, role: FigureRole) -> None:
    assert figure_role(name) == role


@pytest.mark.parametrize(
    "name", ["pct_closed_referrals", "SDQ.self.sum_first", "pct_paired_ci_low", "x"]
)
def test_unknown_figures_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown figure"):
        figure_role(name)


def test_every_derived_figure_has_a_role() -> None:
    rows = [(PROFILE, IMPROVED)]
    for name in derive(recompute(rows)[key("national", "ENG", "2019-06")]):
        figure_role(name)


# --- the fast path against a plain reference ---
# ``derive`` avoids Fraction and scipy's distribution objects for speed (benchmarks/figures.py);
# this is the straightforward version it replaced, kept here to pin every published value.


def _reference_one_decimal(value: Fraction) -> float:
    return math.floor(value * 10 + Fraction(1, 2)) / 10


def _reference_percentage(numerator: int, denominator: int) -> float:
    if denominator == 0:
        return 0.0
    return _reference_one_decimal(Fraction(100 * numerator, denominator))


def _reference_measure(prefix: str, counters: Mapping[str, float]) -> dict[str, object]:
    def value(name: str) -> float:
        return counters.get(f"{prefix}.{name}", 0.0)

    def count(name: str) -> int:
        return round(value(name))

    def sd(total: float, total_sq: float, n: int) -> float | None:
        if n < 2:
            return None
        spread = total_sq - total * total / n
        if spread <= 1e-9 * max(total_sq, 1.0):
            return 0.0
        return math.sqrt(spread / (n - 1))

    n = count("n_paired")
    mean_first = value("sum_first") / n if n else None
    mean_change = value("sum_change") / n if n else None
    sd_change = sd(value("sum_change"), value("sum_change_sq"), n)
    sd_first = sd(value("sum_first"), value("sum_first_sq"), n)
    effect_size = t_statistic = p_value = None
    if mean_change is not None and sd_first:
        effect_size = mean_change / sd_first
    if mean_change is not None and sd_change:
        t_statistic = mean_change / (sd_change / math.sqrt(n))
        p_value = float(2 * stats.t.sf(abs(t_statistic), n - 1))
    figures: dict[str, object] = {
        "n_paired": n,
        "mean_first": mean_first,
        "mean_last": value("sum_last") / n if n else None,
        "mean_change": mean_change,
        "sd_change": sd_change,
        "effect_size": effect_size,
        "t_statistic": t_statistic,
        "p_value": p_value,
        "with_threshold": count("with_threshold"),
        "clinical_first": count("clinical_first"),
    }
    for name, denominator in MEASURE_DENOMINATORS.items():
        numerator, total = count(name), count(denominator)
        figures[name] = numerator
        figures[f"pct_{name}"] = _reference_percentage(numerator, total)
        interval = wilson_interval(numerator, total)
        bounds = (None, None) if interval is None else interval
        for suffix, bound in zip(("_ci_low", "_ci_high"), bounds, strict=True):
            shown = None if bound is None else _reference_one_decimal(Fraction(100 * bound))
            figures[f"pct_{name}{suffix}"] = shown
    return {f"{prefix}.{name}": figure for name, figure in figures.items()}


def reference_derive(counters: Mapping[str, float]) -> dict[str, object]:
    figures: dict[str, object] = {name: round(counters.get(name, 0.0)) for name in METRIC_COUNTS}
    for name, denominator in METRIC_DENOMINATORS.items():
        figures[f"pct_{name}"] = _reference_percentage(
            round(counters.get(name, 0.0)), round(counters.get(denominator, 0.0))
        )
    for prefix in sorted({name.rsplit(".", 1)[0] for name in counters if "." in name}):
        figures.update(_reference_measure(prefix, counters))
    return figures


def _identical(fast: Mapping[str, object], reference: Mapping[str, object]) -> bool:
    """Same names in the same order, same types, same values (floats bit for bit)."""
    return list(fast.items()) == list(reference.items()) and all(
        type(fast[name]) is type(reference[name]) for name in reference
    )


SCOPES = ("SDQ.parent", "SDQ.self", "RCADS.self", "HoNOSCA.clinician", "GBO.self")


@st.composite
def summed_counters(draw: st.DrawFn) -> dict[str, float]:
    """Counters as merge leaves them: whole counts, sums of scores (some on 1/3 or 0.1 steps),
    zeros dropped; every count below the count it is a share of."""
    counters: dict[str, float] = {}
    closed = draw(st.integers(0, 400))
    counters["closed_referrals"] = closed
    for name, denominator in METRIC_DENOMINATORS.items():
        if denominator == "closed_referrals":
            counters[name] = draw(st.integers(0, closed))
    for name, denominator in METRIC_DENOMINATORS.items():
        if denominator != "closed_referrals":
            counters[name] = draw(st.integers(0, round(counters[denominator])))
    for scope in draw(st.lists(st.sampled_from(SCOPES), unique=True)):
        n = draw(st.integers(0, 60))
        step = draw(st.sampled_from([1.0, 0.1, 1 / 3, 0.25]))
        firsts = draw(st.lists(st.integers(0, 160), min_size=n, max_size=n))
        lasts = draw(st.lists(st.integers(0, 160), min_size=n, max_size=n))
        if draw(st.booleans()):
            lasts = [first - 2 for first in firsts]  # identical changes: SD 0, no t test
        changes = [(last - first) * step for first, last in zip(firsts, lasts, strict=True)]
        threshold = draw(st.integers(0, n))
        clinical = draw(st.integers(0, n))
        recovered = draw(st.integers(0, clinical))
        sums = {
            "n_paired": float(n),
            "sum_first": sum(first * step for first in firsts),
            "sum_last": sum(last * step for last in lasts),
            "sum_change": sum(changes),
            "sum_change_sq": sum(change * change for change in changes),
            "sum_first_sq": sum((first * step) ** 2 for first in firsts),
            "with_threshold": float(threshold),
            "reliable_improvement": float(draw(st.integers(0, threshold))),
            "reliable_deterioration": float(draw(st.integers(0, threshold))),
            "clinical_first": float(clinical),
            "recovered": float(recovered),
            "reliably_recovered": float(draw(st.integers(0, recovered))),
        }
        counters.update({f"{scope}.{name}": value for name, value in sums.items()})
    return {name: float(value) for name, value in counters.items() if value != 0}


@settings(max_examples=300, deadline=None)
@given(summed_counters())
def test_derive_equals_the_fraction_reference(counters: dict[str, float]) -> None:
    assert _identical(derive(counters), reference_derive(counters))


@settings(max_examples=100, deadline=None)
@given(summed_counters())
def test_headline_is_the_reference_without_measure_scopes(counters: dict[str, float]) -> None:
    expected = {name: v for name, v in reference_derive(counters).items() if "." not in name}
    assert _identical(published.headline(counters), expected)


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_percentage_equals_exact_half_up(numerator: int, denominator: int) -> None:
    assert percentage(numerator, denominator) == _reference_percentage(numerator, denominator)


@pytest.mark.parametrize(
    ("numerator", "denominator", "shown"),
    [(1, 8, 12.5), (1, 16, 6.3), (3, 16, 18.8), (5, 16, 31.3), (1, 32, 3.1), (1, 80, 1.3),
     (33, 400, 8.3), (1, 400, 0.3), (7, 8, 87.5), (1, 3, 33.3), (2, 3, 66.7), (0, 5, 0.0),
     (5, 5, 100.0)],
)  # fmt: skip
def test_percentage_ties_round_up(numerator: int, denominator: int, shown: float) -> None:
    # 1/16 = 6.25% -> 6.3; 3/16 = 18.75% -> 18.8; 5/16 = 31.25% -> 31.3; 1/32 = 3.125% -> 3.1;
    # 1/80 = 1.25% -> 1.3: each an exact tie in binary, where float rounding could go down.
    assert percentage(numerator, denominator) == shown


def test_extreme_and_odd_counters_match_the_reference() -> None:
    odd = [
        {"closed_referrals": 3.0, "events": 7.0},  # an undotted counter that is no figure
        {"SDQ.parent.sum_first": 1e-13},  # float residue of a drained key: n = 0
        {"SDQ.parent.n_paired": 1.0, "SDQ.parent.sum_change": -3.0},  # one pair: no SD
        {"SDQ.parent.n_paired": -1.0, "SDQ.parent.sum_first": 4.0},  # an inconsistent store
        {"a.b.c.n_paired": 2.0, "a.b.c.sum_change": 1.0, "a.b.c.sum_change_sq": 5.0},
        {
            "SDQ.parent.n_paired": 1e6,
            "SDQ.parent.sum_change": -2e6,
            "SDQ.parent.sum_change_sq": 5e6,
        },
    ]
    for counters in odd:
        assert _identical(derive(counters), reference_derive(counters))


@pytest.mark.parametrize(
    ("value", "shown"),
    [(12.25, 12.3), (0.25, 0.3), (1.75, 1.8), (33.75, 33.8), (12.249999, 12.2), (0.0, 0.0)],
)
def test_interval_bounds_round_half_up_exactly(value: float, shown: float) -> None:
    # 12.25, 0.25, 1.75 and 33.75 are exact binary fractions on a tie: half up, not to even
    assert _one_decimal(value) == shown
