"""The batch recomputation integration tests compare the pipeline against.

Written separately from ``services.pipeline.assemble`` on purpose, straight from events.md:
keep the first copy of each event_id, fold each referral's events (latest ``emitted_at``
wins, withdrawals remove, the last close/reopen decides), score with the scoring library,
pair and aggregate with ``scoring.pairing`` / ``scoring.figures``. No database, no broker.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import numpy as np

import scoring
import topics
from scoring import figures, rcads
from scoring.codes import CODES
from scoring.figures import AggregateKey
from scoring.types import Assessment, Contact, GoalRating, Referral, ReferralProfile

METHODS = ("default", "nhs")


def unique_valid_events(raw_messages: Iterable[bytes]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for raw in raw_messages:
        try:
            event = topics.parse_event(raw)
        except topics.InvalidEvent:
            continue
        body = event.model_dump(mode="json")
        seen.setdefault(body["event_id"], body)
    return list(seen.values())


def fold(events: list[dict[str, Any]]) -> tuple[Referral, int]:
    events = sorted(events, key=lambda e: (datetime.fromisoformat(e["emitted_at"]), e["event_id"]))
    profile = None
    closed_on = None
    contacts: dict[str, Contact] = {}
    questionnaires: dict[str, dict[str, Any]] = {}
    coded: dict[str, dict[str, Any]] = {}
    goals: list[dict[str, Any]] = []
    withdrawn_assessments: set[str] = set()
    withdrawn_ratings: set[tuple[str, str | None]] = set()
    for e in events:
        kind, p = e["event_type"], e["payload"]
        if kind == "referral.opened":
            profile = ReferralProfile(
                e["provider_code"],
                e["referral_id"],
                p["ccg_code"],
                p.get("team_code"),
                date.fromisoformat(p["received_on"]),
                p["age_years"],
                p["gender"],
                p["ethnicity"],
                p["looked_after"],
                p["ld_or_autism"],
            )
        elif kind == "referral.closed":
            closed_on = date.fromisoformat(p["closed_on"])
        elif kind == "referral.reopened":
            closed_on = None
        elif kind == "contact.recorded":
            contacts[p["contact_id"]] = Contact(
                p["contact_id"],
                date.fromisoformat(p["contact_on"]),
                p["attended"],
                p.get("kind") or "direct",
            )
        elif kind == "questionnaire.completed":
            questionnaires[p["assessment_id"]] = e
        elif kind == "assessment.scored":
            coded[p["assessment_id"]] = e
        elif kind == "goal.rated":
            goals.append(e)
        elif kind == "record.entered_in_error":
            if p["kind"] == "assessment":
                withdrawn_assessments.add(p["target"])
            else:
                withdrawn_ratings.add((p["target"], p.get("rated_on")))
    age = None if profile is None else float(profile.age_years)
    sex = None if profile is None else profile.gender
    assessments = []
    for assessment_id, e in questionnaires.items():
        if assessment_id in withdrawn_assessments:
            continue
        p = e["payload"]
        s = scoring.score(p["measure"], p["informant"], p["items"], age=age, sex=sex)
        assessments.append(
            Assessment(
                assessment_id,
                s.measure,
                s.informant,
                date.fromisoformat(p["completed_on"]),
                datetime.fromisoformat(e["emitted_at"]),
                s.scales,
                s.t_scores,
                s.caseness,
            )
        )
    for assessment_id, e in coded.items():
        if assessment_id in withdrawn_assessments or assessment_id in questionnaires:
            continue
        p = e["payload"]
        by_measure: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        for entry in p["scores"]:
            code = CODES.get(entry["snomed"])
            if code is not None and code.low <= entry["value"] <= code.high:
                by_measure[(code.measure, code.informant)][code.scale] = float(entry["value"])
        for (measure, informant), scales in by_measure.items():
            t: dict[str, float | None] = {}
            if measure == "RCADS" and profile is not None:
                for scale, raw in scales.items():
                    if scale in rcads.T_SUBSCALES:
                        value = rcads.t_score(
                            informant,
                            scale,
                            np.array([raw]),
                            np.array([age]),
                            np.array([sex], dtype=np.str_),
                        )[0]
                        t[scale] = None if np.isnan(value) else float(value)
            assessments.append(
                Assessment(
                    assessment_id,
                    measure,
                    informant,
                    date.fromisoformat(p["completed_on"]),
                    datetime.fromisoformat(e["emitted_at"]),
                    scales,
                    t,
                )
            )
    ratings = tuple(
        GoalRating(
            e["payload"]["goal_id"],
            float(e["payload"]["rating"]),
            date.fromisoformat(e["payload"]["rated_on"]),
            datetime.fromisoformat(e["emitted_at"]),
            e["payload"].get("informant", "self"),
        )
        for e in events
        if e["event_type"] == "goal.rated"
        and (e["payload"]["goal_id"], e["payload"]["rated_on"]) not in withdrawn_ratings
    )
    referral = Referral(profile, closed_on, tuple(contacts.values()), tuple(assessments), ratings)
    return referral, len(events)


def recompute(raw_messages: Iterable[bytes]) -> dict[AggregateKey, dict[str, float]]:
    """Aggregate counters (including ``events``) over the unique valid events."""
    by_referral: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for event in unique_valid_events(raw_messages):
        by_referral[(event["provider_code"], event["referral_id"])].append(event)
    totals: dict[AggregateKey, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for events in by_referral.values():
        referral, count = fold(events)
        for method in METHODS:
            outcome = scoring.referral_outcome(referral, method=method)
            for key, counters in figures.contributions(referral.profile, outcome).items():
                for name, value in counters.items():
                    totals[key][name] += value
                totals[key]["events"] += count
    return {key: dict(values) for key, values in totals.items()}
