"""Suppression of published figures (outcomes.md §5), expectations worked out by hand."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.published import derive, figure_role, wilson_interval
from scoring.suppression import (
    Published,
    suppress_count,
    suppress_figures,
    suppress_percentage,
)


@pytest.mark.parametrize(
    ("n", "shown"),
    [(0, 0), (1, "*"), (4, "*"), (5, 5), (7, 5), (8, 10), (10, 10), (12, 10), (13, 15),
     (17, 15), (18, 20), (102, 100), (103, 105), (4.0, "*"), (8.0, 10)],
)  # fmt: skip
def test_counts_below_five_hidden_others_to_nearest_five(n: float, shown: int | str) -> None:
    assert suppress_count(n) == shown


@pytest.mark.parametrize("bad", [-1, 2.5])
def test_counts_must_be_non_negative_integers(bad: float) -> None:
    with pytest.raises(ValueError, match="non-negative integer"):
        suppress_count(bad)


@pytest.mark.parametrize(
    ("numerator", "denominator", "shown"),
    [
        (0, 7, 0),  # zero shows as 0
        (0, 0, 0),  # §4: 0 when the denominator is 0
        (1, 7, "*"),
        (4, 9, "*"),  # numerator 4 -> hidden
        (5, 9, 56),  # 55.56% -> 56
        (5, 40, 13),  # 12.5% -> 13: half up
        (7, 12, 58),  # from unrounded counts 58.33%, not 5/10 = 50%
        (5, 5, 100),
    ],
)
def test_percentages(numerator: int, denominator: int, shown: int | str) -> None:
    assert suppress_percentage(numerator, denominator) == shown


@given(st.integers(5, 10_000))
def test_rounded_counts_are_multiples_of_five_within_two(n: int) -> None:
    shown = suppress_count(n)
    assert isinstance(shown, int)
    assert shown % 5 == 0
    assert abs(shown - n) <= 2


FIGURES: dict[str, int | float | None] = {
    "closed_referrals": 12,
    "paired": 4,
    "pct_paired": 33.3,
    "paired_parent": 7,
    "pct_paired_parent": 58.3,
    "improved_parent": 5,
    "pct_improved_parent": 71.4,
    "SDQ.parent.n_paired": 4,
    "SDQ.parent.mean_change": -3.25,
    "SDQ.parent.p_value": 0.2,
    "SDQ.parent.sd_change": None,
    "SDQ.parent.with_threshold": 10,
    "SDQ.parent.reliable_improvement": 8,
    "SDQ.parent.pct_reliable_improvement": 80.0,
    "SDQ.parent.pct_reliable_improvement_ci_low": 49.0,
    "SDQ.parent.pct_reliable_improvement_ci_high": 94.3,
    "SDQ.parent.clinical_first": 0,
    "SDQ.parent.recovered": 0,
    "SDQ.parent.pct_recovered": 0.0,
    "SDQ.parent.pct_recovered_ci_low": None,
    "SDQ.parent.reliable_deterioration": 2,
    "SDQ.parent.pct_reliable_deterioration_ci_high": 55.4,
}


def test_figures_of_a_provider_are_suppressed_by_role() -> None:
    shown = suppress_figures(FIGURES, "provider")
    assert shown["closed_referrals"] == 10  # 12 -> 10
    assert shown["paired"] == "*"  # 4
    assert shown["pct_paired"] == "*"  # numerator 4
    assert shown["paired_parent"] == 5  # 7 -> 5
    assert shown["pct_paired_parent"] == 58  # 7/12 = 58.33% from unrounded counts
    assert shown["improved_parent"] == 5
    assert shown["pct_improved_parent"] == 71  # 5/7 = 71.43%
    assert shown["SDQ.parent.n_paired"] == "*"
    assert shown["SDQ.parent.mean_change"] == "*"  # fewer than 5 pairs
    assert shown["SDQ.parent.p_value"] == "*"
    assert shown["SDQ.parent.sd_change"] is None  # undefined stays undefined
    assert shown["SDQ.parent.reliable_improvement"] == 10  # 8 -> 10
    assert shown["SDQ.parent.pct_reliable_improvement"] == 80  # 8/10
    # Wilson 8/10 recomputed from the counts: 49.02% -> 49, 94.33% -> 94
    assert shown["SDQ.parent.pct_reliable_improvement_ci_low"] == 49
    assert shown["SDQ.parent.pct_reliable_improvement_ci_high"] == 94
    assert shown["SDQ.parent.recovered"] == 0
    assert shown["SDQ.parent.pct_recovered"] == 0
    assert shown["SDQ.parent.pct_recovered_ci_low"] is None  # 0 clinical at first: no interval
    assert shown["SDQ.parent.reliable_deterioration"] == "*"
    assert shown["SDQ.parent.pct_reliable_deterioration_ci_high"] == "*"  # numerator 2


def test_statistics_of_five_pairs_are_published() -> None:
    shown = suppress_figures({"SDQ.parent.n_paired": 5, "SDQ.parent.mean_change": -3.25}, "ccg")
    assert shown == {"SDQ.parent.n_paired": 5, "SDQ.parent.mean_change": -3.25}


def test_national_level_is_exact() -> None:
    assert suppress_figures(FIGURES, "national") == FIGURES


def test_unknown_or_orphaned_figures_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown figure"):
        suppress_figures({"secret": 3}, "team")
    with pytest.raises(ValueError, match="needed"):
        suppress_figures({"pct_paired": 50.0}, "team")  # its counts are not there


# --- the fast path against a plain reference ---
# ``suppress_figures`` groups figures by role and caches roundings for speed
# (benchmarks/figures.py); this is the figure-by-figure version it replaced.


def _reference_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def _reference_count(value: float) -> int | str:
    count = round(value)
    if count == 0:
        return 0
    return "*" if count < 5 else 5 * _reference_half_up(Fraction(count, 5))


def _reference_percentage(numerator: float, denominator: float) -> int | str:
    count, total = round(numerator), round(denominator)
    if count == 0 or total == 0:
        return 0
    return "*" if count < 5 else _reference_half_up(Fraction(100 * count, total))


def reference_suppress(figures: Mapping[str, Published]) -> dict[str, Published]:
    def count_of(name: str | None) -> float:
        value = figures[name or ""]
        assert isinstance(value, int | float)
        return value

    published: dict[str, Published] = {}
    for name, value in figures.items():
        role = figure_role(name)
        if role.kind == "count":
            published[name] = _reference_count(count_of(name))
        elif role.kind == "percentage":
            numerator, denominator = count_of(role.numerator), count_of(role.denominator)
            published[name] = _reference_percentage(numerator, denominator)
        elif role.kind == "interval":
            numerator, denominator = count_of(role.numerator), count_of(role.denominator)
            interval = wilson_interval(round(numerator), round(denominator))
            if interval is None:
                published[name] = None
            elif numerator < 5:
                published[name] = "*"
            else:
                bound = interval[name.endswith("_ci_high")]
                published[name] = _reference_half_up(Fraction(100 * bound))
        else:
            small = count_of(role.sample_size) < 5
            published[name] = "*" if small and value is not None else value
    return published


@st.composite
def derived_figures(draw: st.DrawFn) -> dict[str, Published]:
    closed = draw(st.integers(0, 300))
    counters: dict[str, float] = {"closed_referrals": closed}
    for name in ("with_assessment", "paired", "paired_self", "paired_parent"):
        counters[name] = draw(st.integers(0, closed))
    for category in ("improved", "deteriorated", "no_change"):
        counters[f"{category}_self"] = draw(st.integers(0, round(counters["paired_self"])))
    for scope in draw(st.lists(st.sampled_from(["SDQ.parent", "GBO.self"]), unique=True)):
        n = draw(st.integers(0, 40))
        threshold, clinical = draw(st.integers(0, n)), draw(st.integers(0, n))
        counters |= {
            f"{scope}.n_paired": n,
            f"{scope}.sum_change": draw(st.floats(-100, 100)),
            f"{scope}.sum_change_sq": draw(st.floats(0, 1e4)),
            f"{scope}.with_threshold": threshold,
            f"{scope}.reliable_improvement": draw(st.integers(0, threshold)),
            f"{scope}.reliable_deterioration": draw(st.integers(0, threshold)),
            f"{scope}.clinical_first": clinical,
            f"{scope}.recovered": draw(st.integers(0, clinical)),
        }
    return dict(derive({name: float(value) for name, value in counters.items() if value}))


@settings(max_examples=200, deadline=None)
@given(derived_figures(), st.sampled_from(["ccg", "provider", "team", "ccg_provider"]))
def test_suppression_equals_the_figure_by_figure_reference(
    figures: dict[str, Published], level: str
) -> None:
    shown, expected = suppress_figures(figures, level), reference_suppress(figures)
    assert list(shown.items()) == list(expected.items())
    assert all(type(shown[name]) is type(expected[name]) for name in expected)


def test_whole_percentages_tie_up() -> None:
    # 5/40 = 12.5% -> 13; 7/8 = 87.5% -> 88; 5/8 = 62.5% -> 63; 6/16 = 37.5% -> 38
    assert [suppress_percentage(n, d) for n, d in [(5, 40), (7, 8), (5, 8), (6, 16)]] == [
        13, 88, 63, 38
    ]  # fmt: skip


def test_a_missing_or_empty_count_is_refused() -> None:
    with pytest.raises(ValueError, match="needed"):
        suppress_figures({"paired": None, "closed_referrals": 4}, "team")
    assert suppress_figures({}, "team") == {}


def test_a_single_figure_is_suppressed_like_any_other() -> None:
    # The alert processor stores {"paired_self": 0} when a unit's data disappear: 0 shows as 0,
    # and a lone count of 3 as "*".
    assert suppress_figures({"paired_self": 0}, "provider") == {"paired_self": 0}
    assert suppress_figures({"paired_self": 3}, "provider") == {"paired_self": "*"}
