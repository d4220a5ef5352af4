"""Fold a referral's unique valid events into the facts that pairing needs.

Pure and order-independent: the same *set* of events gives the same referral whatever order
and however many times they arrived (events.md § Events out of order). Corrections are
resolved by ``emitted_at`` (ties by ``event_id``), withdrawals (``record.entered_in_error``)
remove their target whenever they arrive, and a questionnaire held before its
``referral.opened`` is scored once the profile (age, sex for RCADS T-scores) is known.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

import scoring
from scoring import rcads
from scoring.codes import CODES
from scoring.types import (
    Assessment,
    Contact,
    GoalRating,
    Referral,
    ReferralProfile,
    Score,
)

Event = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AssembledReferral:
    """A referral's facts plus the scores of its current questionnaires."""

    referral: Referral
    scores: dict[str, Score]
    """Current questionnaire scores by ``assessment_id`` (not coded scores)."""
    sources: dict[str, str]
    """``event_id`` of the current version of each assessment, by ``assessment_id``."""
    events: int


def _order(event: Event) -> tuple[datetime, str]:
    return (datetime.fromisoformat(event["emitted_at"]), str(event["event_id"]))


def _latest_by(events: Iterable[Event], key: str) -> dict[str, Event]:
    latest: dict[str, Event] = {}
    for event in sorted(events, key=_order):
        latest[str(event["payload"][key])] = event
    return latest


def _profile(opened: list[Event]) -> ReferralProfile | None:
    if not opened:
        return None
    event = max(opened, key=_order)
    payload = event["payload"]
    return ReferralProfile(
        provider_code=event["provider_code"],
        referral_id=event["referral_id"],
        ccg_code=payload["ccg_code"],
        team_code=payload.get("team_code"),
        received_on=date.fromisoformat(payload["received_on"]),
        age_years=int(payload["age_years"]),
        gender=payload["gender"],
        ethnicity=payload["ethnicity"],
        looked_after=bool(payload["looked_after"]),
        ld_or_autism=bool(payload["ld_or_autism"]),
    )


def _closed_on(lifecycle: list[Event]) -> date | None:
    """A close is undone by a later reopen; the latest lifecycle event decides."""
    if not lifecycle:
        return None
    last = max(lifecycle, key=_order)
    if last["event_type"] != "referral.closed":
        return None
    return date.fromisoformat(last["payload"]["closed_on"])


def _coded_assessments(event: Event, profile: ReferralProfile | None) -> list[Assessment]:
    """One :class:`Assessment` per measure × informant named by the event's SNOMED codes."""
    payload = event["payload"]
    grouped: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for entry in payload["scores"]:
        coded = CODES.get(str(entry["snomed"]))
        if coded is None or not coded.in_range(float(entry["value"])):
            continue  # left out and dead-lettered at validation (events.md)
        grouped[(coded.measure, coded.informant)][coded.scale] = float(entry["value"])
    assessments = []
    for (measure, informant), scales in sorted(grouped.items()):
        t_scores: dict[str, float | None] = {}
        if measure == "RCADS" and profile is not None:
            for scale, raw in scales.items():
                if scale in rcads.T_SUBSCALES:
                    value = rcads.t_score(
                        informant,
                        scale,
                        np.array([raw]),
                        np.array([float(profile.age_years)]),
                        np.array([profile.gender], dtype=np.str_),
                    )[0]
                    t_scores[scale] = None if np.isnan(value) else float(value)
        assessments.append(
            Assessment(
                assessment_id=str(payload["assessment_id"]),
                measure=measure,
                informant=informant,
                completed_on=date.fromisoformat(payload["completed_on"]),
                emitted_at=datetime.fromisoformat(event["emitted_at"]),
                scales=dict(scales),
                t_scores=t_scores,
            )
        )
    return assessments


@dataclass(frozen=True, slots=True)
class _Gathered:
    """One referral's events sorted by type, with what scoring its questionnaires needs."""

    by_type: dict[str, list[Event]]
    profile: ReferralProfile | None
    withdrawn: set[str]
    """``assessment_id`` of every withdrawn assessment."""
    questionnaires: dict[str, Event]
    """The current version of each questionnaire not withdrawn, by ``assessment_id``."""
    events: int


def _gather(events: Iterable[Event]) -> _Gathered:
    by_type: dict[str, list[Event]] = defaultdict(list)
    count = 0
    for event in events:
        by_type[event["event_type"]].append(event)
        count += 1
    withdrawn = {
        str(e["payload"]["target"])
        for e in by_type["record.entered_in_error"]
        if e["payload"]["kind"] == "assessment"
    }
    questionnaires = {
        assessment_id: e
        for assessment_id, e in _latest_by(
            by_type["questionnaire.completed"], "assessment_id"
        ).items()
        if assessment_id not in withdrawn
    }
    return _Gathered(
        by_type, _profile(by_type["referral.opened"]), withdrawn, questionnaires, count
    )


