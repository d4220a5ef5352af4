"""Per-referral pairing and outcome (outcomes.md §1–3), on hand-worked referrals.

Unless a test says otherwise: referral received 2020-01-10, age 12, closed 2020-03-31,
contact 1 on 03-02 and contact 2 on 03-10 (both attended, direct).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.pairing import referral_outcome
from scoring.types import (
    Assessment,
    Contact,
    GoalRating,
    PairedScale,
    Referral,
    ReferralOutcome,
    ReferralProfile,
)

PROFILE = ReferralProfile(
    provider_code="RXX",
    referral_id="R1",
    ccg_code="00Q",
    team_code=None,
    received_on=date(2020, 1, 10),
    age_years=12,
    gender="2",
    ethnicity="A",
    looked_after=False,
    ld_or_autism=False,
)
CLOSED = date(2020, 3, 31)
CONTACTS = (Contact("c1", date(2020, 3, 2), True), Contact("c2", date(2020, 3, 10), True))


def march(day: int) -> date:
    return date(2020, 3, day)


def assessment(
    assessment_id: str,
    measure: str,
    informant: str,
    day: int,
    scales: Mapping[str, float | None],
    *,
    t_scores: Mapping[str, float | None] | None = None,
    caseness: bool | None = None,
    hour: int = 9,
) -> Assessment:
    return Assessment(
        assessment_id=assessment_id,
        measure=measure,
        informant=informant,
        completed_on=march(day),
        emitted_at=datetime(2020, 3, day, hour),
        scales=scales,
        t_scores=t_scores or {},
        caseness=caseness,
    )


def referral(
    *assessments: Assessment,
    goals: tuple[GoalRating, ...] = (),
    contacts: tuple[Contact, ...] = CONTACTS,
    closed_on: date | None = CLOSED,
    profile: ReferralProfile | None = PROFILE,
) -> Referral:
    return Referral(
        profile=profile,
        closed_on=closed_on,
        contacts=contacts,
        assessments=assessments,
        goal_ratings=goals,
    )


def only_pair(outcome: ReferralOutcome) -> PairedScale:
    assert len(outcome.pairs) == 1, outcome.pairs
    return outcome.pairs[0]


def sdq_parent(assessment_id: str, day: int, **scales: float) -> Assessment:
    return assessment(assessment_id, "SDQ", "parent", day, scales)


# --- §1 cohort ---------------------------------------------------------------------------


def test_baseline_referral_is_in_cohort() -> None:
    assert referral_outcome(referral()).in_cohort


@pytest.mark.parametrize(("age", "expected"), [(0, True), (17, True), (18, False)])
def test_age_at_referral_0_to_17(age: int, expected: bool) -> None:
    profile = dataclasses.replace(PROFILE, age_years=age)
    assert referral_outcome(referral(profile=profile)).in_cohort is expected


@pytest.mark.parametrize(
    ("received", "expected"), [(date(2015, 12, 31), False), (date(2016, 1, 1), True)]
)
def test_received_from_2016(received: date, expected: bool) -> None:
    profile = dataclasses.replace(PROFILE, received_on=received)
    assert referral_outcome(referral(profile=profile)).in_cohort is expected


def test_open_or_reopened_referral_is_outside_the_cohort_but_still_paired() -> None:
    # closed_on None (reopened): every assessment counts, even one dated after 03-31.
    april = dataclasses.replace(sdq_parent("b", 20, conduct=4), completed_on=date(2020, 4, 15))
    outcome = referral_outcome(referral(sdq_parent("a", 5, conduct=8), april, closed_on=None))
    assert not outcome.in_cohort
    assert outcome.closed_on is None
    assert only_pair(outcome).change.category == "reliable_improvement"


def test_no_profile_is_outside_the_cohort() -> None:
    assert not referral_outcome(referral(profile=None)).in_cohort


@pytest.mark.parametrize(
    ("contacts", "expected"),
    [
        ((Contact("c1", march(2), True),), False),  # one contact
        ((Contact("c1", march(2), True), Contact("c2", march(10), False)), False),  # unattended
        (
            (Contact("c1", march(2), True), Contact("c2", march(10), False, "indirect")),
            True,
        ),  # an indirect contact counts attended or not
        ((Contact("c1", march(2), True), Contact("c2", date(2020, 4, 1), True)), False),
        ((Contact("c1", march(2), True), Contact("c2", CLOSED, True)), True),  # on closed_on
    ],
)
def test_two_counted_contacts(contacts: tuple[Contact, ...], expected: bool) -> None:
    assert referral_outcome(referral(contacts=contacts)).in_cohort is expected


def test_fewer_than_two_contacts_means_no_pair() -> None:
    outcome = referral_outcome(
        referral(
            sdq_parent("a", 5, conduct=8),
            sdq_parent("b", 20, conduct=4),
            contacts=(Contact("c1", march(2), True), Contact("c2", march(3), False)),
        )
    )
    assert outcome.pairs == ()
    assert outcome.with_assessment == {"parent"}
    assert outcome.paired == frozenset()


# --- §2 first and last -------------------------------------------------------------------


def test_assessment_before_contact_1_is_not_the_first() -> None:
    # 03-01 is before contact 1 (03-02): first = 8 on 03-05, last = 4 on 03-20.
    pair = only_pair(
        referral_outcome(
            referral(
                sdq_parent("a", 1, conduct=9),
                sdq_parent("b", 5, conduct=8),
                sdq_parent("c", 20, conduct=4),
            )
        )
    )
    assert (pair.first, pair.last, pair.first_on, pair.last_on) == (8, 4, march(5), march(20))
    assert pair.change.change == -4  # 4 - 8, improvement 4 >= 4
    assert pair.change.category == "reliable_improvement"


def test_last_before_contact_2_does_not_pair() -> None:
    # 03-03 and 03-08 are both before contact 2 (03-10): no last.
    outcome = referral_outcome(
        referral(sdq_parent("a", 3, conduct=8), sdq_parent("b", 8, conduct=4))
    )
    assert outcome.pairs == ()
    assert outcome.with_assessment == {"parent"}
    assert outcome.paired == frozenset()
    assert outcome.categories == {}


def test_a_single_assessment_after_contact_2_is_first_not_last() -> None:
    outcome = referral_outcome(
        referral(sdq_parent("a", 1, conduct=8), sdq_parent("b", 12, conduct=4))
    )
    assert outcome.pairs == ()


def test_same_day_same_value_counts_once() -> None:
    # Two copies of 8 on 03-12 are one assessment: nothing to pair it with.
    outcome = referral_outcome(
        referral(sdq_parent("a", 12, conduct=8), sdq_parent("b", 12, conduct=8))
    )
    assert outcome.pairs == ()


def test_same_day_different_values_pair_in_emitted_order() -> None:
    early = assessment("z", "SDQ", "parent", 12, {"conduct": 8}, hour=8)
    late = assessment("a", "SDQ", "parent", 12, {"conduct": 3}, hour=17)
    pair = only_pair(referral_outcome(referral(late, early)))
    assert (pair.first, pair.last) == (8, 3)


def test_last_tie_broken_by_emitted_at_then_assessment_id() -> None:
    first = sdq_parent("a", 5, conduct=8)
    six_at_9 = assessment("b", "SDQ", "parent", 20, {"conduct": 6}, hour=9)
    four_at_10 = assessment("c", "SDQ", "parent", 20, {"conduct": 4}, hour=10)
    pair = only_pair(referral_outcome(referral(first, four_at_10, six_at_9)))
    assert pair.last == 4  # emitted last; 8 -> 4 improves by 4
    four_at_8 = dataclasses.replace(four_at_10, emitted_at=datetime(2020, 3, 20, 8))
    pair = only_pair(referral_outcome(referral(first, four_at_8, six_at_9)))
    assert pair.last == 6  # 8 -> 6 improves by 2 < 4
    assert pair.change.category == "no_reliable_change"
    same_time = dataclasses.replace(four_at_10, assessment_id="a0", emitted_at=six_at_9.emitted_at)
    assert only_pair(referral_outcome(referral(first, same_time, six_at_9))).last == 6  # "a0" < "b"


def test_assessments_after_closed_on_are_ignored() -> None:
    after = dataclasses.replace(sdq_parent("b", 20, conduct=2), completed_on=date(2020, 4, 2))
    outcome = referral_outcome(referral(sdq_parent("a", 5, conduct=8), after))
    assert outcome.pairs == ()
    assert outcome.with_assessment == {"parent"}
    assert referral_outcome(referral(after)).with_assessment == frozenset()


def test_missing_scale_values_are_not_assessments() -> None:
    outcome = referral_outcome(referral(assessment("a", "SDQ", "parent", 5, {"conduct": None})))
    assert outcome.with_assessment == frozenset()


# --- §3 categories -------------------------------------------------------------------------


def test_improved() -> None:
    # conduct 8 -> 4 (improves 4 >= 4), emotional 5 -> 4 (1 < 4): improved.
    outcome = referral_outcome(
        referral(
            sdq_parent("a", 5, conduct=8, emotional=5), sdq_parent("b", 20, conduct=4, emotional=4)
        )
    )
    assert outcome.categories == {"parent": "improved"}
    assert outcome.paired == {"parent"}


def test_deterioration_wins_over_improvement() -> None:
    # conduct 8 -> 4 improves by 4; emotional 2 -> 6 worsens by 4 >= 4.
    outcome = referral_outcome(
        referral(
            sdq_parent("a", 5, conduct=8, emotional=2), sdq_parent("b", 20, conduct=4, emotional=6)
        )
    )
    assert outcome.categories == {"parent": "deteriorated"}


def test_no_change() -> None:
    # conduct 8 -> 6: 2 < 4.
    outcome = referral_outcome(
        referral(sdq_parent("a", 5, conduct=8), sdq_parent("b", 20, conduct=6))
    )
    assert outcome.categories == {"parent": "no_change"}


def test_non_metric_scales_are_paired_but_never_count() -> None:
    # SDQ total (no threshold, not a metric scale) and teacher conduct (no perspective).
    outcome = referral_outcome(
        referral(
            sdq_parent("a", 5, total=25),
            sdq_parent("b", 20, total=10),
            assessment("t1", "SDQ", "teacher", 5, {"conduct": 9}),
            assessment("t2", "SDQ", "teacher", 20, {"conduct": 1}),
        )
    )
    assert {(pair.informant, pair.scale, pair.in_metric) for pair in outcome.pairs} == {
        ("parent", "total", False),
        ("teacher", "conduct", False),
    }
    assert outcome.with_assessment == frozenset()
    assert outcome.paired == frozenset()
    assert outcome.categories == {}


# --- RCADS: T-scores, and raw under nhs --------------------------------------------------


def rcads_self(assessment_id: str, day: int, raw: float, t_score: float | None) -> Assessment:
    return assessment(
        assessment_id,
        "RCADS",
        "self",
        day,
        {"depression": raw},
        t_scores={} if t_score is None else {"depression": t_score},
    )


def test_rcads_pairs_t_scores() -> None:
    # T 72 -> 54: -18, improvement 18 >= 17.73 (raw 20 -> 14 would not matter).
    for method in ("default", "nhs"):
        outcome = referral_outcome(
            referral(rcads_self("a", 5, 20, 72), rcads_self("b", 20, 14, 54)), method=method
        )
        pair = only_pair(outcome)
        assert (pair.first, pair.last, pair.in_metric) == (72, 54, True)
        assert outcome.categories == {"self": "improved"}


def test_rcads_without_t_score_default_is_paired_without_a_flag() -> None:
    # Raw 20 -> 2: change -18, but no T-score: paired, no category.
    outcome = referral_outcome(referral(rcads_self("a", 5, 20, None), rcads_self("b", 20, 2, 50)))
    pair = only_pair(outcome)
    assert (pair.first, pair.last, pair.change.change) == (20, 2, -18)
    assert (pair.change.threshold, pair.change.category) == (None, None)
    assert outcome.paired == {"self"}
    assert outcome.categories == {}


@pytest.mark.parametrize(("last_raw", "category"), [(2, "improved"), (5, "no_change")])
def test_rcads_without_t_score_nhs_compares_raw_with_t_threshold(
    last_raw: float, category: str
) -> None:
    # nhs: raw 20 -> 2 improves by 18 >= 17.73; 20 -> 5 by 15 < 17.73.
    outcome = referral_outcome(
        referral(rcads_self("a", 5, 20, None), rcads_self("b", 20, last_raw, None)), method="nhs"
    )
    assert only_pair(outcome).change.threshold == 17.73
    assert outcome.categories == {"self": category}


# --- national quirks ---------------------------------------------------------------------


def test_sdq_prosocial_improvement_default_vs_nhs_quirk() -> None:
    # Parent prosocial 5 -> 8: +3 with threshold 3; better under default, worse under nhs.
    both = referral(sdq_parent("a", 5, prosocial=5), sdq_parent("b", 20, prosocial=8))
    assert referral_outcome(both).categories == {"parent": "improved"}
    assert referral_outcome(both, method="nhs").categories == {"parent": "deteriorated"}


def test_honosca_self_scale_1_counts_under_parent_with_nhs() -> None:
    # Self-rated scale 1: 3 -> 1 improves by 2 >= 2.
    honosca = referral(
        assessment("a", "HONOSCA", "self", 5, {"scale_1": 3}),
        assessment("b", "HONOSCA", "self", 20, {"scale_1": 1}),
    )
    default = referral_outcome(honosca)
    assert (default.with_assessment, default.paired) == (frozenset({"self"}), frozenset({"self"}))
    assert default.categories == {"self": "improved"}
    nhs = referral_outcome(honosca, method="nhs")
    assert (nhs.with_assessment, nhs.paired) == (frozenset({"parent"}), frozenset({"parent"}))
    assert nhs.categories == {"parent": "improved"}


def test_honosca_self_scale_2_stays_self_with_nhs() -> None:
    honosca = referral(
        assessment("a", "HONOSCA", "self", 5, {"scale_2": 3}),
        assessment("b", "HONOSCA", "self", 20, {"scale_2": 4}),
    )
    assert referral_outcome(honosca, method="nhs").categories == {"self": "no_change"}


# --- GBO, coded scores, headlines --------------------------------------------------------


def goal(goal_id: str, day: int, rating: float) -> GoalRating:
    return GoalRating(goal_id, rating, march(day), datetime(2020, 3, day, 12))


def test_gbo_goals_pair_separately_and_headline_is_their_mean() -> None:
    # Goal A 2 -> 6 (+4 >= 3), goal B 3 -> 4 (+1), goal C rated once (not paired).
    outcome = referral_outcome(
        referral(
            goals=(
                goal("A", 5, 2),
                goal("B", 5, 3),
                goal("C", 12, 7),
                goal("A", 20, 6),
                goal("B", 20, 4),
            )
        )
    )
    assert [(pair.scale, pair.first, pair.last, pair.in_metric) for pair in outcome.pairs] == [
        ("goal_A", 2, 6, True),
        ("goal_B", 3, 4, True),
    ]
    assert outcome.categories == {"self": "improved"}
    (headline,) = outcome.headlines
    # mean first (2 + 3) / 2 = 2.5, mean last (6 + 4) / 2 = 5; +2.5 < 3.
    assert (headline.measure, headline.informant, headline.scale) == ("GBO", "self", "goal_mean")
    assert (headline.first, headline.last, headline.change.change) == (2.5, 5, 2.5)
    assert (headline.change.threshold, headline.change.category) == (3, "no_reliable_change")
    assert (headline.clinical_first, headline.recovered) == (None, None)


def test_coded_phq9_pair() -> None:
    # PHQ-9 20 -> 13: improvement 7 >= 6.
    outcome = referral_outcome(
        referral(
            assessment("a", "PHQ9", "self", 5, {"total": 20}),
            assessment("b", "PHQ9", "self", 20, {"total": 13}),
        )
    )
    pair = only_pair(outcome)
    assert (pair.in_metric, pair.change.threshold) == (True, 6)
    assert outcome.categories == {"self": "improved"}
    assert outcome.headlines == ()


def test_headlines_recovery_and_reliable_recovery() -> None:
    outcome = referral_outcome(
        referral(
            assessment("s1", "SDQ", "parent", 5, {"total": 22}, caseness=True),
            assessment("s2", "SDQ", "parent", 20, {"total": 12}, caseness=False),
            assessment("o1", "ORS", "self", 5, {"total": 20}, caseness=True),
            assessment("o2", "ORS", "self", 20, {"total": 30}, caseness=False),
            assessment("h1", "HONOSCA", "clinician", 5, {"total": 20}),
            assessment("h2", "HONOSCA", "clinician", 20, {"total": 21}),
            assessment("r1", "RCADS", "self", 5, {"total": 60}, t_scores={"total": 70}),
            assessment("r2", "RCADS", "self", 20, {"total": 40}, t_scores={"total": 60}),
        )
    )
    by_measure = {headline.measure: headline for headline in outcome.headlines}
    assert list(by_measure) == ["HONOSCA", "ORS", "RCADS", "SDQ"]
    sdq = by_measure["SDQ"]
    # SDQ total 22 -> 12: recovered (clinical -> not), no threshold so not reliably.
    assert (sdq.first, sdq.last, sdq.change.category) == (22, 12, None)
    assert (sdq.recovered, sdq.reliably_recovered) == (True, False)
    ors = by_measure["ORS"]
    # ORS 20 -> 30: +10 >= 6.6, clinical -> not: reliably recovered.
    assert (ors.change.category, ors.recovered, ors.reliably_recovered) == (
        "reliable_improvement",
        True,
        True,
    )
    honosca = by_measure["HONOSCA"]
    assert (honosca.change.threshold, honosca.clinical_first, honosca.recovered) == (
        None,
        None,
        None,
    )
    rcads = by_measure["RCADS"]
    assert (rcads.first, rcads.last) == (60, 40)  # raw, not T


def test_unknown_method() -> None:
    with pytest.raises(ValueError, match="default, nhs, unrounded"):
        referral_outcome(referral(), method="local")


@settings(max_examples=30, deadline=None)
@given(st.randoms(use_true_random=False))
def test_outcome_does_not_depend_on_input_order(shuffler: random.Random) -> None:
    assessments = [
        sdq_parent("a", 1, conduct=9),
        sdq_parent("b", 5, conduct=8, prosocial=5),
        sdq_parent("c", 12, conduct=8, prosocial=5),
        sdq_parent("d", 20, conduct=4, prosocial=9),
        assessment("e", "SDQ", "parent", 20, {"conduct": 5}, hour=7),
        rcads_self("f", 6, 20, 72),
        rcads_self("g", 25, 14, 54),
    ]
    contacts = [*CONTACTS, Contact("c3", march(4), True), Contact("c0", march(1), False)]
    expected = referral_outcome(referral(*assessments, contacts=tuple(contacts)))
    shuffler.shuffle(assessments)
    shuffler.shuffle(contacts)
    assert referral_outcome(referral(*assessments, contacts=tuple(contacts))) == expected
