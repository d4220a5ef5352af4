"""``roms.aggregates.v1`` is published from the aggregates table, once per key per drain.

A derivation pass queues the keys it moved (``aggregate_changes``); the drain publishes each
queued key's committed row, so a key moved by two passes before a drain is sent once, with
the figures of the second pass. Checked on a real PostgreSQL and broker against figures
worked out by hand from outcomes.md for the HoNOSCA referral of ``test_restatement`` (B:
every scale rated 2, then 0: total 26 → 0, clinician improved; 6 events), a reopen that
empties B's closed-quarter keys (a tombstone), and a drain that dies after the broker
acknowledged part of its records (the queue survives; the next drain sends everything).
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from scoring.figures import AggregateKey
from services.pipeline import outputs
from services.runtime.topics import create_topics
from services.store import outbox
from tests import factories as f
from tests.integration.test_pipeline_kafka import read_topic
from tests.integration.test_restatement import Q1, deliver, envelope, referral_b
from topics.registry import AGGREGATES, KEY_SEPARATOR

pytestmark = pytest.mark.integration

NATIONAL_Q1 = AggregateKey("default", "national", "ENG", Q1, "all", "all")
PROVIDER_Q1 = AggregateKey("default", "provider", "RX4", Q1, "all", "all")


class Died(Exception):
    """The draining worker died after some of its records were acknowledged."""


def topic_key(key: AggregateKey) -> bytes:
    """The record key of a whole-aggregate record (no measure, no informant)."""
    return KEY_SEPARATOR.join((*key, "", "")).encode()


def sender(producer: AIOKafkaProducer) -> outbox.Enqueue:
    async def send(topic: str, key: bytes, value: bytes | None) -> Awaitable[object]:
        ack: Awaitable[object] = await producer.send(topic, value=value, key=key)
        return ack

    return send


async def drain(pool: asyncpg.Pool, send: outbox.Enqueue, namespace: str) -> outbox.Drained:
    def output(key: AggregateKey, stored: outbox.StoredAggregate | None) -> outbox.OutboxRecord:
        return outputs.aggregate_record(key, stored, namespace)

    return await outbox.publish_aggregates(pool, send, output)


async def published(
    kafka_bootstrap: str, namespace: str, key: AggregateKey
) -> Sequence[bytes | None]:
    """Every value sent for ``key`` so far, oldest first."""
    records = await read_topic(kafka_bootstrap, namespace + AGGREGATES.name)
    return [value for record_key, value in records if record_key == topic_key(key)]


async def queued(pool: asyncpg.Pool, key: AggregateKey) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM aggregate_changes WHERE (method, level, code, period, cohort,"
        " cohort_value) = ($1, $2, $3, $4, $5, $6)",
        *key,
    )
    return count


async def test_a_key_moved_by_two_passes_is_published_once_with_the_newest_figures(
    kafka_bootstrap: str, pool: asyncpg.Pool, producer: AIOKafkaProducer, unique_name: str
) -> None:
    namespace = f"{unique_name}."
    await create_topics(kafka_bootstrap, {namespace + AGGREGATES.name: 1})
    *first, last_honosca = referral_b()
    await deliver(pool, first)  # pass 1: H(2) only, so nothing is paired yet
    await deliver(pool, [last_honosca])  # pass 2: H(0) pairs it
    assert await queued(pool, NATIONAL_Q1) == 2
    await drain(pool, sender(producer), namespace)

    (value,) = await published(kafka_bootstrap, namespace, NATIONAL_Q1)
    assert value is not None
    record = orjson.loads(value)
    assert record["events"] == 6
    figures = record["figures"]
    assert figures["closed_referrals"] == 1
    assert figures["paired_clinician"] == 1
    assert figures["improved_clinician"] == 1
    assert figures["HONOSCA.clinician.n_paired"] == 1
    assert figures["HONOSCA.clinician.mean_first"] == 26
    assert figures["HONOSCA.clinician.mean_last"] == 0
    assert await pool.fetchval("SELECT count(*) FROM aggregate_changes") == 0


async def test_an_emptied_key_is_published_as_a_tombstone(
    kafka_bootstrap: str, pool: asyncpg.Pool, producer: AIOKafkaProducer, unique_name: str
) -> None:
    namespace = f"{unique_name}."
    await create_topics(kafka_bootstrap, {namespace + AGGREGATES.name: 1})
    await deliver(pool, referral_b())
    await drain(pool, sender(producer), namespace)
    await deliver(pool, [f.reopened(**envelope("B"))])  # no longer closed in Q1
    await drain(pool, sender(producer), namespace)

    values = await published(kafka_bootstrap, namespace, PROVIDER_Q1)
    assert len(values) == 2
    assert values[0] is not None
    assert orjson.loads(values[0])["figures"]["closed_referrals"] == 1
    assert values[1] is None
    assert await pool.fetchval("SELECT count(*) FROM aggregates WHERE code = 'RX4'") == 0


async def test_a_drain_that_dies_leaves_its_keys_queued_for_the_next(
    kafka_bootstrap: str, pool: asyncpg.Pool, producer: AIOKafkaProducer, unique_name: str
) -> None:
    namespace = f"{unique_name}."
    await create_topics(kafka_bootstrap, {namespace + AGGREGATES.name: 1})
    await deliver(pool, referral_b())
    before = await pool.fetchval("SELECT count(DISTINCT (level, code)) FROM aggregate_changes")
    sent = 0

    send = sender(producer)

    async def dies_after_two(topic: str, key: bytes, value: bytes | None) -> Awaitable[object]:
        nonlocal sent
        if sent == 2:
            raise Died
        sent += 1
        ack = await send(topic, key, value)
        await ack
        return ack

    with pytest.raises(Died):
        await drain(pool, dies_after_two, namespace)
    assert await pool.fetchval("SELECT count(DISTINCT (level, code)) FROM aggregate_changes") == (
        before
    )
    await drain(pool, sender(producer), namespace)
    stored = await pool.fetchval("SELECT count(*) FROM aggregates")
    records = await read_topic(kafka_bootstrap, namespace + AGGREGATES.name)
    assert len({key for key, _ in records}) == stored
    assert all(value is not None for _, value in records)
