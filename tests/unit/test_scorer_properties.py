"""Properties across every measure in ``scoring.MEASURES``, generated from its definition.

Random valid questionnaires are drawn from each item's :class:`ResponseRange` (plus NaN =
not answered wherever the measure allows it), so a measure added later is covered without
a new test. The sum-of-parts and SDQ reversing properties restate measures.md.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

import scoring
from scoring.types import FloatArray, MeasureDefinition

CASES = [(code, informant) for code, d in scoring.MEASURES.items() for informant in d.informants]
PROPERTY_SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
AGES = st.integers(min_value=4, max_value=19).map(float)
SEXES = st.sampled_from(["male", "female", "unknown"])


def allowed_values(definition: MeasureDefinition, key: str) -> list[float]:
    """Every valid answer of ``key``: the grid low..high by step, plus the extra codes."""
    allowed = definition.responses[key]
    n_steps = round((allowed.high - allowed.low) / allowed.step)
    grid = [round(allowed.low + step * allowed.step, 10) for step in range(n_steps + 1)]
    return grid + sorted(allowed.extra)


def may_be_unanswered(definition: MeasureDefinition, informant: str, key: str) -> bool:
    return not (definition.answer_required and key in definition.required[informant])


def rows(
    definition: MeasureDefinition, informant: str, *, complete: bool = False
) -> st.SearchStrategy[list[tuple[float, ...]]]:
    """Lists of valid response rows in the column order of the batch matrix."""
    columns = []
    for key in definition.columns[informant]:
        answers = allowed_values(definition, key)
        if not complete and may_be_unanswered(definition, informant, key):
            answers.append(float("nan"))  # one choice among the answers: mostly scorable
        columns.append(st.sampled_from(answers))
    return st.lists(st.tuples(*columns), min_size=1, max_size=5)


def as_matrix(drawn: list[tuple[float, ...]]) -> FloatArray:
    return np.array(drawn, dtype=np.float64)


def items_of(
    definition: MeasureDefinition, informant: str, row: NDArray[np.float64]
) -> dict[str, float | None]:
    """The event form of a row: NaN is ``null`` for required keys, absent for optional ones."""
    items: dict[str, float | None] = {}
    for key, value in zip(definition.columns[informant], row.tolist(), strict=True):
        if not np.isnan(value):
            items[key] = value
        elif key in definition.required[informant]:
            items[key] = None
    return items


def nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else value


@pytest.mark.parametrize(("measure", "informant"), CASES)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_batch_equals_one_at_a_time(measure: str, informant: str, data: st.DataObject) -> None:
    definition = scoring.MEASURES[measure]
    matrix = as_matrix(data.draw(rows(definition, informant)))
    ages = data.draw(st.lists(AGES, min_size=len(matrix), max_size=len(matrix)))
    sexes = data.draw(st.lists(SEXES, min_size=len(matrix), max_size=len(matrix)))
    batch = scoring.score_batch(measure, informant, matrix, ages=ages, sexes=sexes)
    for index, row in enumerate(matrix):
        single = scoring.score(
            measure,
            informant,
            items_of(definition, informant, row),
            age=ages[index],
            sex=sexes[index],
        )
        assert tuple(single.scales) == definition.scales
        expected = {name: nan_if_none(value) for name, value in single.scales.items()}
        expected |= {f"{name}_t": nan_if_none(value) for name, value in single.t_scores.items()}
        assert set(batch) == set(expected)
        for name, value in expected.items():
            np.testing.assert_equal(batch[name][index], value, err_msg=f"{measure} {name}")


@pytest.mark.parametrize(("measure", "informant"), CASES)
@PROPERTY_SETTINGS
@given(data=st.data(), known=st.booleans())
def test_many_equals_one_at_a_time(
    measure: str, informant: str, known: bool, data: st.DataObject
) -> None:
    """Scored together, each questionnaire gets what it gets alone: scales, T-scores, bands,
    caseness, alerts and prorating (with or without the referral's age and sex)."""
    definition = scoring.MEASURES[measure]
    matrix = as_matrix(data.draw(rows(definition, informant)))
    answers = [items_of(definition, informant, row) for row in matrix]
    ages = data.draw(st.lists(AGES, min_size=len(matrix), max_size=len(matrix)))
    sexes = data.draw(st.lists(SEXES, min_size=len(matrix), max_size=len(matrix)))
    together = scoring.score_many(
        measure, informant, answers, ages=ages if known else None, sexes=sexes if known else None
    )
    alone = [
        scoring.score(
            measure,
            informant,
            items,
            age=ages[index] if known else None,
            sex=sexes[index] if known else None,
        )
        for index, items in enumerate(answers)
    ]
    assert together == alone


def scored(measure: str, informant: str, data: st.DataObject) -> dict[str, FloatArray]:
    definition = scoring.MEASURES[measure]
    matrix = as_matrix(data.draw(rows(definition, informant)))
    return scoring.score_batch(measure, informant, matrix)


@pytest.mark.parametrize("informant", ["parent", "teacher", "self"])
@PROPERTY_SETTINGS
@given(data=st.data())
def test_sdq_totals_are_sums_of_scales(informant: str, data: st.DataObject) -> None:
    # measures.md: total = emotional + conduct + hyperactivity + peer, missing if any is;
    # externalising = conduct + hyperactivity, internalising = emotional + peer.
    s = scored("SDQ", informant, data)
    np.testing.assert_array_equal(
        s["total"], s["emotional"] + s["conduct"] + s["hyperactivity"] + s["peer"]
    )
    np.testing.assert_array_equal(s["externalising"], s["conduct"] + s["hyperactivity"])
    np.testing.assert_array_equal(s["internalising"], s["emotional"] + s["peer"])


RCADS_ANXIETY = ("separation_anxiety", "social_phobia", "generalised_anxiety", "panic", "ocd")


@pytest.mark.parametrize("informant", ["self", "parent"])
@PROPERTY_SETTINGS
@given(data=st.data())
def test_rcads_totals_are_sums_of_subscales(informant: str, data: st.DataObject) -> None:
    # measures.md: total_anxiety = the five anxiety subscales, total = those + depression;
    # a total is missing if any part is (NaN propagates through the sum).
    s = scored("RCADS", informant, data)
    anxiety = sum((s[name] for name in RCADS_ANXIETY), start=np.zeros(len(s["total"])))
    np.testing.assert_array_equal(s["total_anxiety"], anxiety)
    np.testing.assert_array_equal(s["total"], anxiety + s["depression"])


@pytest.mark.parametrize("informant", ["self", "parent"])
@PROPERTY_SETTINGS
@given(data=st.data())
def test_rcads25_total_is_depression_plus_anxiety(informant: str, data: st.DataObject) -> None:
    s = scored("RCADS25", informant, data)
    np.testing.assert_array_equal(s["total"], s["depression"] + s["anxiety"])


@PROPERTY_SETTINGS
@given(data=st.data())
def test_honosca_total_is_sum_of_scales_1_to_13_when_ten_rated(data: st.DataObject) -> None:
    s = scored("HONOSCA", "clinician", data)
    core = np.column_stack([s[f"scale_{number}"] for number in range(1, 14)])
    rated = (~np.isnan(core)).sum(axis=1)
    expected = np.where(rated >= 10, np.nansum(core, axis=1), np.nan)
    np.testing.assert_array_equal(s["total"], expected)


@pytest.mark.parametrize(
    ("measure", "informant"),
    [("ORS", "self"), ("CORS", "self"), ("CORS", "parent"), ("SRS", "self"), ("CSRS", "self")],
)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_four_mark_total_is_sum_of_items(measure: str, informant: str, data: st.DataObject) -> None:
    matrix = as_matrix(data.draw(rows(scoring.MEASURES[measure], informant)))
    total = scoring.score_batch(measure, informant, matrix)["total"]
    np.testing.assert_allclose(total, matrix.sum(axis=1), rtol=0, atol=1e-9)
    # and the total is itself on the one-decimal grid
    np.testing.assert_array_equal(total, np.round(total * 10) / 10)


SDQ_REVERSED = frozenset({"7", "11", "14", "21", "25"})
SDQ_FLIPPED_ITEMS = {
    "7": "conduct",
    "11": "peer",
    "14": "peer",
    "21": "hyperactivity",
    "25": "hyperactivity",
    "3": "emotional",
    "1": "prosocial",
}
"""Every reversed item, and two plain ones for contrast, with the scale each belongs to."""
SDQ_DIFFICULTIES = ("emotional", "conduct", "hyperactivity", "peer")
SDQ_BROAD = {"externalising": ("conduct", "hyperactivity"), "internalising": ("emotional", "peer")}


def sdq_scale_holds(name: str, scale: str) -> bool:
    """Whether the result ``name`` includes the items of ``scale``."""
    if name == "total":
        return scale in SDQ_DIFFICULTIES
    return name == scale or scale in SDQ_BROAD.get(name, ())


def test_sdq_all_zero_answers_score_only_the_reversed_items() -> None:
    # Answer 0 to all 25: reversed items score 2 - 0 = 2 each; conduct has item 7 (2),
    # peer items 11 and 14 (4), hyperactivity items 21 and 25 (4); total = 2 + 4 + 4 = 10.
    result = scoring.score("SDQ", "parent", {str(number): 0 for number in range(1, 26)})
    assert result.scales["emotional"] == 0
    assert result.scales["conduct"] == 2
    assert result.scales["peer"] == 4
    assert result.scales["hyperactivity"] == 4
    assert result.scales["prosocial"] == 0
    assert result.scales["total"] == 10


@pytest.mark.parametrize("informant", ["parent", "teacher", "self"])
@PROPERTY_SETTINGS
@given(data=st.data(), item=st.sampled_from(sorted(SDQ_FLIPPED_ITEMS)))
def test_sdq_answering_the_opposite(informant: str, item: str, data: st.DataObject) -> None:
    # A reversed item answered x scores 2 - x; answering 2 - x instead makes it score x, so
    # its scale changes by x - (2 - x) = 2x - 2. A plain item changes it by (2 - x) - x =
    # 2 - 2x. Results holding that scale (total, externalising, internalising) change alike;
    # every other result is unchanged.
    definition = scoring.MEASURES["SDQ"]
    matrix = as_matrix(data.draw(rows(definition, informant, complete=True)))
    column = definition.columns[informant].index(item)
    flipped = matrix.copy()
    flipped[:, column] = 2 - matrix[:, column]
    before = scoring.score_batch("SDQ", informant, matrix)
    after = scoring.score_batch("SDQ", informant, flipped)
    answer = matrix[:, column]
    delta = 2 * answer - 2 if item in SDQ_REVERSED else 2 - 2 * answer
    for name in (*SDQ_DIFFICULTIES, "prosocial", "total", *SDQ_BROAD):
        holds = sdq_scale_holds(name, SDQ_FLIPPED_ITEMS[item])
        expected = before[name] + delta if holds else before[name]
        np.testing.assert_array_equal(after[name], expected, err_msg=f"item {item}: {name}")
