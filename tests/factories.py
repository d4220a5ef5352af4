"""Hand-written events in the events.md JSON shape, for tests that need a few of them."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

_counter = itertools.count(1)
BASE_TIME = datetime(2019, 4, 1, 9, 0, tzinfo=UTC)


def event(
    event_type: str,
    payload: dict[str, Any],
    *,
    referral_id: str = "REF0000001",
    provider_code: str = "RYG",
    patient_id: str = "PAT0000001",
    emitted_at: datetime | None = None,
    occurred_at: datetime | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """One valid-shaped event; each call gets a fresh event_id and a later emitted_at."""
    sequence = next(_counter)
    emitted = emitted_at or BASE_TIME + timedelta(minutes=sequence)
    return {
        "event_id": event_id or str(uuid.UUID(int=sequence, version=4)),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": (occurred_at or emitted).isoformat(),
        "emitted_at": emitted.isoformat(),
        "provider_code": provider_code,
        "referral_id": referral_id,
        "patient_id": patient_id,
        "payload": payload,
    }


def opened(
    *,
    received_on: date = date(2019, 4, 1),
    age: int = 12,
    gender: str = "female",
    ccg: str = "05A",
    team: str | None = "T1",
    ethnicity: str = "A",
    looked_after: bool = False,
    ld_or_autism: bool = False,
    **envelope: Any,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "ccg_code": ccg,
        "received_on": received_on.isoformat(),
        "age_years": age,
        "gender": gender,
        "ethnicity": ethnicity,
        "looked_after": looked_after,
        "ld_or_autism": ld_or_autism,
    }
    if team is not None:
        payload["team_code"] = team
    return event("referral.opened", payload, **envelope)


def contact(
    contact_id: str, on: date, *, attended: bool = True, kind: str = "direct", **envelope: Any
) -> dict[str, Any]:
    return event(
        "contact.recorded",
        {
            "contact_id": contact_id,
            "contact_on": on.isoformat(),
            "attended": attended,
            "kind": kind,
        },
        **envelope,
    )


def closed(on: date, *, reason: str = "treatment_completed", **envelope: Any) -> dict[str, Any]:
    return event("referral.closed", {"closed_on": on.isoformat(), "reason": reason}, **envelope)


def reopened(**envelope: Any) -> dict[str, Any]:
    return event("referral.reopened", {}, **envelope)


def questionnaire(
    assessment_id: str,
    measure: str,
    informant: str,
    on: date,
    items: dict[str, int | float | None],
    **envelope: Any,
) -> dict[str, Any]:
    return event(
        "questionnaire.completed",
        {
            "assessment_id": assessment_id,
            "measure": measure,
            "informant": informant,
            "completed_on": on.isoformat(),
            "items": items,
        },
        **envelope,
    )


def honosca(
    assessment_id: str, on: date, rating: int, *, informant: str = "clinician", **envelope: Any
) -> dict[str, Any]:
    """A HoNOSCA with every scale rated ``rating`` (total = 13 × rating)."""
    items: dict[str, int | float | None] = {str(n): rating for n in range(1, 16)}
    return questionnaire(assessment_id, "HONOSCA", informant, on, items, **envelope)


def goal(goal_id: str, rating: int, on: date, **envelope: Any) -> dict[str, Any]:
    return event(
        "goal.rated", {"goal_id": goal_id, "rating": rating, "rated_on": on.isoformat()}, **envelope
    )


def withdrawn(
    target: str, kind: str = "assessment", rated_on: date | None = None, **envelope: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {"target": target, "kind": kind}
    if rated_on is not None:
        payload["rated_on"] = rated_on.isoformat()
    return event("record.entered_in_error", payload, **envelope)
