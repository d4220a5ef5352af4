"""The hot path: one batch of raw events stored as facts, in one PostgreSQL transaction.

validate → store new facts by ``event_id`` and dead letters by source → mark the referrals
that got new facts pending → queue the dead letters in the outbox and record the consumed
offsets; then commit. Scoring, pairing and aggregates are left to derivation
(``services.pipeline.derive``), which folds each pending referral once per pass, so the
cost of the hot path does not grow with the ~55 aggregate keys each referral moves
(issue 7). A redelivered batch inserts no new fact, so it marks nothing and changes nothing
(ARCHITECTURE.md invariant 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

import topics
from services.alerts.rules import DEFAULT_POLICY, AlertPolicy
from services.pipeline import outputs
from services.pipeline.derive import derive_pending
from services.store import facts, outbox, pending
from topics.records import DeadLetter

DERIVATION_LIMIT: Final = 2_000
"""Referrals per derivation pass: big enough that the passes share aggregate keys."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """A raw message and where it came from (``kafka:topic/partition/offset`` or gateway)."""

    raw: bytes
    source: str
    position: tuple[str, int, int] | None = None
    """``(topic, partition, offset)`` when it came from Kafka."""

    @classmethod
    def from_kafka(cls, raw: bytes, topic: str, partition: int, offset: int) -> Incoming:
        return cls(raw, f"kafka:{topic}/{partition}/{offset}", (topic, partition, offset))


@dataclass(frozen=True, slots=True)
class BatchReport:
    received: int
    valid: int
    rejected: int
    referrals: int
    """Referrals the batch gave new facts (now pending derivation)."""


def validate(
    batch: Sequence[Incoming],
) -> tuple[list[tuple[dict[str, Any], str]], list[DeadLetter]]:
    """Valid event bodies with their sources, and a dead letter per rejection."""
    valid: list[tuple[dict[str, Any], str]] = []
    letters: list[DeadLetter] = []
    for message in batch:
        try:
            event = topics.parse_event(message.raw)
        except topics.InvalidEvent as invalid:
            letters.append(topics.dead_letter(message.raw, invalid.problems, message.source))
            continue
        valid.append((event.model_dump(mode="json"), message.source))
        rejected = getattr(event.payload, "rejected", ())
        if rejected:
            letters.append(topics.dead_letter(message.raw, list(rejected), message.source))
    return valid, letters


async def ingest_batch(
    connection: asyncpg.Connection, batch: Sequence[Incoming], *, namespace: str = ""
) -> BatchReport:
    """Store one batch atomically and mark its referrals pending; applying it again is a no-op.

    ``namespace`` prefixes every output topic name (tests and tenants share a broker).
    """
    valid, letters = validate(batch)
    async with connection.transaction():
        touched = await facts.insert_events(connection, valid)
        await pending.mark(connection, touched)
        new_letters = await facts.insert_dead_letters(
            connection, [letter.model_dump(mode="json") for letter in letters]
        )
        await outbox.add(
            connection,
            [
                outputs.dead_letter_record(DeadLetter.model_validate(letter), namespace)
                for letter in new_letters
            ],
        )
        await facts.record_progress(connection, _highest_offsets(batch))
    return BatchReport(
        received=len(batch), valid=len(valid), rejected=len(letters), referrals=len(touched)
    )


async def process_batch(
    connection: asyncpg.Connection,
    batch: Sequence[Incoming],
    *,
    namespace: str = "",
    alert_policy: AlertPolicy = DEFAULT_POLICY,
) -> BatchReport:
    """Ingest one batch, then derive until nothing is pending: the whole pipeline, in turn.

    For tools and tests that drive the pipeline directly; the worker runs the two steps on
    their own cadences (``services.app``).
    """
    report = await ingest_batch(connection, batch, namespace=namespace)
    while (
        await derive_pending(
            connection, limit=DERIVATION_LIMIT, namespace=namespace, alert_policy=alert_policy
        )
    ).referrals:
        pass
    return report


def _highest_offsets(batch: Sequence[Incoming]) -> dict[tuple[str, int], int]:
    highest: dict[tuple[str, int], int] = {}
    for message in batch:
        if message.position is not None:
            topic, partition, offset = message.position
            highest[(topic, partition)] = max(offset, highest.get((topic, partition), -1))
    return highest
