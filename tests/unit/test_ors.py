"""ORS/CORS/SRS/CSRS rules of measures.md, with expectations worked out by hand."""

import numpy as np
import pytest

import scoring
from scoring import ors


def marks(a: object, b: object, c: object, d: object) -> dict[str, object]:
    return {"1": a, "2": b, "3": c, "4": d}


def test_total_of_decimal_marks() -> None:
    # 7.3 + 8.1 = 15.4; + 6.4 = 21.8; + 9.0 = 30.8 (in floating point 30.799999999999997)
    result = scoring.score("ORS", "self", marks(7.3, 8.1, 6.4, 9.0), age=15)
    assert result.scales == {"total": 30.8}
    assert result.bands == {"total": "non-clinical"}
    assert result.caseness is False


def test_total_range_ends() -> None:
    assert scoring.score("CORS", "self", marks(0, 0, 0, 0)).scales["total"] == 0
    assert scoring.score("CORS", "self", marks(10, 10, 10, 10)).scales["total"] == 40


@pytest.mark.parametrize("value", [10.5, 10.05, -0.1, 7.25, 11])
def test_mark_outside_0_to_10_in_tenths_is_rejected(value: float) -> None:
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score("ORS", "self", marks(5, value, 5, 5))
    assert caught.value.error_code == "schema.out_of_range"
    assert caught.value.item == "2"


@pytest.mark.parametrize("measure", ["ORS", "CORS", "SRS", "CSRS"])
def test_every_item_is_required_and_answered(measure: str) -> None:
    with pytest.raises(scoring.InvalidResponse) as missing:
        scoring.score(measure, "self", {"1": 5, "2": 5, "3": 5})
    assert (missing.value.error_code, missing.value.item) == ("schema.missing_field", "4")
    with pytest.raises(scoring.InvalidResponse) as null:
        scoring.score(measure, "self", marks(5, None, 5, 5))
    assert (null.value.error_code, null.value.item) == ("schema.missing_field", "2")


def test_batch_rejects_an_unanswered_mark() -> None:
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score_batch("SRS", "self", np.array([[9.0, 9.0, np.nan, 9.0]]))
    assert caught.value.error_code == "schema.missing_field"


# Cut-off edges: a total strictly below the cut-off is clinical.
@pytest.mark.parametrize(
    ("measure", "age", "items", "total", "clinical"),
    [
        # ORS 13–17, cut-off 28 (P): 7 + 7 + 7 + 6.9 = 27.9 clinical; 7 × 4 = 28.0 not
        ("ORS", 15, marks(7, 7, 7, 6.9), 27.9, True),
        ("ORS", 15, marks(7, 7, 7, 7), 28.0, False),
        ("ORS", 13, marks(7, 7, 7, 6.9), 27.9, True),
        # 17.9 is still under 18: adolescent cut-off
        ("ORS", 17.9, marks(7, 7, 7, 6.9), 27.9, True),
        # no age: the adolescent cut-off (P)
        ("ORS", None, marks(7, 7, 7, 6.9), 27.9, True),
        ("ORS", None, marks(7, 7, 7, 7), 28.0, False),
        # adult, cut-off 25 (V2): 6.2 + 6.2 + 6.2 + 6.3 = 24.9 clinical;
        # 6.3 + 6.2 + 6.2 + 6.3 = 25.0 not clinical; 27.9 at 18 is no longer clinical
        ("ORS", 18, marks(6.2, 6.2, 6.2, 6.3), 24.9, True),
        ("ORS", 18, marks(6.3, 6.2, 6.2, 6.3), 25.0, False),
        ("ORS", 18, marks(7, 7, 7, 6.9), 27.9, False),
        # CORS, cut-off 32 at any age (V2): 8 + 8 + 8 + 7.9 = 31.9 clinical; 8 × 4 = 32.0 not
        ("CORS", 9, marks(8, 8, 8, 7.9), 31.9, True),
        ("CORS", 9, marks(8, 8, 8, 8), 32.0, False),
        ("CORS", None, marks(8.1, 7.9, 8.3, 7.6), 31.9, True),
    ],
)
def test_clinical_cut_off_edges(
    measure: str, age: float | None, items: dict[str, object], total: float, clinical: bool
) -> None:
    result = scoring.score(measure, "self", items, age=age)
    assert result.scales["total"] == total
    assert result.caseness is clinical
    assert result.bands["total"] == ("clinical" if clinical else "non-clinical")


def test_parent_completed_cors_uses_the_same_cut_off() -> None:
    result = scoring.score("CORS", "parent", marks(8, 8, 8, 7.9))  # 31.9 < 32
    assert result.caseness is True


@pytest.mark.parametrize(("measure", "informant"), [("ORS", "parent"), ("SRS", "parent")])
def test_informants_outside_the_measure_are_rejected(measure: str, informant: str) -> None:
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score(measure, informant, marks(5, 5, 5, 5))
    assert caught.value.error_code == "schema.bad_informant"


@pytest.mark.parametrize("measure", ["SRS", "CSRS"])
def test_alliance_alert_below_36_only(measure: str) -> None:
    # 9 + 9 + 9 + 8.9 = 35.9 < 36: alert; 9 × 4 = 36.0: none (strict < by default)
    weak = scoring.score(measure, "self", marks(9, 9, 9, 8.9))
    assert weak.scales["total"] == 35.9
    assert weak.alerts == frozenset({"alliance"})
    strong = scoring.score(measure, "self", marks(9, 9, 9, 9))
    assert strong.scales["total"] == 36.0
    assert strong.alerts == frozenset()
    # alliance is not an outcome measure
    assert weak.caseness is None
    assert strong.caseness is None


def test_alliance_alert_parameter_for_at_or_below() -> None:
    assert ors.alliance_alert(36.0) is False
    assert ors.alliance_alert(36.0, at_cut_off=True) is True
    assert ors.alliance_alert(36.1, at_cut_off=True) is False
    assert ors.alliance_alert(35.9) is True
    assert ors.alliance_alert(None) is False


def test_outcome_measures_are_higher_is_better() -> None:
    for code in ("ORS", "CORS", "SRS", "CSRS"):
        assert scoring.MEASURES[code].higher_is_better == frozenset({"total"})
