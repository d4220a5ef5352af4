"""Folding a referral's events into facts: corrections, withdrawals, reopen, any order."""

import random
from collections import defaultdict
from datetime import date
from typing import Any

from scoring.pairing import referral_outcome, referral_outcomes
from services.pipeline.assemble import assemble, assemble_many
from services.simulate import simulate
from tests import factories as f


def test_profile_contacts_and_scored_questionnaire() -> None:
    events = [
        f.opened(age=12, gender="female"),
        f.contact("c1", date(2019, 4, 2)),
        f.honosca("a1", date(2019, 4, 2), rating=2),
    ]
    assembled = assemble(events)
    referral = assembled.referral
    assert referral.profile is not None
    assert referral.profile.age_years == 12
    assert referral.closed_on is None
    assert [c.contact_id for c in referral.contacts] == ["c1"]
    (assessment,) = referral.assessments
    assert assessment.scales["total"] == 26  # 13 scales rated 2
    assert assembled.events == 3


def test_later_emitted_correction_replaces_the_earlier_whatever_the_arrival_order() -> None:
    first = f.honosca("a1", date(2019, 4, 2), rating=2)
    correction = f.honosca("a1", date(2019, 4, 2), rating=1)  # emitted later
    for events in ([first, correction], [correction, first]):
        (assessment,) = assemble(events).referral.assessments
        assert assessment.scales["total"] == 13


def test_withdrawal_removes_the_assessment_even_if_it_arrives_first() -> None:
    events = [f.withdrawn("a1"), f.honosca("a1", date(2019, 4, 2), rating=2)]
    assert assemble(events).referral.assessments == ()


def test_reopen_after_close_leaves_the_referral_open_and_a_later_close_closes_it() -> None:
    close = f.closed(date(2019, 6, 30))
    reopen = f.reopened()
    assert assemble([reopen, close]).referral.closed_on is None
    close_again = f.closed(date(2019, 9, 30))
    assert assemble([close, close_again, reopen]).referral.closed_on == date(2019, 9, 30)


def test_withdrawn_goal_rating_is_dropped_and_others_kept() -> None:
    events = [
        f.goal("g1", 3, date(2019, 4, 2)),
        f.goal("g1", 7, date(2019, 6, 2)),
        f.withdrawn("g1", kind="goal_rating", rated_on=date(2019, 6, 2)),
    ]
    ratings = assemble(events).referral.goal_ratings
    assert [(r.goal_id, r.rating) for r in ratings] == [("g1", 3.0)]


def test_same_set_in_any_order_assembles_identically() -> None:
    events = [
        f.opened(),
        f.contact("c1", date(2019, 4, 2)),
        f.contact("c2", date(2019, 5, 2), kind="indirect"),
        f.honosca("a1", date(2019, 4, 2), rating=3),
        f.honosca("a2", date(2019, 6, 2), rating=1),
        f.goal("g1", 2, date(2019, 4, 2)),
        f.closed(date(2019, 6, 30)),
    ]
    expected = assemble(events)
    shuffled = events[:]
    random.Random(4).shuffle(shuffled)
    assert assemble(shuffled) == expected


def test_referrals_assembled_together_are_as_assembled_alone() -> None:
    """One pass scores its referrals' questionnaires together, grouped by measure × informant;
    each referral must come out as it does alone (simulated: every measure, late profiles)."""
    by_referral: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for event in simulate(30, seed=11):
        by_referral[(event["provider_code"], event["referral_id"])].append(event)
    referrals = list(by_referral.values())
    referrals.append([e for e in referrals[0] if e["event_type"] != "referral.opened"])
    together = assemble_many(referrals)
    assert together == [assemble(events) for events in referrals]
    assert sum(len(a.scores) for a in together) > 100


def test_outcomes_under_both_methods_at_once_are_as_one_method_at_a_time() -> None:
    """The derivation pairs each referral under both methods from one selection of first and
    last scores; each outcome must be what that method gives alone (simulated referrals)."""
    by_referral: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for event in simulate(40, seed=5):
        by_referral[(event["provider_code"], event["referral_id"])].append(event)
    methods = ("default", "nhs")
    outcomes = []
    for assembled in assemble_many(list(by_referral.values())):
        together = referral_outcomes(assembled.referral, methods)
        alone = [referral_outcome(assembled.referral, method=method) for method in methods]
        assert together == alone
        outcomes += together
    assert sum(bool(outcome.pairs) for outcome in outcomes) > 20
