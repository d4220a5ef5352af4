"""Hostile input through the real pipeline: every message is reflected or dead-lettered.

A seeded generator (reproducible, so CI never meets a new failure by chance) mixes a valid
simulated cohort with a few thousand hostile messages: random bytes, invalid UTF-8, JSON
nested 10,000 deep, huge numbers, NaN/Infinity, messages over 1 MiB, NHS numbers in every
identifier field, truncated and randomly mutated events. One `outcomes run` worker
consumes them all; then each produced message is accounted for by its
``kafka:topic/partition/offset`` source, the dead letters are searched for NHS numbers,
and the aggregates are compared with the batch recomputation (``tests.oracle``).
"""

from __future__ import annotations

import base64
import copy
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest

from services.simulate import MALFORMED_LINES, simulate
from services.store.pool import create_pool
from tests import oracle
from tests.integration.test_pipeline_kafka import caught_up, read_topic, start_worker
from tests.integration.test_pipeline_store import assert_same_counters, stored_counters
from tests.reliability.conftest import (
    create_namespaced_topics,
    last_offsets,
    nhs_numbers,
    nhs_shaped,
    produce_each,
    read_log,
    spaced,
)
from topics import InvalidEvent, parse_event
from topics.parse import MAX_EVENT_BYTES
from topics.registry import DEAD_LETTERS, EVENTS

pytestmark = pytest.mark.reliability

