"""Suppression of published figures (outcomes.md §5), expectations worked out by hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.suppression import suppress_count, suppress_figures, suppress_percentage


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
