"""How a referral's events are delivered: corrections, withdrawals, disorder, duplicates and
the occasional invalid event."""

from __future__ import annotations

import random
from datetime import date

from services.simulate.encoding import iso_day, nhs_number, timestamp, token, uuid4
from services.simulate.parameters import (
    DAY,
    FUTURE_DAY,
    INVALID_KINDS,
    ITEM_TOP,
    QUESTIONNAIRE,
    WITHDRAWABLE,
    DeliveryNoise,
    Event,
    Timed,
)
from services.simulate.story import Story, item_rows


def referral_delivery(
    rng: random.Random, start: date, noise: DeliveryNoise
) -> list[tuple[float, Event]]:
    """One referral's events keyed by delivery time: its story, then noise, then perhaps an
    invalid event (drawn last, so that it never changes anything else)."""
    referral = Story(rng, start)
    timed = referral.events()
    for emitted, event in list(timed):
        if event["event_type"] == QUESTIONNAIRE and rng.random() < noise.correction_rate:
            timed.append(_correction(referral, emitted, event))
        if event["event_type"] in WITHDRAWABLE and rng.random() < noise.withdrawal_rate:
            timed.append(_withdrawal(referral, emitted, event))
    if rng.random() < noise.scramble_rate:
        batch = max(emitted for emitted, _ in timed) + DAY
        delivery = [(batch + rng.random() * 3600, event) for _, event in timed]
    else:
        spread = noise.jitter_days * DAY  # triangular delays: a few days' local disorder
        delivery = [
            (emitted + (rng.random() - rng.random()) * spread, event) for emitted, event in timed
        ]
    delivery += [
        (key + rng.expovariate(1 / DAY), event)
        for key, event in delivery
        if rng.random() < noise.duplicate_rate
    ]
    if rng.random() < noise.invalid_rate:
        emitted, event = _invalid(referral, rng.choice(INVALID_KINDS))
        delivery.append((emitted + rng.gauss(0, DAY), event))
    return delivery


def _correction(referral: Story, emitted: int, original: Event) -> Timed:
    """The same assessment re-sent later with one to three items changed."""
    rng, payload = referral.rng, original["payload"]
    items = dict(payload["items"])
    top = ITEM_TOP.get(payload["measure"])
    for key in rng.sample([key for key in items if key.isdigit()], rng.randint(1, 3)):
        was = items[key]
        while items[key] == was:
            items[key] = rng.randint(0, top) if top else round(rng.uniform(0, 10), 1)
    corrected_at = emitted + rng.randint(3600, 10 * DAY)
    event = original | {
        "event_id": uuid4(rng),
        "emitted_at": timestamp(corrected_at),
        "payload": payload | {"items": items},
    }
    return corrected_at, event


def _withdrawal(referral: Story, emitted: int, original: Event) -> Timed:
    payload = original["payload"]
    if original["event_type"] == "goal.rated":
        target = {
            "target": payload["goal_id"],
            "kind": "goal_rating",
            "rated_on": payload["rated_on"],
        }
    else:
        target = {"target": payload["assessment_id"], "kind": "assessment"}
    withdrawn_at = emitted + referral.rng.randint(DAY, 30 * DAY)
    return referral._event("record.entered_in_error", 0, target, emitted=withdrawn_at)


def _invalid(referral: Story, kind: str) -> Timed:
    """A fresh event (new assessment or contact) that breaks one rule of events.md."""
    rng = referral.rng
    day = rng.randint(referral.received, referral.horizon)
    if kind == "bad_contact_kind":
        payload = {
            "contact_id": token(rng, 9),
            "contact_on": iso_day(day),
            "attended": True,
            "kind": "video",
        }
        return referral._event("contact.recorded", day, payload)
    if kind in ("unknown_snomed", "out_of_range_score"):
        score = (
            {"snomed": "123456789", "value": 3}
            if kind == "unknown_snomed"
            else {"snomed": "720433000", "value": 30}
        )
        payload = {"assessment_id": token(rng, 9), "completed_on": iso_day(day), "scores": [score]}
        return referral._event("assessment.scored", day, payload)
    items = item_rows(rng, "HONOSCA", "clinician", [referral.severity])[0]
    emitted, event = referral._questionnaire("HONOSCA", "clinician", day, items)
    payload = event["payload"]
    if kind == "out_of_range":
        items["3"] = 5
    elif kind == "non_integer":
        items["1"] = 1.5
    elif kind == "missing_item":
        del items["15"]
    elif kind == "unknown_measure":
        payload["measure"] = "K10"
    elif kind == "bad_informant":
        payload["informant"] = "teacher"
    elif kind == "future_date":
        payload["completed_on"] = FUTURE_DAY.isoformat()
    elif kind == "nhs_number":
        event["patient_id"] = nhs_number(rng)
    elif kind == "unknown_field":
        payload["comment"] = "free text, which the contract forbids"
    else:
        event["provider_code"] = referral.provider.code.lower()
    return emitted, event
