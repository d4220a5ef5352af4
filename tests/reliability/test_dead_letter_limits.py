"""Regression tests for two defects the hostile-input test found in dead letters.

1. A dead letter kept the whole original in base64 (a third larger): an invalid event near
   1 MiB made a record over the producer's 1 MiB limit, the outbox could never publish it,
   and the worker's agent crashed on it again and again (the pipeline stopped).
2. A problem message quotes the rejected value of most fields (``(got '...')``): an NHS
   number written in, say, ``contact_id`` as ``943 476 5919`` reached the dead-letter topic
   in the message although the original bytes were redacted.
"""

from __future__ import annotations

import base64

import orjson
import pytest

from services.simulate import simulate
from topics import InvalidEvent, dead_letter, parse_event
from topics.deadletter import MAX_KEPT_ORIGINAL_BYTES
from topics.parse import MAX_EVENT_BYTES
from topics.records import DeadLetter

pytestmark = pytest.mark.reliability

# Kafka's default limit on one record (message.max.bytes, 1 MiB) and aiokafka's producer
# default max_request_size are both 1,048,576 bytes.
BROKER_RECORD_LIMIT = 1024 * 1024
# 943 476 591 → 9·10+4·9+3·8+4·7+7·6+6·5+5·4+9·3+1·2 = 299 = 27·11 + 2, check 11 − 2 = 9.
NHS_NUMBER = "9434765919"


def letter_of(raw: bytes) -> DeadLetter:
    try:
        parse_event(raw)
    except InvalidEvent as invalid:
        return dead_letter(raw, invalid.problems, "kafka:t/0/1")
    raise AssertionError("expected an invalid event")


def a_contact() -> dict[str, object]:
    return next(e for e in simulate(3, seed=1) if e["event_type"] == "contact.recorded")


@pytest.mark.parametrize("size", [MAX_EVENT_BYTES - 4096, MAX_EVENT_BYTES + 1, 3 * MAX_EVENT_BYTES])
def test_the_dead_letter_of_a_huge_event_fits_in_one_broker_record(size: int) -> None:
    padded = orjson.dumps({**a_contact(), "padding": ""})
    raw = padded.replace(b'"padding":""', b'"padding":"' + b"x" * (size - len(padded)) + b'"')
    assert len(raw) == size
    letter = letter_of(raw)
    assert len(letter.model_dump_json()) < BROKER_RECORD_LIMIT // 8
    kept = base64.b64decode(letter.original_base64)
    assert kept == raw[:MAX_KEPT_ORIGINAL_BYTES]
    assert f"first {MAX_KEPT_ORIGINAL_BYTES} of {size} bytes" in letter.message
    assert not letter.redacted  # nothing was redacted; the message says it was cut


def test_a_small_dead_letter_keeps_the_original_whole() -> None:
    raw = orjson.dumps({**a_contact(), "extra": 1})
    letter = letter_of(raw)
    assert base64.b64decode(letter.original_base64) == raw
    assert "original cut" not in letter.message


@pytest.mark.parametrize("written", ["943 476 5919", "943  4765919", " 9434765919 x"])
@pytest.mark.parametrize("field", ["contact_id", "team_code"])
def test_no_nhs_number_is_quoted_in_a_dead_letter_message(field: str, written: str) -> None:
    event = a_contact()
    payload = dict(event["payload"])  # type: ignore[call-overload]
    payload[field] = written
    letter = letter_of(orjson.dumps({**event, "payload": payload}))
    text = letter.model_dump_json()
    assert letter.redacted
    assert NHS_NUMBER not in text.replace(" ", "")
    assert NHS_NUMBER not in base64.b64decode(letter.original_base64).decode().replace(" ", "")
