"""Reliable change: every threshold of measures.md § Reliable change, directions, methods."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.change import jacobson_truax_threshold, reliable_change, threshold_of
from scoring.codes import CODES
from scoring.types import InvalidResponse

# (measure, informant, scale, first, rounded N1, unrounded N3, higher is better clinically)
# Copied by hand from the measures.md table; unrounded = rounded where no bracket is given.
TABLE: list[tuple[str, str, str, float, float, float, bool]] = [
    ("SDQ", "parent", "conduct", 8, 4, 4.33, False),
    ("SDQ", "parent", "emotional", 8, 4, 4.39, False),
    ("SDQ", "parent", "hyperactivity", 8, 4, 3.82, False),
    ("SDQ", "parent", "impact", 6, 3, 3.17, False),
    ("SDQ", "parent", "peer", 6, 3, 3.09, False),
    ("SDQ", "parent", "prosocial", 5, 3, 2.62, True),
    ("SDQ", "self", "conduct", 8, 4, 3.74, False),
    ("SDQ", "self", "emotional", 8, 4, 4.26, False),
    ("SDQ", "self", "hyperactivity", 8, 4, 3.87, False),
    ("SDQ", "self", "impact", 6, 3, 3.24, False),
    ("SDQ", "self", "peer", 8, 5, 4.76, False),
    ("SDQ", "self", "prosocial", 5, 4, 4.3, True),
    ("RCADS", "self", "depression", 70, 17.73, 17.73, False),
    ("RCADS", "self", "generalised_anxiety", 70, 14.91, 14.91, False),
    ("RCADS", "self", "ocd", 70, 16.35, 16.35, False),
    ("RCADS", "self", "panic", 70, 18.29, 18.29, False),
    ("RCADS", "self", "separation_anxiety", 70, 22.95, 22.95, False),
    ("RCADS", "self", "social_phobia", 70, 13.99, 13.99, False),
    ("RCADS", "parent", "depression", 80, 22.87, 22.87, False),
    ("RCADS", "parent", "generalised_anxiety", 80, 18.30, 18.30, False),
    ("RCADS", "parent", "ocd", 80, 24.06, 24.06, False),
    ("RCADS", "parent", "panic", 90, 40.93, 40.93, False),
    ("RCADS", "parent", "separation_anxiety", 80, 28, 28, False),
    ("RCADS", "parent", "social_phobia", 80, 16.63, 16.63, False),
    *[
        ("HONOSCA", who, f"scale_{n}", 3, 2, 2, False)
        for who in ("clinician", "parent", "self")
        for n in range(1, 14)
    ],
    ("ORS", "self", "total", 20, 6.6, 6.55, True),
    ("CORS", "self", "total", 20, 10, 10, True),
    ("GBO", "self", "goal", 2, 3, 3, True),
    ("GBO", "self", "goal_1", 2, 3, 3, True),
    ("GBO", "self", "goal_7", 2, 3, 3, True),
]


def _better_up(measure: str, scale: str, higher_is_better: bool, method: str) -> bool:
    """The national code treats SDQ prosocial as higher-is-worse (measures.md, known quirk)."""
    if method == "nhs" and (measure, scale) == ("SDQ", "prosocial"):
        return False
    return higher_is_better


@pytest.mark.parametrize("method", ["nhs", "unrounded"])
@pytest.mark.parametrize(
    ("measure", "informant", "scale", "first", "rounded", "unrounded", "up"), TABLE
)
def test_every_threshold_is_reached_at_equality(
    method: str,
    measure: str,
    informant: str,
    scale: str,
    first: float,
    rounded: float,
    unrounded: float,
    up: bool,
) -> None:
    threshold = rounded if method == "nhs" else unrounded
    better = 1 if _better_up(measure, scale, up, method) else -1
    # e.g. SDQ parent conduct under nhs: 8 -> 4 is an improvement of exactly 4 >= 4.
    improved = reliable_change(
        measure, informant, scale, first, first + better * threshold, method=method
    )
    assert improved.threshold == pytest.approx(threshold)
    assert improved.improvement == pytest.approx(threshold)
    assert improved.category == "reliable_improvement"
    worse = reliable_change(
        measure, informant, scale, first, first - better * threshold, method=method
    )
    assert worse.improvement == pytest.approx(-threshold)
    assert worse.category == "reliable_deterioration"
    short = first + better * (threshold - 0.01)
    assert reliable_change(measure, informant, scale, first, short, method=method).category == (
        "no_reliable_change"
    )


def test_default_uses_rounded_values() -> None:
    # SDQ parent hyperactivity: 4 (3.82). 8 -> 4.1 improves by 3.9: short of 4, over 3.82.
    assert reliable_change("SDQ", "parent", "hyperactivity", 8, 4.1).category == (
        "no_reliable_change"
    )
    unrounded = reliable_change("SDQ", "parent", "hyperactivity", 8, 4.1, method="unrounded")
    assert unrounded.threshold == 3.82
    assert unrounded.category == "reliable_improvement"
    # ORS 6.6 (6.55): 20 -> 26.57 improves by 6.57.
    assert reliable_change("ORS", "self", "total", 20, 26.57).category == "no_reliable_change"
    assert reliable_change("ORS", "self", "total", 20, 26.57, method="unrounded").category == (
        "reliable_improvement"
    )


def test_prosocial_is_higher_is_better_except_under_nhs() -> None:
    # Parent prosocial 5 -> 8: change +3; threshold 3.
    default = reliable_change("SDQ", "parent", "prosocial", 5, 8)
    assert (default.change, default.improvement, default.category) == (
        3,
        3,
        "reliable_improvement",
    )
    nhs = reliable_change("SDQ", "parent", "prosocial", 5, 8, method="nhs")
    assert (nhs.change, nhs.improvement, nhs.category) == (3, -3, "reliable_deterioration")


def test_decimal_scores_reach_the_threshold_despite_binary_error() -> None:
    # ORS 10.1 -> 16.7 is +6.6 exactly on paper (16.7 - 10.1 = 6.599999999999999 in floats).
    assert reliable_change("ORS", "self", "total", 10.1, 16.7, method="nhs").category == (
        "reliable_improvement"
    )


@pytest.mark.parametrize(
    ("measure", "informant", "scale"),
    [
        ("SDQ", "parent", "total"),
        ("SDQ", "self", "total"),
        ("SDQ", "teacher", "conduct"),
        ("SDQ", "teacher", "total"),
        ("RCADS", "self", "total"),
        ("RCADS", "parent", "total_anxiety"),
        ("RCADS25", "self", "depression"),
        ("RCADS25", "parent", "total"),
        ("HONOSCA", "clinician", "total"),
        ("HONOSCA", "clinician", "scale_14"),
        ("CORS", "parent", "total"),
        ("YCORS", "self", "total"),
    ],
)
@pytest.mark.parametrize("method", ["default", "nhs", "unrounded"])
def test_no_documented_threshold_means_no_category(
    measure: str, informant: str, scale: str, method: str
) -> None:
    result = reliable_change(measure, informant, scale, 30, 10, method=method)
    assert result.change == -20
    assert result.threshold is None
    assert result.category is None


def test_change_direction_without_threshold() -> None:
    # SDQ total is higher-is-worse: 30 -> 10 is an improvement of 20, though unflagged.
    assert reliable_change("SDQ", "parent", "total", 30, 10).improvement == 20


def test_gbo_goal_any_informant() -> None:
    # Goal ratings 2 -> 5: +3 on a higher-is-better scale, threshold 3.
    result = reliable_change("GBO", "parent", "goal_abc", 2, 5)
    assert (result.improvement, result.threshold, result.category) == (
        3,
        3,
        "reliable_improvement",
    )


# Coded-only measures: threshold and direction as data/mhsds_codes.json gives them (N1).
CODED: list[tuple[str, str, str, float, bool]] = [
    ("CGAS", "clinician", "total", 11, True),
    ("CORE10", "self", "total", 5, False),
    ("GAD7", "self", "total", 4, False),
    ("PHQ9", "self", "total", 6, False),
    ("SWEMWBS", "self", "total", 3, True),
    ("WEMWBS", "self", "total", 9, True),
    ("YPCORE", "self", "total", 8, False),
    ("SCORE15", "self", "15_-_total_score", 10, True),
]


@pytest.mark.parametrize(("measure", "informant", "scale", "threshold", "up"), CODED)
@pytest.mark.parametrize("method", ["default", "nhs", "unrounded"])
def test_coded_only_measures(
    measure: str, informant: str, scale: str, threshold: float, up: bool, method: str
) -> None:
    first = 40.0
    last = first + threshold if up else first - threshold
    result = reliable_change(measure, informant, scale, first, last, method=method)
    assert (result.threshold, result.improvement, result.category) == (
        threshold,
        threshold,
        "reliable_improvement",
    )


def test_phq9_worked_example() -> None:
    # PHQ-9 20 -> 14: change -6, higher is worse so improvement +6 >= 6.
    result = reliable_change("PHQ9", "self", "total", 20, 14)
    assert (result.change, result.improvement, result.category) == (-6, 6, "reliable_improvement")


def test_national_rounded_thresholds_agree_with_the_code_table() -> None:
    for coded in CODES.values():
        if coded.in_metric and coded.threshold is not None:
            got = threshold_of(coded.measure, coded.informant, coded.scale, "nhs")
            assert got == pytest.approx(coded.threshold), coded


def test_unknown_measure_and_method() -> None:
    with pytest.raises(InvalidResponse) as raised:
        reliable_change("NOPE", "self", "total", 1, 2)
    assert raised.value.error_code == "schema.unknown_measure"
    with pytest.raises(ValueError, match="default, nhs, unrounded"):
        reliable_change("SDQ", "parent", "conduct", 1, 2, method="local")


def test_jacobson_truax_threshold() -> None:
    # 1.96 × 10 × √(2 × (1 − 0.5)) = 19.6 × 1 = 19.6
    assert jacobson_truax_threshold(10, 0.5) == pytest.approx(19.6)
    # 1.96 × 5 × √0.4 = 9.8 × 0.6324555 = 6.1980642
    assert jacobson_truax_threshold(5, 0.8) == pytest.approx(6.1980642)
    # z = 1.645: 1.645 × 4 × √(2 × 0.02) = 6.58 × 0.2 = 1.316
    assert jacobson_truax_threshold(4, 0.98, z=1.645) == pytest.approx(1.316)
    assert jacobson_truax_threshold(7, 1.0) == 0
    with pytest.raises(ValueError, match="reliability"):
        jacobson_truax_threshold(5, 1.2)


@given(
    first=st.floats(0, 40, allow_nan=False),
    last=st.floats(0, 40, allow_nan=False),
    method=st.sampled_from(["default", "nhs", "unrounded"]),
)
def test_swapping_first_and_last_mirrors_the_category(
    first: float, last: float, method: str
) -> None:
    forward = reliable_change("ORS", "self", "total", first, last, method=method)
    backward = reliable_change("ORS", "self", "total", last, first, method=method)
    assert forward.change == -backward.change
    assert math.isclose(forward.improvement, forward.change)
    mirrored = {
        "reliable_improvement": "reliable_deterioration",
        "reliable_deterioration": "reliable_improvement",
        "no_reliable_change": "no_reliable_change",
    }
    assert backward.category == mirrored[forward.category or ""]