SEED = 8
NESTING = 10_000
PLACEHOLDER = "\x01HOSTILE\x01"
HUGE_TOKENS = (b"1e400", b"-1e400", b"1e-400", str(2**200).encode(), b"-" + str(2**64).encode())
NAN_TOKENS = (b"NaN", b"-NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"1e999999")
INVALID_UTF8 = (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80")
IDENTIFIERS = ("referral_id", "patient_id")
PAYLOAD_IDENTIFIERS = ("contact_id", "assessment_id", "goal_id", "team_code", "target")
HOSTILE_VALUES: tuple[Any, ...] = (
    None,
    "",
    0,
    -1,
    True,
    [],
    {},
    "x" * 300,
    "\u202e\u0000\ufeff",
    "2999-12-31",
    "1900-01-01",
    "2019-02-30",
    1.5,
    -(2**63),
    [1, [2, [3]]],
    {"nested": {"deeper": None}},
    "'; DROP TABLE events; --",
)


@dataclass(frozen=True, slots=True)
class Hostile:
    """The generated messages and how many of each kind."""

    messages: list[bytes]
    kinds: Counter[str]


def fresh(rng: random.Random, event: dict[str, Any]) -> dict[str, Any]:
    """A deep copy with a new event_id, so a mutation that stays valid is a new event."""
    copied = copy.deepcopy(event)
    copied["event_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return copied


def _with_token(event: dict[str, Any], path: tuple[str, ...], token: bytes) -> bytes:
    """``event`` with the value at ``path`` replaced by a raw JSON token orjson cannot write."""
    target = event
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = PLACEHOLDER
    return orjson.dumps(event).replace(orjson.dumps(PLACEHOLDER), token)


def _numeric_paths(event: dict[str, Any]) -> list[tuple[str, ...]]:
    payload = event["payload"]
    paths: list[tuple[str, ...]] = [
        ("payload", key) for key, value in payload.items() if isinstance(value, int | float)
    ]
    paths += [("payload", "items", key) for key in payload.get("items", {})]
    return paths or [("payload", "age_years")]


def mutate(rng: random.Random, event: dict[str, Any]) -> bytes:
    target = event if rng.random() < 0.4 else event["payload"]
    action = rng.randrange(5)
    if action == 0 and target:
        del target[rng.choice(sorted(target))]
    elif action == 1 and target:
        target[rng.choice(sorted(target))] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
    elif action == 2:
        target[rng.choice(("extra", "Event_Id", "payload", "ΔΔ"))] = rng.choice(HOSTILE_VALUES)
    elif action == 3:
        event["event_type"] = rng.choice(
            ("referral.opened", "goal.rated", "contact.recorded", "Referral.Opened", "", "x" * 99)
        )
    else:
        event["schema_version"] = rng.choice((0, 2, "1", 1.0, None))
    return orjson.dumps(event)


def _invalid_utf8(rng: random.Random, raw: bytes) -> bytes:
    """A string of the event opened by a byte sequence UTF-8 forbids (or a surrogate)."""
    at = rng.choice([index for index, byte in enumerate(raw) if byte == ord('"')])
    return raw[: at + 1] + rng.choice(INVALID_UTF8) + raw[at + 1 :]


def _nested(rng: random.Random, event: dict[str, Any]) -> bytes:
    depth = rng.choice((NESTING, NESTING // 10, 300))
    deep = rng.choice((b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth))
    if rng.random() < 0.3:
        return deep
    return _with_token(event, ("payload", rng.choice(sorted(event["payload"]))), deep)


def _with_nhs_number(rng: random.Random, event: dict[str, Any], number: str) -> bytes:
    written = rng.choice((number, spaced(number), f" {number}", number[:3] + "  " + number[3:]))
    if rng.random() < 0.7:
        event[rng.choice(IDENTIFIERS)] = written
    else:
        event["payload"][rng.choice(PAYLOAD_IDENTIFIERS)] = spaced(number)
    return orjson.dumps(event)


def _oversize(rng: random.Random, event: dict[str, Any]) -> bytes:
    """Over the 1 MiB rule, or just under it but invalid for its unknown padding field."""
    size = rng.choice((MAX_EVENT_BYTES + 1, MAX_EVENT_BYTES + 4096, MAX_EVENT_BYTES - 4096))
    padded = orjson.dumps({**event, "padding": ""})
    return padded.replace(b'"padding":""', b'"padding":"' + b"x" * (size - len(padded)) + b'"')


Maker = Callable[[dict[str, Any]], bytes]
"""Makes one message from a fresh copy of a cohort event."""


def hostile_makers(rng: random.Random, numbers: Iterator[str]) -> dict[str, tuple[int, Maker]]:
    """Every hostile kind: how many this test makes, and how to make one (``numbers`` gives
    a new valid NHS number each time one is needed)."""
    return {
        "random bytes": (300, lambda _: rng.randbytes(rng.randrange(0, 300))),
        "invalid UTF-8": (200, lambda e: _invalid_utf8(rng, orjson.dumps(e))),
        "deeply nested JSON": (30, lambda e: _nested(rng, e)),
        "huge number": (
            200,
            lambda e: _with_token(e, rng.choice(_numeric_paths(e)), rng.choice(HUGE_TOKENS)),
        ),
        "NaN/Infinity": (
            200,
            lambda e: _with_token(e, rng.choice(_numeric_paths(e)), rng.choice(NAN_TOKENS)),
        ),
        "over or near 1 MiB": (4, lambda e: _oversize(rng, e)),
        "NHS number in an identifier": (400, lambda e: _with_nhs_number(rng, e, next(numbers))),
        "truncated event": (150, lambda e: (raw := orjson.dumps(e))[: rng.randrange(len(raw))]),
        "mutated event": (1500, lambda e: mutate(rng, e)),
    }


def hostile_messages(cohort: list[dict[str, Any]], rng: random.Random) -> Hostile:
    """A few thousand hostile messages, each kind about a copy of a real cohort event."""
    numbers = iter(nhs_numbers(rng, 400))
    messages: list[bytes] = []
    kinds: Counter[str] = Counter()
    for kind, (count, make) in hostile_makers(rng, numbers).items():
        for _ in range(count):
            messages.append(make(fresh(rng, rng.choice(cohort))))
            kinds[kind] += 1
    return Hostile(messages, kinds)


def _verdicts(messages: list[bytes]) -> Iterator[tuple[bool, str | None, str | None]]:
    """Per message: valid?, its event_id when valid, the expected error code when not."""
    for raw in messages:
        try:
            event = parse_event(raw)
        except InvalidEvent as invalid:
            yield False, None, invalid.problems[0].error_code
        else:
            yield True, str(event.event_id), None


def _letter_texts(record: dict[str, Any]) -> list[str]:
    """A dead letter as text, and the original bytes it keeps (base64) decoded."""
    original = base64.b64decode(record["original_base64"]).decode("utf-8", errors="replace")
    return [orjson.dumps(record).decode(), original]


@dataclass(frozen=True, slots=True)
class Processed:
    """What the worker made of the produced messages, read back from PostgreSQL."""

    topic: str
    delivered: list[tuple[bytes, tuple[int, int]]]
    """Each message the broker accepted, with its (partition, offset)."""
    stored: dict[str, str]
    """``events``: source -> event_id."""
    letters: dict[str, tuple[str, dict[str, Any]]]
    """``dead_letters``: source -> (error code, record)."""
    counters: dict[tuple[str, ...], dict[str, float]]
    log: str


async def through_the_worker(
    kafka_bootstrap: str, dsn: str, namespace: str, produced: list[bytes], log_path: Path
) -> Processed:
    """Produce every message to a real ``outcomes run`` worker, wait until all are reflected,
    check the worker is still alive, and read back what it stored."""
    await create_namespaced_topics(kafka_bootstrap, namespace)
    worker = start_worker(kafka_bootstrap, dsn, namespace, log_path)
    try:
        positions = await produce_each(kafka_bootstrap, namespace, produced)
        await caught_up(dsn, namespace, last_offsets(positions), worker)
        assert worker.pid is not None
        assert psutil.Process(worker.pid).status() != psutil.STATUS_ZOMBIE, worker.log_tail()
    finally:
        worker.stop()
    return await read_back(dsn, namespace, produced, positions, read_log(log_path))


async def read_back(
    dsn: str,
    namespace: str,
    produced: list[bytes],
    positions: list[tuple[int, int] | None],
    log: str,
) -> Processed:
    """What the worker(s) stored of ``produced`` (each at its ``positions`` on the events
    topic), once they have caught up; ``log`` is every worker's log."""
    # A broker that refuses messages over its limit (Kafka's default is 1 MiB) leaves
    # those to the in-process check of the same rule below.
    delivered = [(raw, pos) for raw, pos in zip(produced, positions, strict=True) if pos]
    refused = [raw for raw, pos in zip(produced, positions, strict=True) if pos is None]
    assert all(len(raw) > MAX_EVENT_BYTES - 4096 for raw in refused)
    for raw in refused:
        with pytest.raises(InvalidEvent):
            parse_event(raw)

    pool = await create_pool(dsn)
    try:
        stored = {
            row["source"]: str(row["event_id"])
            for row in await pool.fetch("SELECT source, event_id FROM events")
        }
        letters = {
            row["source"]: (row["error_code"], row["record"])
            for row in await pool.fetch("SELECT source, error_code, record FROM dead_letters")
        }
        counters = await stored_counters(pool)
    finally:
        await pool.close()
    return Processed(namespace + EVENTS.name, delivered, stored, letters, counters, log)


def account_for_every_message(processed: Processed) -> Counter[str]:
    """Each delivered message, by its ``kafka:topic/partition/offset`` source: reflected (its
    event_id stored from that source), a duplicate of a stored event, or dead-lettered with
    the error code ``parse_event`` gives it and a message; nothing else."""
    stored_ids = set(processed.stored.values())
    tally: Counter[str] = Counter()
    for (raw, (partition, offset)), (valid, event_id, error_code) in zip(
        processed.delivered, _verdicts([raw for raw, _ in processed.delivered]), strict=True
    ):
        source = f"kafka:{processed.topic}/{partition}/{offset}"
        if valid:
            assert event_id in stored_ids, raw[:200]
            tally["reflected" if processed.stored.get(source) == event_id else "duplicate"] += 1
        else:
            assert source not in processed.stored, raw[:200]
            assert source in processed.letters, raw[:200]
            letter = processed.letters[source]
            assert letter[0] == error_code, (raw[:200], letter)
            assert letter[1]["message"]
            tally["dead-lettered"] += 1
    assert tally.total() == len(processed.delivered)
    assert tally["reflected"] == len(processed.stored)
    return tally


async def assert_dead_letters_published_without_nhs_numbers(
    kafka_bootstrap: str, namespace: str, processed: Processed
) -> None:
    """The dead-letter topic holds exactly the table's dead letters, and no NHS number
    survives in any of them (record, message, decoded original) nor in the worker log."""
    on_topic = [
        orjson.loads(value)
        for _, value in await read_topic(kafka_bootstrap, namespace + DEAD_LETTERS.name)
        if value is not None
    ]
    assert {record["source"] for record in on_topic} == set(processed.letters)
    for record in [*(record for _, record in processed.letters.values()), *on_topic]:
        for text in _letter_texts(record):
            assert nhs_shaped(text) == [], record["source"]
    assert nhs_shaped(processed.log) == []
    assert "Traceback" not in processed.log


async def test_hostile_messages_are_reflected_or_dead_lettered_and_never_stop_the_worker(
    kafka_bootstrap: str, dsn: str, unique_name: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    cohort_events = list(simulate(30, seed=SEED))
    hostile = hostile_messages(cohort_events, rng)
    valid_cohort = [orjson.dumps(event) for event in cohort_events]
    produced = [*valid_cohort, *MALFORMED_LINES, *hostile.messages]
    rng.shuffle(produced)

    namespace = f"{unique_name}."
    processed = await through_the_worker(
        kafka_bootstrap, dsn, namespace, produced, tmp_path / "worker.log"
    )
    tally = account_for_every_message(processed)
    assert tally["dead-lettered"] > len(hostile.messages) // 2
    assert tally["duplicate"] > 0  # the simulated cohort re-delivers some events
    await assert_dead_letters_published_without_nhs_numbers(kafka_bootstrap, namespace, processed)
    expected = oracle.recompute(raw for raw, _ in processed.delivered)
    assert_same_counters(processed.counters, expected)
