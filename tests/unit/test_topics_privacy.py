"""NHS-number guard, redaction and dead letters."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from topics import ErrorCode, Problem, dead_letter
from topics.privacy import REDACTED, is_nhs_number, looks_like_nhs_number, redact

# 9434765919: weights 10..2 on 9 4 3 4 7 6 5 9 1 give
# 90 + 36 + 24 + 28 + 42 + 30 + 20 + 27 + 2 = 299; 299 mod 11 = 2; 11 - 2 = 9 = last digit.
VALID = "9434765919"
# Same first nine digits, last digit 8 ≠ 9.
WRONG_CHECK = "9434765918"
# 1000000010: 1*10 + 1*2 = 12; 12 mod 11 = 1; check 10 → no valid number has these digits.
CHECK_TEN = "1000000010"
# 4010232137: 4*10 + 0*9 + 1*8 + 0*7 + 2*6 + 3*5 + 2*4 + 1*3 + 3*2 = 40+8+12+15+8+3+6 = 92;
# 92 mod 11 = 4; 11 - 4 = 7 = last digit.
ALSO_VALID = "4010232137"


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        (VALID, True),
        ("943 476 5919", True),
        ("9 4 3 4 7 6 5 9 1 9", True),
        (ALSO_VALID, True),
        (WRONG_CHECK, False),
        (CHECK_TEN, False),
        ("943476591", False),
        ("94347659190", False),
        ("pt-9434765919", False),
    ],
)
def test_guard(identifier: str, expected: bool) -> None:
    assert looks_like_nhs_number(identifier) is expected


def test_check_digit_zero() -> None:
    # 0000000000: sum 0, 11 - 0 = 11 → check 0: valid.
    # 1000000001: 1*10 = 10, 10 mod 11 = 10, 11 - 10 = 1: valid.
    # 2000000000: 2*10 = 20, 20 mod 11 = 9, 11 - 9 = 2 ≠ 0: invalid.
    assert is_nhs_number("1000000001")
    assert is_nhs_number("0000000000")
    assert not is_nhs_number("2000000000")


def test_redact_removes_numbers_wherever_they_are() -> None:
    raw = b'{"patient_id": "943 476 5919", "note": "9434765919", "x": "\\u0039434765919"}'
    assert redact(raw) == (
        b'{"patient_id": "'
        + REDACTED
        + b'", "note": "'
        + REDACTED
        + b'", "x": "'
        + REDACTED
        + b'"}'
    )


def test_redact_keeps_other_digits() -> None:
    raw = b'{"id": "9434765918", "n": 94347659190, "t": "2024-05-01", "u": "2024 1"}'
    assert redact(raw) == raw


def test_redact_finds_a_number_after_a_leading_group() -> None:
    assert redact(b"2024 943 476 5919") == b"2024 " + REDACTED


def test_dead_letter_is_redacted_and_complete() -> None:
    raw = json.dumps({"patient_id": "943 476 5919"}).encode()
    problems = [
        Problem(ErrorCode.NHS_NUMBER, "patient_id", "patient_id: not a pseudonym"),
        Problem(ErrorCode.MISSING_FIELD, "event_id", "event_id: required field is missing"),
    ]
    received = datetime(2024, 5, 1, tzinfo=UTC)
    letter = dead_letter(raw, problems, "kafka:roms.events.v1/3/42", received_at=received)
    kept = base64.b64decode(letter.original_base64)
    assert b"476" not in kept
    assert letter.redacted
    assert letter.error_code == ErrorCode.NHS_NUMBER
    assert letter.problems == problems
    assert letter.message == "patient_id: not a pseudonym; event_id: required field is missing"
    assert letter.source == "kafka:roms.events.v1/3/42"
    assert letter.received_at == received


def test_dead_letter_keeps_clean_bytes_exactly() -> None:
    raw = b'{"event_id": '
    problem = Problem(ErrorCode.JSON_MALFORMED, "", "not JSON")
    letter = dead_letter(raw, [problem], "gateway:req-1")
    assert base64.b64decode(letter.original_base64) == raw
    assert not letter.redacted
    with pytest.raises(ValueError, match="at least one problem"):
        dead_letter(raw, [], "gateway:req-1")


def test_a_problem_message_never_quotes_an_nhs_number() -> None:
    # 943 476 5919 is a valid NHS number (check digit 9); a message quoting the rejected value
    # would carry it to the gateway's answer and the dead letter alike.
    from topics.problems import ErrorCode, Problem

    problem = Problem(
        ErrorCode.WRONG_TYPE, "payload.contact_id", "payload.contact_id: '943 476 5919' invalid"
    )
    assert "943 476 5919" not in problem.message
    assert "9434765919" not in problem.message.replace(" ", "")
