"""HoNOSCA rules of measures.md, with expectations worked out by hand."""

import pytest

import scoring


def ratings(**overrides: int | None) -> dict[str, int | None]:
    items: dict[str, int | None] = {str(number): 1 for number in range(1, 16)}
    items.update({key.removeprefix("s"): value for key, value in overrides.items()})
    return items


def test_total_sums_scales_1_to_13_only() -> None:
    # 13 scales rated 1 -> 13; scales 14 and 15 rated 4 must not count.
    result = scoring.score("HONOSCA", "clinician", ratings(s14=4, s15=4))
    assert result.scales["total"] == 13
    assert result.scales["scale_14"] == 4


def test_nine_is_not_known_and_excluded() -> None:
    result = scoring.score("HONOSCA", "clinician", ratings(s1=9, s2=9, s3=9))
    assert result.scales["scale_1"] is None
    assert result.scales["total"] == 10  # 10 scales rated 1, no prorating


def test_total_needs_ten_of_thirteen_rated() -> None:
    four_missing = ratings(s1=9, s2=None, s3=9, s4=None)
    assert scoring.score("HONOSCA", "self", four_missing).scales["total"] is None


@pytest.mark.parametrize("value", [5, -1, 1.5, 8])
def test_out_of_range_rating_is_rejected(value: float) -> None:
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score("HONOSCA", "parent", ratings(s7=value))  # type: ignore[arg-type]
    assert caught.value.error_code == "schema.out_of_range"
    assert caught.value.item == "7"


def test_teacher_is_not_an_informant() -> None:
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score("HONOSCA", "teacher", ratings())
    assert caught.value.error_code == "schema.bad_informant"
