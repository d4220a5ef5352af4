"""GBO rules of measures.md and events.md (goal.rated), worked out by hand."""

import numpy as np
import pytest

import scoring


@pytest.mark.parametrize("rating", [0, 1, 5, 9, 10])
def test_each_rating_is_the_goal_score(rating: int) -> None:
    result = scoring.score("GBO", "self", {"rating": rating})
    assert result.scales == {"goal": rating}
    assert result.caseness is None
    assert result.bands == {}


@pytest.mark.parametrize("rating", [-1, 11, 4.5, 9.9])
def test_rating_outside_integers_0_to_10_is_rejected(rating: float) -> None:
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score("GBO", "self", {"rating": rating})
    assert caught.value.error_code == "schema.out_of_range"
    assert caught.value.item == "rating"


def test_rating_must_be_present_and_answered() -> None:
    for items in ({}, {"rating": None}):
        with pytest.raises(scoring.InvalidResponse) as caught:
            scoring.score("GBO", "self", items)
        assert caught.value.error_code == "schema.missing_field"


def test_parent_may_rate_a_goal_but_not_a_teacher() -> None:
    assert scoring.score("GBO", "parent", {"rating": 3}).scales["goal"] == 3
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score("GBO", "teacher", {"rating": 3})
    assert caught.value.error_code == "schema.bad_informant"


def test_batch_of_ratings() -> None:
    result = scoring.score_batch("GBO", "self", np.array([[0.0], [7.0], [10.0]]))
    assert result["goal"].tolist() == [0.0, 7.0, 10.0]


def test_higher_is_better() -> None:
    assert scoring.MEASURES["GBO"].higher_is_better == frozenset({"goal"})
