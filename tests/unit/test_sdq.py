"""SDQ rules of measures.md § SDQ, with expectations worked out by hand from the spec."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scoring

Answers = dict[str, int | None]

# Spec tables, copied by hand: the items of each scale and the reverse-scored items.
SCALE_OF_ITEM = {
    **dict.fromkeys((3, 8, 13, 16, 24), "emotional"),
    **dict.fromkeys((5, 7, 12, 18, 22), "conduct"),
    **dict.fromkeys((2, 10, 15, 21, 25), "hyperactivity"),
    **dict.fromkeys((6, 11, 14, 19, 23), "peer"),
    **dict.fromkeys((1, 4, 9, 17, 20), "prosocial"),
}
REVERSED = (7, 11, 14, 21, 25)
FIVE_SCALES = ("emotional", "conduct", "hyperactivity", "peer", "prosocial")


def raw_for(item: int, item_score: int) -> int:
    """The answer that gives ``item`` the score ``item_score`` (reversed items: 2 − score)."""
    return 2 - item_score if item in REVERSED else item_score


def neutral(**impact: int | None) -> Answers:
    """Every item answered so that it scores 0 (0, or 2 on a reversed item)."""
    answers: Answers = {str(item): raw_for(item, 0) for item in range(1, 26)}
    answers.update(impact)
    return answers


def with_items(base: Answers, **items: int | None) -> Answers:
    """``base`` with items given as ``i7=0`` etc. (keyword names cannot start with a digit)."""
    return {**base, **{key.removeprefix("i"): value for key, value in items.items()}}


def scoring_scale(scale: str, value: int) -> Answers:
    """Answers for the five items of ``scale`` that score ``value``: 2s first, then a 1."""
    items = [item for item, name in SCALE_OF_ITEM.items() if name == scale]
    item_scores = [2] * (value // 2) + [1] * (value % 2)
    item_scores += [0] * (5 - len(item_scores))
    return {str(item): raw_for(item, s) for item, s in zip(items, item_scores, strict=True)}


def all_answered(value: int) -> Answers:
    return {str(item): value for item in range(1, 26)}


# --- scales and reverse scoring ---------------------------------------------------------


@pytest.mark.parametrize("item", range(1, 26))
def test_each_item_counts_in_its_own_scale_only(item: int) -> None:
    # From all-zero scores, the worst answer to one item (2, or 0 if reversed) scores 2
    # on its own scale and nothing elsewhere.
    result = scoring.score("SDQ", "parent", {**neutral(), str(item): raw_for(item, 2)})
    expected = {scale: 2.0 if scale == SCALE_OF_ITEM[item] else 0.0 for scale in FIVE_SCALES}
    assert {scale: result.scales[scale] for scale in FIVE_SCALES} == expected


def test_all_answered_zero_scores_only_the_reversed_items() -> None:
    # Reversed 7 (conduct) → 2; 21, 25 (hyperactivity) → 4; 11, 14 (peer) → 4.
    scales = scoring.score("SDQ", "parent", all_answered(0)).scales
    assert scales["emotional"] == 0
    assert scales["conduct"] == 2
    assert scales["hyperactivity"] == 4
    assert scales["peer"] == 4
    assert scales["prosocial"] == 0
    assert scales["total"] == 10  # 0 + 2 + 4 + 4
    assert scales["externalising"] == 6  # 2 + 4
    assert scales["internalising"] == 4  # 0 + 4


def test_all_answered_two_reverses_to_zero_on_the_reversed_items() -> None:
    # Emotional 5×2 = 10; conduct 4×2 + 0 = 8; hyperactivity 3×2 + 0 + 0 = 6; peer 6;
    # prosocial 10; total 10 + 8 + 6 + 6 = 30.
    scales = scoring.score("SDQ", "teacher", all_answered(2)).scales
    assert (scales["emotional"], scales["conduct"], scales["hyperactivity"]) == (10, 8, 6)
    assert (scales["peer"], scales["prosocial"], scales["total"]) == (6, 10, 30)
    assert (scales["externalising"], scales["internalising"]) == (14, 16)


def test_mixed_answers_on_every_scale() -> None:
    answers = with_items(
        neutral(),
        # emotional 3, 8, 13, 16, 24: 2 + 1 + 0 + 2 + 1 = 6
        i3=2, i8=1, i13=0, i16=2, i24=1,
        # conduct 5, 7r, 12, 18, 22: 1 + (2−0) + 2 + 0 + 1 = 6
        i5=1, i7=0, i12=2, i18=0, i22=1,
        # hyperactivity 2, 10, 15, 21r, 25r: 2 + 2 + 1 + (2−1) + (2−0) = 8
        i2=2, i10=2, i15=1, i21=1, i25=0,
        # peer 6, 11r, 14r, 19, 23: 1 + (2−2) + (2−1) + 0 + 0 = 2
        i6=1, i11=2, i14=1, i19=0, i23=0,
        # prosocial 1, 4, 9, 17, 20: 2 + 2 + 2 + 1 + 2 = 9
        i1=2, i4=2, i9=2, i17=1, i20=2,
    )  # fmt: skip
    scales = scoring.score("SDQ", "self", answers).scales
    assert scales == {
        "emotional": 6,
        "conduct": 6,
        "hyperactivity": 8,
        "peer": 2,
        "prosocial": 9,
        "total": 22,  # 6 + 6 + 8 + 2
        "externalising": 14,  # 6 + 8
        "internalising": 8,  # 6 + 2
        "impact": None,  # no impact keys sent
    }


def test_prosocial_is_the_only_higher_is_better_scale() -> None:
    assert scoring.MEASURES["SDQ"].higher_is_better == frozenset({"prosocial"})


# --- missing items: prorating -----------------------------------------------------------


def test_three_answered_are_prorated_and_rounded() -> None:
    # Emotional 3, 8, 13 answered 2 + 1 + 1 = 4; 4 / 3 × 5 = 6.67 → 7.
    result = scoring.score(
        "SDQ", "parent", with_items(neutral(), i3=2, i8=1, i13=1, i16=None, i24=None)
    )
    assert result.scales["emotional"] == 7
    assert result.scales["total"] == 7  # 7 + conduct 0 + hyperactivity 0 + peer 0
    assert result.prorated == frozenset({"emotional", "total", "internalising"})


def test_prorating_uses_reverse_scored_answers() -> None:
    # Conduct 5, 7r, 12 answered 1, 0, 0 → 1 + 2 + 0 = 3; 3 / 3 × 5 = 5.
    answers = with_items(neutral(), i5=1, i7=0, i12=0, i18=None, i22=None)
    assert scoring.score("SDQ", "parent", answers).scales["conduct"] == 5


@pytest.mark.parametrize(
    ("answered", "expected"),
    [
        ((1, 0, 0), 2),  # 1 / 3 × 5 = 1.67 → 2
        ((2, 2, 1), 8),  # 5 / 3 × 5 = 8.33 → 8
        ((2, 2, 2), 10),  # 6 / 3 × 5 = 10
        ((0, 0, 0), 0),
    ],
)
def test_three_answered_rounding(answered: tuple[int, int, int], expected: int) -> None:
    first, second, third = answered
    answers = with_items(neutral(), i3=first, i8=second, i13=third, i16=None, i24=None)
    assert scoring.score("SDQ", "parent", answers).scales["emotional"] == expected


@pytest.mark.parametrize(
    ("answered", "expected"),
    [
        # From 3 answered items, s / 3 × 5 is never x.5 (10s = 6k + 3 has no solution: even vs
        # odd), so the half-up cases use 4 answered items: s / 4 × 5.
        ((1, 1, 0, 0), 3),  # 2 / 4 × 5 = 2.5 → 3 (half to even would give 2)
        ((2, 2, 1, 1), 8),  # 6 / 4 × 5 = 7.5 → 8
        ((2, 2, 1, 0), 6),  # 5 / 4 × 5 = 6.25 → 6
        ((2, 2, 2, 1), 9),  # 7 / 4 × 5 = 8.75 → 9
    ],
)
def test_four_answered_round_half_up(answered: tuple[int, int, int, int], expected: int) -> None:
    first, second, third, fourth = answered
    answers = with_items(neutral(), i3=first, i8=second, i13=third, i16=fourth, i24=None)
    result = scoring.score("SDQ", "parent", answers)
    assert result.scales["emotional"] == expected
    assert "emotional" in result.prorated


def test_two_answered_leave_the_scale_and_its_composites_missing() -> None:
    answers = with_items(neutral(), i3=2, i8=2, i13=None, i16=None, i24=None)
    result = scoring.score("SDQ", "parent", answers)
    assert result.scales["emotional"] is None
    assert result.scales["total"] is None
    assert result.scales["internalising"] is None
    assert result.scales["externalising"] == 0  # conduct 0 + hyperactivity 0, unaffected
    assert result.bands["total"] is None
    assert result.caseness is None


def test_complete_questionnaire_is_not_prorated() -> None:
    assert scoring.score("SDQ", "parent", neutral()).prorated == frozenset()


# --- impact supplement (S10) ------------------------------------------------------------

PARENT_IMPACT_KEYS = (
    "impact_distress",
    "impact_home",
    "impact_friendships",
    "impact_classroom",
    "impact_leisure",
)


def impact_of(informant: str, answers: Answers) -> float | None:
    return scoring.score("SDQ", informant, answers).scales["impact"]


def test_impact_absent_is_missing_and_the_rest_still_scored() -> None:
    result = scoring.score("SDQ", "parent", neutral())
    assert result.scales["impact"] is None
    assert result.bands["impact"] is None
    assert result.scales["total"] == 0


def test_impact_difficulties_missing_means_impact_missing() -> None:
    answers = neutral(impact_difficulties=None, **dict.fromkeys(PARENT_IMPACT_KEYS, 3))
    assert impact_of("parent", answers) is None


def test_no_difficulties_means_impact_zero_whatever_else() -> None:
    answers = neutral(impact_difficulties=0, **dict.fromkeys(PARENT_IMPACT_KEYS, 3))
    assert impact_of("parent", answers) == 0


def test_impact_sums_recoded_answered_items() -> None:
    # distress 3 → 2, home 2 → 1, friendships 1 → 0, classroom 0 → 0, leisure unanswered: 3.
    answers = neutral(
        impact_difficulties=1,
        impact_distress=3,
        impact_home=2,
        impact_friendships=1,
        impact_classroom=0,
        impact_leisure=None,
    )
    assert impact_of("parent", answers) == 3


def test_impact_with_difficulties_but_no_item_answered_is_missing() -> None:
    answers = neutral(impact_difficulties=2, **dict.fromkeys(PARENT_IMPACT_KEYS, None))
    assert impact_of("self", answers) is None
    assert impact_of("self", neutral(impact_difficulties=2)) is None  # keys absent


def test_impact_maximum_parent_ten_teacher_six() -> None:
    parent = neutral(impact_difficulties=3, **dict.fromkeys(PARENT_IMPACT_KEYS, 3))
    assert impact_of("parent", parent) == 10  # 5 items × 2
    teacher = neutral(impact_difficulties=3, impact_distress=3, impact_peers=3, impact_classroom=3)
    assert impact_of("teacher", teacher) == 6  # 3 items × 2


def test_teacher_impact_uses_peers_item() -> None:
    # peers 2 → 1, classroom 1 → 0, distress unanswered: 1.
    teacher = neutral(impact_difficulties=2, impact_peers=2, impact_classroom=1)
    assert impact_of("teacher", teacher) == 1


# --- bands and caseness -----------------------------------------------------------------

# measures.md band table: inclusive upper bounds (prosocial: lower bounds) of bands 1–3.
BOUNDS = {
    "parent": {
        "total": (13, 16, 19),
        "emotional": (3, 4, 6),
        "conduct": (2, 3, 5),
        "hyperactivity": (5, 7, 8),
        "peer": (2, 3, 4),
        "prosocial": (8, 7, 6),
        "impact": (0, 1, 2),
    },
    "teacher": {
        "total": (11, 15, 18),
        "emotional": (3, 4, 5),
        "conduct": (2, 3, 4),
        "hyperactivity": (5, 7, 8),
        "peer": (2, 4, 5),
        "prosocial": (6, 5, 4),
        "impact": (0, 1, 2),
    },
    "self": {
        "total": (14, 17, 19),
        "emotional": (4, 5, 6),
        "conduct": (3, 4, 5),
        "hyperactivity": (5, 6, 7),
        "peer": (2, 3, 4),
        "prosocial": (7, 6, 5),
        "impact": (0, 1, 2),
    },
}
RAISED = ("close to average", "slightly raised", "high", "very high")
LOWERED = ("close to average", "slightly lowered", "low", "very low")


def band_edges() -> list[tuple[str, str, int, str]]:
    """Each bound itself (in its band) and one step past it (in the next band)."""
    edges = []
    for informant, scales in BOUNDS.items():
        for scale, bounds in scales.items():
            labels, step = (LOWERED, -1) if scale == "prosocial" else (RAISED, 1)
            for index, bound in enumerate(bounds):
                edges.append((informant, scale, bound, labels[index]))
                edges.append((informant, scale, bound + step, labels[index + 1]))
    return edges


def answers_scoring(scale: str, value: int) -> Answers:
    """A questionnaire whose ``scale`` scores ``value`` (total spread over the four scales)."""
    answers = neutral()
    if scale == "impact":
        # impact_difficulties 1; distress and home answered 3 add 2, 2 adds 1, 1 adds 0.
        recoded = [2] * (value // 2) + [1] * (value % 2) + [0, 0]
        impact = dict(zip(PARENT_IMPACT_KEYS[:2], [r + 1 for r in recoded[:2]], strict=True))
        return {**answers, "impact_difficulties": 1, **impact}
    if scale == "total":
        for part in ("emotional", "conduct", "hyperactivity", "peer"):
            answers.update(scoring_scale(part, min(value, 10)))
            value -= min(value, 10)
        return answers
    return {**answers, **scoring_scale(scale, value)}


@pytest.mark.parametrize(("informant", "scale", "value", "label"), band_edges())
def test_band_edges(informant: str, scale: str, value: int, label: str) -> None:
    answers = answers_scoring(scale, value)
    if informant == "teacher" and scale == "impact":
        answers = {key.replace("impact_home", "impact_peers"): v for key, v in answers.items()}
    result = scoring.score("SDQ", informant, answers)
    assert result.scales[scale] == value
    assert result.bands[scale] == label


def test_bands_cover_the_seven_banded_scales() -> None:
    result = scoring.score("SDQ", "parent", neutral())
    assert set(result.bands) == {
        "total", "emotional", "conduct", "hyperactivity", "peer", "prosocial", "impact"
    }  # fmt: skip
    assert result.bands["prosocial"] == "very low"  # prosocial 0
    assert result.bands["emotional"] == "close to average"


@pytest.mark.parametrize(
    ("informant", "total", "caseness"),
    [
        ("parent", 16, False),  # slightly raised
        ("parent", 17, True),  # high
        ("parent", 20, True),  # very high
        ("teacher", 15, False),
        ("teacher", 16, True),
        ("self", 17, False),
        ("self", 18, True),
        ("self", 0, False),
    ],
)
def test_caseness_is_total_high_or_very_high(informant: str, total: int, caseness: bool) -> None:
    result = scoring.score("SDQ", informant, answers_scoring("total", total))
    assert result.scales["total"] == total
    assert result.caseness is caseness


# --- invalid questionnaires -------------------------------------------------------------


@pytest.mark.parametrize("value", [3, -1, 1.5])
def test_out_of_range_item_is_rejected(value: float) -> None:
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score("SDQ", "parent", {**neutral(), "7": value})
    assert caught.value.error_code == "schema.out_of_range"
    assert caught.value.item == "7"


def test_out_of_range_impact_is_rejected() -> None:
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score("SDQ", "parent", neutral(impact_difficulties=4))
    assert caught.value.error_code == "schema.out_of_range"
    assert caught.value.item == "impact_difficulties"


@pytest.mark.parametrize(
    ("informant", "key"), [("parent", "26"), ("parent", "impact_peers"), ("teacher", "impact_home")]
)
def test_unknown_key_is_rejected(informant: str, key: str) -> None:
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score("SDQ", informant, {**neutral(), key: 0})
    assert caught.value.error_code == "schema.unknown_field"
    assert caught.value.item == key


def test_missing_item_key_is_rejected() -> None:
    answers = neutral()
    del answers["7"]
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score("SDQ", "parent", answers)
    assert caught.value.error_code == "schema.missing_field"
    assert caught.value.item == "7"


def test_clinician_is_not_an_informant() -> None:
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score("SDQ", "clinician", neutral())
    assert caught.value.error_code == "schema.bad_informant"


def test_batch_rejects_out_of_range() -> None:
    matrix = np.zeros((2, 25))
    matrix[1, 4] = 3
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score_batch("SDQ", "parent", matrix)
    assert caught.value.error_code == "schema.out_of_range"
    assert caught.value.item == "5"


# --- batch == scalar --------------------------------------------------------------------


def as_answers(informant: str, row: np.ndarray) -> dict[str, float | None]:
    keys = scoring.MEASURES["SDQ"].columns[informant]
    return {
        key: None if math.isnan(value) else float(value)
        for key, value in zip(keys, row, strict=True)
    }


def assert_batch_matches_scalar(informant: str, matrix: np.ndarray) -> None:
    batch = scoring.score_batch("SDQ", informant, matrix)
    for index, row in enumerate(matrix):
        scalar = scoring.score("SDQ", informant, as_answers(informant, row)).scales
        from_batch = {
            name: None if math.isnan(values[index]) else float(values[index])
            for name, values in batch.items()
        }
        assert from_batch == scalar


def test_batch_scores_hand_made_rows() -> None:
    nan = np.nan
    rows = np.array(
        [
            [0.0] * 25 + [0, 3, 3, 3, 3, 3],  # impact 0 whatever else
            [1.0] * 25 + [1, 3, 2, 1, 0, nan],  # every scale 5, impact 3
            [2.0, nan, 2, nan, 2, nan, 2, nan] + [1.0] * 17 + [nan] * 6,  # prorated scales
            [nan] * 25 + [2, nan, nan, nan, nan, 3],  # nothing scored but impact 2
        ]
    )
    batch = scoring.score_batch("SDQ", "parent", rows)
    np.testing.assert_array_equal(batch["impact"], [0, 3, nan, 2])
    np.testing.assert_array_equal(batch["emotional"][:2], [0, 5])
    np.testing.assert_array_equal(batch["total"][:2], [10, 20])
    assert np.isnan(batch["total"][3])
    # Row 3: emotional 3, 8, 13, 16, 24 = 2, –, 1, 1, 1 → 5 / 4 × 5 = 6.25 → 6; conduct
    # 5, 7r, 12, 18, 22 = 2, 0, 1, 1, 1 → 5; hyperactivity 2, 10, 15, 21r, 25r = –, 1, 1, 1, 1
    # → 4 / 4 × 5 = 5; peer 6, 11r, 14r, 19, 23 likewise 5; prosocial 1, 4, 9, 17, 20
    # = 2, –, 1, 1, 1 → 6.25 → 6; total 6 + 5 + 5 + 5 = 21.
    expected_row_3 = {"emotional": 6, "conduct": 5, "hyperactivity": 5, "peer": 5}
    assert {name: batch[name][2] for name in expected_row_3} == expected_row_3
    assert (batch["prosocial"][2], batch["total"][2]) == (6, 21)
    assert_batch_matches_scalar("parent", rows)


def test_batch_without_impact_columns_has_impact_missing() -> None:
    batch = scoring.score_batch("SDQ", "teacher", np.ones((3, 25)))
    assert np.isnan(batch["impact"]).all()
    np.testing.assert_array_equal(batch["total"], [20, 20, 20])  # 4 scales × 5


def sdq_matrices(informant: str) -> st.SearchStrategy[np.ndarray]:
    n_columns = len(scoring.MEASURES["SDQ"].columns[informant])
    item = st.sampled_from([0.0, 1.0, 2.0, np.nan])
    impact = st.sampled_from([0.0, 1.0, 2.0, 3.0, np.nan])
    row = st.tuples(*[item] * 25, *[impact] * (n_columns - 25))
    return st.lists(row, min_size=1, max_size=8).map(lambda rows: np.array(rows))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), informant=st.sampled_from(["parent", "teacher", "self"]))
def test_batch_equals_scalar_on_random_matrices(data: st.DataObject, informant: str) -> None:
    assert_batch_matches_scalar(informant, data.draw(sdq_matrices(informant)))