def assemble(events: Iterable[Event]) -> AssembledReferral:
    """Build the current facts of one referral from all its unique valid events."""
    (assembled,) = assemble_many([events])
    return assembled


def assemble_many(referrals: Sequence[Iterable[Event]]) -> list[AssembledReferral]:
    """:func:`assemble` for each of ``referrals`` (the events of one each), their questionnaires
    scored together, one vectorised pass per measure × informant (``scoring.score_many``)."""
    gathered = [_gather(events) for events in referrals]
    groups: dict[tuple[str, str, bool], list[tuple[int, str]]] = defaultdict(list)
    for index, referral in enumerate(gathered):
        for assessment_id, event in referral.questionnaires.items():
            payload = event["payload"]
            unknown = referral.profile is None
            groups[(payload["measure"], payload["informant"], unknown)].append(
                (index, assessment_id)
            )
    scores: list[dict[str, Score]] = [{} for _ in gathered]
    for (measure, informant, unknown), members in groups.items():
        profiles = [gathered[index].profile for index, _ in members]
        results = scoring.score_many(
            measure,
            informant,
            [gathered[i].questionnaires[a]["payload"]["items"] for i, a in members],
            ages=None if unknown else [float(p.age_years) for p in profiles if p is not None],
            sexes=None if unknown else [p.gender for p in profiles if p is not None],
        )
        for (index, assessment_id), result in zip(members, results, strict=True):
            scores[index][assessment_id] = result
    return [_assembled(r, s) for r, s in zip(gathered, scores, strict=True)]


def _assembled(gathered: _Gathered, scored: dict[str, Score]) -> AssembledReferral:
    by_type, profile, withdrawn = gathered.by_type, gathered.profile, gathered.withdrawn
    withdrawn_ratings = {
        (str(e["payload"]["target"]), e["payload"].get("rated_on"))
        for e in by_type["record.entered_in_error"]
        if e["payload"]["kind"] == "goal_rating"
    }
    contacts = tuple(
        Contact(
            contact_id=contact_id,
            contact_on=date.fromisoformat(e["payload"]["contact_on"]),
            attended=bool(e["payload"]["attended"]),
            kind=e["payload"].get("kind", "direct"),
        )
        for contact_id, e in _latest_by(by_type["contact.recorded"], "contact_id").items()
    )
    assessments: list[Assessment] = []
    questionnaires = gathered.questionnaires
    scores = {assessment_id: scored[assessment_id] for assessment_id in questionnaires}
    coded = _latest_by(by_type["assessment.scored"], "assessment_id")
    sources = {
        assessment_id: str(e["event_id"])
        for assessment_id, e in (*coded.items(), *questionnaires.items())
        if assessment_id not in withdrawn
    }
    for assessment_id, e in questionnaires.items():
        payload = e["payload"]
        result = scores[assessment_id]
        assessments.append(
            Assessment(
                assessment_id=assessment_id,
                measure=result.measure,
                informant=result.informant,
                completed_on=date.fromisoformat(payload["completed_on"]),
                emitted_at=datetime.fromisoformat(e["emitted_at"]),
                scales=result.scales,
                t_scores=result.t_scores,
                caseness=result.caseness,
            )
        )
    for assessment_id, e in coded.items():
        if assessment_id not in withdrawn and assessment_id not in questionnaires:
            assessments.extend(_coded_assessments(e, profile))
    ratings = tuple(
        GoalRating(
            goal_id=str(e["payload"]["goal_id"]),
            rating=float(e["payload"]["rating"]),
            rated_on=date.fromisoformat(e["payload"]["rated_on"]),
            emitted_at=datetime.fromisoformat(e["emitted_at"]),
            informant=e["payload"].get("informant", "self"),
        )
        for e in sorted(by_type["goal.rated"], key=_order)
        if (str(e["payload"]["goal_id"]), e["payload"]["rated_on"]) not in withdrawn_ratings
    )
    referral = Referral(
        profile=profile,
        closed_on=_closed_on(by_type["referral.closed"] + by_type["referral.reopened"]),
        contacts=contacts,
        assessments=tuple(sorted(assessments, key=lambda a: (a.completed_on, a.assessment_id))),
        goal_ratings=ratings,
    )
    return AssembledReferral(
        referral=referral, scores=scores, sources=sources, events=gathered.events
    )
