"""RCADS-47 and RCADS-25 rules of measures.md, with expectations worked out by hand.

The item lists below are copied from the measures.md tables on purpose: they are the
expectation, not the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scoring
from scoring.rcads import RCADS, t_band, t_score

SUBSCALE_ITEMS: dict[str, tuple[int, ...]] = {
    "separation_anxiety": (5, 9, 17, 18, 33, 45, 46),
    "social_phobia": (4, 7, 8, 12, 20, 30, 32, 38, 43),
    "generalised_anxiety": (1, 13, 22, 27, 35, 37),
    "panic": (3, 14, 24, 26, 28, 34, 36, 39, 41),
    "ocd": (10, 16, 23, 31, 42, 44),
    "depression": (2, 6, 11, 15, 19, 21, 25, 29, 40, 47),
}
ALLOWED_MISSING = {  # measures.md: one, two for the 9- and 10-item subscales
    "separation_anxiety": 1,
    "social_phobia": 2,
    "generalised_anxiety": 1,
    "panic": 2,
    "ocd": 1,
    "depression": 2,
}
RCADS25_DEPRESSION = (1, 4, 8, 10, 13, 15, 16, 19, 21, 24)
RCADS25_ANXIETY = tuple(item for item in range(1, 26) if item not in RCADS25_DEPRESSION)


def answers(n_items: int, fill: int | None, **by_item: int | None) -> dict[str, int | None]:
    """Every item key, each ``fill`` unless overridden (``i5=None`` sets item 5)."""
    items: dict[str, int | None] = {str(number): fill for number in range(1, n_items + 1)}
    items.update({key.removeprefix("i"): value for key, value in by_item.items()})
    return items


def rcads(fill: int | None = 0, **by_item: int | None) -> dict[str, int | None]:
    return answers(47, fill, **by_item)


def only(items: tuple[int, ...], value: int | None, fill: int | None = 0) -> dict[str, int | None]:
    return rcads(fill, **{f"i{item}": value for item in items})


# --- RCADS-47 raw scores ---


@pytest.mark.parametrize("subscale", list(SUBSCALE_ITEMS))
def test_each_subscale_scores_exactly_its_items(subscale: str) -> None:
    result = scoring.score("RCADS", "self", only(SUBSCALE_ITEMS[subscale], 1))
    for name, items in SUBSCALE_ITEMS.items():
        assert result.scales[name] == (len(items) if name == subscale else 0)
    anxiety_items = 0 if subscale == "depression" else len(SUBSCALE_ITEMS[subscale])
    assert result.scales["total_anxiety"] == anxiety_items
    assert result.scales["total"] == len(SUBSCALE_ITEMS[subscale])


def test_totals_at_all_twos_and_at_the_maximum() -> None:
    twos = scoring.score("RCADS", "parent", rcads(2))
    # 2 x (7, 9, 6, 9, 6, 10) = 14, 18, 12, 18, 12, 20; anxiety 37 items x 2 = 74; all 47 x 2 = 94
    assert [twos.scales[name] for name in SUBSCALE_ITEMS] == [14, 18, 12, 18, 12, 20]
    assert twos.scales["total_anxiety"] == 74
    assert twos.scales["total"] == 94
    top = scoring.score("RCADS", "self", rcads(3))
    assert (top.scales["total_anxiety"], top.scales["total"]) == (111, 141)


@pytest.mark.parametrize("subscale", list(SUBSCALE_ITEMS))
def test_prorating_at_the_allowed_missing_boundary_and_one_beyond(subscale: str) -> None:
    items = SUBSCALE_ITEMS[subscale]
    allowed = ALLOWED_MISSING[subscale]
    # all answered 1, `allowed` left blank: mean 1 x item count = item count.
    at_boundary = only(items[:allowed], None, fill=1)
    result = scoring.score("RCADS", "self", at_boundary)
    assert result.scales[subscale] == len(items)
    assert result.scales["total"] == 47
    assert {subscale, "total"} <= result.prorated
    beyond = scoring.score("RCADS", "self", only(items[: allowed + 1], None, fill=1))
    assert beyond.scales[subscale] is None
    assert beyond.scales["total"] is None
    assert subscale not in beyond.prorated


def test_anxiety_total_is_missing_when_an_anxiety_subscale_is_missing() -> None:
    result = scoring.score("RCADS", "self", only((5, 9), None, fill=1))  # separation: 2 of 7 blank
    assert result.scales["total_anxiety"] is None
    assert result.scales["depression"] == 10


def test_depression_missing_leaves_anxiety_total() -> None:
    result = scoring.score("RCADS", "self", only((2, 6, 11), None, fill=1))
    assert result.scales["depression"] is None
    assert result.scales["total_anxiety"] == 37
    assert result.scales["total"] is None
    assert "total_anxiety" not in result.prorated


def test_prorating_rounds_half_up() -> None:
    # separation, item 5 blank, others 3,3,3,0,0,0: 9 / 6 x 7 = 10.5 -> 11 (half-even gives 10)
    items = rcads(0, i5=None, i9=3, i17=3, i18=3)
    assert scoring.score("RCADS", "self", items).scales["separation_anxiety"] == 11
    # social phobia, item 4 blank, items 7..: sum 4 over 8 answered: 4 / 8 x 9 = 4.5 -> 5
    items = rcads(0, i4=None, i7=3, i8=1)
    assert scoring.score("RCADS", "self", items).scales["social_phobia"] == 5
    # depression, items 2 and 6 blank, sum 2 over 8: 2 / 8 x 10 = 2.5 -> 3 (half-even: 2)
    items = rcads(0, i2=None, i6=None, i11=2)
    assert scoring.score("RCADS", "self", items).scales["depression"] == 3
    # separation, sum 8 over 6: 8 / 6 x 7 = 9.33 -> 9
    items = rcads(0, i5=None, i9=3, i17=3, i18=2)
    assert scoring.score("RCADS", "self", items).scales["separation_anxiety"] == 9


# --- T-scores: T = 10 x (raw - mean) / SD + 50 ---


def test_t_scores_against_table_rows() -> None:
    # all items 1 -> raw sep 7, social 9, gad 6, panic 9, ocd 6, depression 10.
    child_girl_12 = scoring.score("RCADS", "self", rcads(1), age=12, sex="female").t_scores
    # child depression F 12-13: mean 7.89, SD 3.91: 10 x 2.11 / 3.91 + 50 = 55.39642
    assert child_girl_12["depression"] == pytest.approx(55.39642, abs=1e-5)
    # child separation F 12-13: mean 3.0, SD 2.72: 10 x 4 / 2.72 + 50 = 64.70588
    assert child_girl_12["separation_anxiety"] == pytest.approx(64.70588, abs=1e-5)
    parent_boy_16 = scoring.score("RCADS", "parent", rcads(1), age=16, sex="male").t_scores
    # parent generalised anxiety M 16-17: mean 3.22, SD 2.5: 10 x 2.78 / 2.5 + 50 = 61.12
    assert parent_boy_16["generalised_anxiety"] == pytest.approx(61.12, abs=1e-9)
    # parent panic M 16-17: mean 1.5, SD 1.69: 10 x 7.5 / 1.69 + 50 = 94.37870
    assert parent_boy_16["panic"] == pytest.approx(94.37870, abs=1e-5)
    # child social phobia M 8-9 at age 9: mean 9.77, SD 4.51: 10 x -0.77 / 4.51 + 50 = 48.29268
    boy_9 = scoring.score("RCADS", "self", rcads(1), age=9, sex="male").t_scores
    assert boy_9["social_phobia"] == pytest.approx(48.29268, abs=1e-5)


def test_t_is_not_rounded() -> None:
    t = scoring.score("RCADS", "self", rcads(1), age=12, sex="female").t_scores["depression"]
    assert t is not None
    assert t != round(t, 2)


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (7, None),
        (7.9, None),
        # child depression F 8-9: mean 8.74, SD 4.75: 10 x 1.26 / 4.75 + 50 = 52.65263
        (8, 52.65263),
        # child depression F 16-17: mean 9.36, SD 4.45: 10 x 0.64 / 4.45 + 50 = 51.43820
        (17, 51.43820),
        (17.9, 51.43820),  # age counts in whole years
        (18, None),
        (None, None),
    ],
)
def test_table_age_edges(age: float | None, expected: float | None) -> None:
    t = scoring.score("RCADS", "self", rcads(1), age=age, sex="female").t_scores["depression"]
    assert t == (None if expected is None else pytest.approx(expected, abs=1e-5))


@pytest.mark.parametrize("sex", ["other", "unknown", "Female", None])
def test_sex_outside_the_table_has_no_t_and_no_caseness(sex: str | None) -> None:
    result = scoring.score("RCADS", "self", rcads(3), age=12, sex=sex)
    assert set(result.t_scores.values()) == {None}
    assert set(result.bands.values()) == {None}
    assert result.caseness is None
    assert result.scales["total"] == 141


def test_totals_have_no_t_score() -> None:
    result = scoring.score("RCADS", "self", rcads(1), age=12, sex="male")
    assert set(result.t_scores) == set(SUBSCALE_ITEMS)


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (None, None),
        (64.99, "normal"),
        (65.0, "borderline"),
        (69.99, "borderline"),
        (70, "clinical"),
    ],
)
def test_band_edges(t: float | None, expected: str | None) -> None:
    assert t_band(t) == expected


def test_caseness_at_exactly_seventy() -> None:
    others = dict.fromkeys(SUBSCALE_ITEMS, 50.0)
    assert RCADS.interpret("self", {}, {**others, "ocd": 70.0}, 12).caseness is True
    assert RCADS.interpret("self", {}, {**others, "ocd": 69.99}, 12).caseness is False
    partial = {**dict.fromkeys(SUBSCALE_ITEMS), "ocd": 60.0}
    assert RCADS.interpret("self", {}, partial, 12).caseness is False


@pytest.mark.parametrize(
    ("raw", "t", "band", "caseness"),
    [
        # parent generalised anxiety M 16-17: mean 3.22, SD 2.5; T = 4 x (raw - 3.22) + 50
        (6, 61.12, "normal", False),
        (7, 65.12, "borderline", False),
        (8, 69.12, "borderline", False),
        (9, 73.12, "clinical", True),
    ],
)
def test_bands_and_caseness_through_score(raw: int, t: float, band: str, caseness: bool) -> None:
    # only GAD answered above 0: items 1, 13, 22 (3 each = 9) trimmed to `raw`.
    values = [min(3, max(0, raw - 3 * index)) for index in range(6)]
    gad = dict(zip((1, 13, 22, 27, 35, 37), values, strict=True))
    items = rcads(0, **{f"i{item}": value for item, value in gad.items()})
    result = scoring.score("RCADS", "parent", items, age=16, sex="male")
    assert result.scales["generalised_anxiety"] == raw
    assert result.t_scores["generalised_anxiety"] == pytest.approx(t, abs=1e-9)
    assert result.bands["generalised_anxiety"] == band
    assert result.caseness is caseness


def test_t_score_helper_is_vectorised_and_nan_outside_the_table() -> None:
    raw = np.array([10.0, 10.0, 10.0, np.nan, 10.0])
    ages = np.array([12.0, 7.0, 12.0, 12.0, np.nan])
    sexes = np.array(["male", "male", "other", "male", "male"])
    result = t_score("self", "depression", raw, ages, sexes)
    # child depression M 12-13: mean 6.71, SD 3.64: 10 x 3.29 / 3.64 + 50 = 59.03846
    assert result[0] == pytest.approx(59.03846, abs=1e-5)
    assert np.isnan(result[1:]).all()
    assert np.isnan(t_score("self", "total", raw, ages, sexes)).all()
    assert np.isnan(t_score("teacher", "depression", raw, ages, sexes)).all()
    # parent ocd F 12-13: mean 1.41, SD 1.94: 10 x (3 - 1.41) / 1.94 + 50 = 58.19588
    one_child = t_score("parent", "ocd", np.array([3.0]), np.array([13.0]), np.array(["female"]))
    assert one_child[0] == pytest.approx(58.19588, abs=1e-5)


# --- RCADS-25 ---


def rcads25(fill: int | None = 0, **by_item: int | None) -> dict[str, int | None]:
    return answers(25, fill, **by_item)


def test_rcads25_depression_and_anxiety_items() -> None:
    depression = rcads25(0, **{f"i{item}": 1 for item in RCADS25_DEPRESSION})
    result = scoring.score("RCADS25", "self", depression)
    assert result.scales == {"depression": 10, "anxiety": 0, "total": 10}
    anxiety = rcads25(0, **{f"i{item}": 1 for item in RCADS25_ANXIETY})
    assert scoring.score("RCADS25", "parent", anxiety).scales == {
        "depression": 0,
        "anxiety": 15,
        "total": 15,
    }
    top = scoring.score("RCADS25", "self", rcads25(3))
    assert top.scales == {"depression": 30, "anxiety": 45, "total": 75}


def test_rcads25_has_no_t_bands_or_caseness() -> None:
    result = scoring.score("RCADS25", "self", rcads25(3), age=12, sex="female")
    assert (result.t_scores, result.bands, result.caseness) == ({}, {}, None)
    batch = scoring.score_batch("RCADS25", "self", np.full((1, 25), 3.0))
    assert set(batch) == {"depression", "anxiety", "total"}


def test_rcads25_missing_rule() -> None:
    one_depression = scoring.score("RCADS25", "self", rcads25(1, i1=None))
    assert one_depression.scales == {"depression": 10, "anxiety": 15, "total": 25}
    assert one_depression.prorated == {"depression", "total"}
    two_depression = scoring.score("RCADS25", "self", rcads25(1, i1=None, i4=None))
    assert two_depression.scales == {"depression": None, "anxiety": 15, "total": None}
    two_anxiety = scoring.score("RCADS25", "self", rcads25(1, i2=None, i3=None))
    assert two_anxiety.scales["anxiety"] == 15
    three_anxiety = scoring.score("RCADS25", "self", rcads25(1, i2=None, i3=None, i5=None))
    assert three_anxiety.scales["anxiety"] is None
    # anxiety, item 2 blank, 14 answered summing 7: 7 / 14 x 15 = 7.5 -> 8
    half = rcads25(0, i2=None, i3=3, i5=3, i6=1)
    assert scoring.score("RCADS25", "self", half).scales["anxiety"] == 8


# --- Invalid questionnaires ---


@pytest.mark.parametrize("value", [4, -1, 1.5])
def test_out_of_range_response_is_rejected(value: float) -> None:
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score("RCADS", "self", rcads(0, i12=value))  # type: ignore[arg-type]
    assert (caught.value.error_code, caught.value.item) == ("schema.out_of_range", "12")


def test_every_item_key_is_required_and_no_other() -> None:
    missing = rcads(0)
    del missing["47"]
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score("RCADS", "parent", missing)
    assert (caught.value.error_code, caught.value.item) == ("schema.missing_field", "47")
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score("RCADS25", "self", {**rcads25(0), "26": 0})
    assert caught.value.error_code == "schema.unknown_field"


@pytest.mark.parametrize("measure", ["RCADS", "RCADS25"])
def test_teacher_is_not_an_informant(measure: str) -> None:
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score(measure, "teacher", {})
    assert caught.value.error_code == "schema.bad_informant"


def test_batch_rejects_out_of_range() -> None:
    matrix = np.zeros((2, 47))
    matrix[1, 3] = 5
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score_batch("RCADS", "self", matrix)
    assert caught.value.item == "4"


# --- Batch == scalar ---

_response = st.one_of(st.none(), st.integers(0, 3))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.lists(_response, min_size=47, max_size=47),
            st.sampled_from([6.0, 7.0, 8.0, 11.5, 14.0, 17.0, 18.0]),
            st.sampled_from(["male", "female", "other"]),
        ),
        min_size=1,
        max_size=6,
    ),
    informant=st.sampled_from(["self", "parent"]),
)
def test_batch_equals_scalar(
    rows: list[tuple[list[int | None], float, str]], informant: str
) -> None:
    matrix = np.array([[np.nan if value is None else value for value in row] for row, _, _ in rows])
    batch = scoring.score_batch(
        "RCADS",
        informant,
        matrix,
        ages=[age for _, age, _ in rows],
        sexes=[sex for _, _, sex in rows],
    )
    for index, (responses, age, sex) in enumerate(rows):
        items = {str(number): value for number, value in enumerate(responses, start=1)}
        single = scoring.score("RCADS", informant, items, age=age, sex=sex)
        expected = {**single.scales, **{f"{k}_t": v for k, v in single.t_scores.items()}}
        assert set(batch) == set(expected)
        for name, value in expected.items():
            got = float(batch[name][index])
            assert (math.isnan(got) and value is None) or got == value
        total, parts = single.scales["total"], [single.scales[n] for n in SUBSCALE_ITEMS]
        if total is not None:
            assert total == sum(part for part in parts if part is not None)
