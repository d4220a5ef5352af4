"""parse_event: every error code from a hand-written bad event, and what valid events become."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from topics import ErrorCode, InvalidEvent, parse_event
from topics.events import AssessmentScored, GoalRated, QuestionnaireCompleted, RecordEnteredInError

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

HONOSCA_ITEMS: dict[str, Any] = {str(n): 1 for n in range(1, 16)}

VALID: dict[str, Any] = {
    "event_id": "9a4c1e7b-2f6d-4b8a-8c3e-1f5a7d9b0c42",
    "event_type": "questionnaire.completed",
    "schema_version": 1,
    "occurred_at": "2024-05-01T10:00:00+01:00",
    "emitted_at": "2024-05-01T10:05:00+01:00",
    "provider_code": "RYG",
    "referral_id": "ref-0001234",
    "patient_id": "pt-00012345",
    "payload": {
        "assessment_id": "a-1",
        "measure": "HONOSCA",
        "informant": "clinician",
        "completed_on": "2024-05-01",
        "items": HONOSCA_ITEMS,
    },
}


def event(**changes: Any) -> dict[str, Any]:
    """VALID with top-level fields replaced (None deletes) and ``payload__x`` payload fields."""
    result = copy.deepcopy(VALID)
    for name, value in changes.items():
        target, key = (
            (result["payload"], name[9:]) if name.startswith("payload__") else (result, name)
        )
        if value is None:
            del target[key]
        else:
            target[key] = value
    return result


def problems(raw: bytes | dict[str, Any]) -> list[tuple[str, str]]:
    data = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    with pytest.raises(InvalidEvent) as caught:
        parse_event(data, now=NOW)
    return [(problem.error_code.value, problem.field) for problem in caught.value.problems]


def scored(*scores: tuple[str, float]) -> dict[str, Any]:
    return event(
        event_type="assessment.scored",
        payload={
            "assessment_id": "a-2",
            "completed_on": "2024-05-01",
            "scores": [{"snomed": code, "value": value} for code, value in scores],
        },
    )


SDQ_PARENT_EMOTIONAL = "986071000000101"  # valid range 0-10 (mhsds_codes.json)
SDQ_PARENT_CONDUCT = "986061000000108"

BAD_EVENTS: list[tuple[str, bytes | dict[str, Any], list[tuple[str, str]]]] = [
    ("malformed", b'{"event_id": ', [("json.malformed", "")]),
    ("invalid utf-8", b'{"a": "\xff"}', [("json.malformed", "")]),
    ("deep nesting", b"[" * 5000, [("json.malformed", "")]),
    ("too large", b" " * (1024 * 1024 + 1), [("json.too_large", "")]),
    ("array", b"[]", [("json.not_object", "")]),
    ("missing", event(patient_id=None), [("schema.missing_field", "patient_id")]),
    ("missing tag", event(event_type=None), [("schema.missing_field", "event_type")]),
    ("extra", event(nhs_number="x"), [("schema.unknown_field", "nhs_number")]),
    ("extra payload", event(payload__note="x"), [("schema.unknown_field", "payload.note")]),
    (
        "item type",
        event(payload__items={**HONOSCA_ITEMS, "7": "2"}),
        [("schema.wrong_type", "payload.items.7")],
    ),
    (
        "bool",
        event(payload__items={**HONOSCA_ITEMS, "7": True}),
        [("schema.wrong_type", "payload.items.7")],
    ),
    ("no offset", event(emitted_at="2024-05-01T10:05:00"), [("schema.wrong_type", "emitted_at")]),
    (
        "bad date",
        event(payload__completed_on="2024-02-30"),
        [("schema.wrong_type", "payload.completed_on")],
    ),
    ("uuid", event(event_id="not-a-uuid"), [("schema.wrong_type", "event_id")]),
    # HoNOSCA rates 0-4 or 9 (not known): 5 is out of range.
    (
        "item range",
        event(payload__items={**HONOSCA_ITEMS, "7": 5}),
        [("schema.out_of_range", "payload.items.7")],
    ),
    ("provider", event(provider_code="ryg"), [("schema.out_of_range", "provider_code")]),
    ("short id", event(referral_id="r-12345"), [("schema.out_of_range", "referral_id")]),
    (
        "event type",
        event(event_type="referral.deleted"),
        [("schema.unknown_event_type", "event_type")],
    ),
    ("version", event(schema_version=2), [("schema.unsupported_version", "schema_version")]),
    ("measure", event(payload__measure="PHQ9"), [("schema.unknown_measure", "payload.measure")]),
    (
        "informant",
        event(payload__informant="nurse"),
        [("schema.bad_informant", "payload.informant")],
    ),
    (
        "informant of measure",
        event(payload__informant="teacher"),
        [("schema.bad_informant", "payload.informant")],
    ),
    (
        "item key",
        event(payload__items={**HONOSCA_ITEMS, "16": 1}),
        [("schema.unknown_field", "payload.items.16")],
    ),
    (
        "item missing",
        event(payload__items={k: v for k, v in HONOSCA_ITEMS.items() if k != "3"}),
        [("schema.missing_field", "payload.items.3")],
    ),
    (
        "no valid score",
        scored(("123456789", 3), (SDQ_PARENT_CONDUCT, 11)),
        [
            ("schema.unknown_snomed", "payload.scores.0"),
            ("schema.out_of_range", "payload.scores.1"),
        ],
    ),
    # now 2024-06-01T12:00Z + 1 day skew = 2024-06-02T12:00Z is the latest allowed instant.
    (
        "future",
        event(emitted_at="2024-06-02T12:00:01Z", occurred_at="2024-06-02T12:00:01Z"),
        [
            ("schema.future_date", "occurred_at"),
            ("schema.future_date", "emitted_at"),
        ],
    ),
    # latest allowed date = (now + 1 day).date() = 2024-06-02; 2024-06-03 is in the future.
    (
        "future day",
        event(payload__completed_on="2024-06-03"),
        [
            ("schema.future_date", "payload.completed_on"),
        ],
    ),
    # emitted 2024-05-01T10:05+01:00; + 1 day = 2024-05-02T10:05+01:00: 10:06 is after it.
    (
        "order",
        event(occurred_at="2024-05-02T10:06:00+01:00"),
        [("schema.date_order", "occurred_at")],
    ),
    # emitted_at's own date 2024-05-01 + 1 day = 2024-05-02: 2024-05-03 is after it.
    (
        "order day",
        event(payload__completed_on="2024-05-03"),
        [("schema.date_order", "payload.completed_on")],
    ),
    ("nhs", event(patient_id="9434765919"), [("privacy.nhs_number", "patient_id")]),
    ("nhs spaced", event(referral_id="943 476 5919"), [("privacy.nhs_number", "referral_id")]),
    (
        "nhs first",
        event(provider_code="x", patient_id="9434765919"),
        [
            ("privacy.nhs_number", "patient_id"),
            ("schema.out_of_range", "provider_code"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("raw", "expected"), [case[1:] for case in BAD_EVENTS], ids=[case[0] for case in BAD_EVENTS]
)
def test_bad_event_is_rejected_with_its_codes(
    raw: bytes | dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert problems(raw) == expected


def test_every_error_code_has_a_bad_event() -> None:
    covered = {code for case in BAD_EVENTS for code, _ in case[2]}
    assert covered == {code.value for code in ErrorCode}


def test_messages_name_the_field_and_the_expectation() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(json.dumps(event(provider_code="ryg")).encode(), now=NOW)
    message = caught.value.problems[0].message
    assert message.startswith("provider_code: expected an ODS code of 3 or 5")


def test_nhs_number_is_never_echoed() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(json.dumps(event(patient_id="943 476 5919")).encode(), now=NOW)
    assert "476" not in str(caught.value)


def test_valid_questionnaire_parses() -> None:
    parsed = parse_event(json.dumps(VALID).encode(), now=NOW)
    assert isinstance(parsed, QuestionnaireCompleted)
    assert parsed.payload.completed_on == date(2024, 5, 1)
    assert parsed.payload.items["7"] == 1
    assert parsed.referral_key == "RYG/ref-0001234"


def test_boundaries_of_the_clock_are_accepted() -> None:
    # Exactly now + 1 day, a payload date of (now + 1 day).date(), and occurred_at exactly
    # emitted_at + 1 day are all still valid.
    at_limit = event(
        occurred_at="2024-06-02T12:00:00Z",
        emitted_at="2024-06-01T12:00:00Z",
        payload__completed_on="2024-06-02",
    )
    assert isinstance(parse_event(json.dumps(at_limit).encode(), now=NOW), QuestionnaireCompleted)


def test_invalid_coded_scores_are_left_out_and_reported() -> None:
    raw = json.dumps(
        scored((SDQ_PARENT_EMOTIONAL, 4), ("123456789", 3), (SDQ_PARENT_CONDUCT, 10.5))
    ).encode()
    parsed = parse_event(raw, now=NOW)
    assert isinstance(parsed, AssessmentScored)
    assert [(s.snomed, s.value) for s in parsed.payload.scores] == [(SDQ_PARENT_EMOTIONAL, 4.0)]
    assert [(p.error_code.value, p.field) for p in parsed.payload.rejected] == [
        ("schema.unknown_snomed", "payload.scores.1"),
        ("schema.out_of_range", "payload.scores.2"),
    ]


def test_coded_score_range_is_inclusive() -> None:
    parsed = parse_event(
        json.dumps(scored((SDQ_PARENT_EMOTIONAL, 0), (SDQ_PARENT_CONDUCT, 10))).encode(), now=NOW
    )
    assert isinstance(parsed, AssessmentScored)
    assert len(parsed.payload.scores) == 2
    assert parsed.payload.rejected == ()


def test_goal_rating_defaults_to_self_and_withdrawal_needs_rated_on() -> None:
    goal = event(
        event_type="goal.rated", payload={"goal_id": "g-1", "rating": 10, "rated_on": "2024-05-01"}
    )
    parsed = parse_event(json.dumps(goal).encode(), now=NOW)
    assert isinstance(parsed, GoalRated)
    assert parsed.payload.informant == "self"
    assert problems(event(event_type="goal.rated", payload={**goal["payload"], "rating": 11})) == [
        ("schema.out_of_range", "payload.rating")
    ]
    withdrawal = event(
        event_type="record.entered_in_error", payload={"target": "g-1", "kind": "goal_rating"}
    )
    assert problems(withdrawal) == [("schema.missing_field", "payload.rated_on")]
    withdrawal["payload"]["kind"] = "assessment"
    assert isinstance(parse_event(json.dumps(withdrawal).encode(), now=NOW), RecordEnteredInError)
