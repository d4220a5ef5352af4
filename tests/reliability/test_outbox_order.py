"""Two workers draining the outbox must leave each key's latest record last on its topic.

``roms.aggregates.v1`` and ``roms.outcomes.v1`` are latest-value (compacted) topics: a
reader takes the last record of a key as its figures. Per key, outbox ids already follow
commit order (a derivation pass holds the aggregate's row and the referral's lock until it
commits), so publishing in id order is right; but ``outbox.publish_pending`` lets drains run
side by side (``FOR UPDATE SKIP LOCKED``), and a drain that claimed an older record can send
it after another worker's drain sent a newer one, or a drain that dies after sending but
before marking has its records re-sent after newer ones were published. These tests force
both interleavings with two real drains on a real PostgreSQL and broker; a crash is a drain
whose transaction ends in an error after the broker acknowledged its records.

Found by the crash-and-restart suite (``test_crash_restart.py``); fixed by serialising the
drains (``pg_advisory_xact_lock`` before the claim, in ``services/store/outbox.py``): the
second drain waits, then sends every unpublished record of the key in id order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.runtime.topics import create_topics
from services.store import outbox
from services.store.pool import create_pool
from tests.integration.test_pipeline_kafka import read_topic

pytestmark = pytest.mark.reliability

KEY = b"ccg/RXT/2019Q1"
OTHER_DRAIN_SECONDS = 3.0
"""How long the first drain holds its claim while the second drain gets its chance (P)."""


class Crashed(Exception):
    """The first drain's worker died after the broker acknowledged its records."""


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(dsn)
    try:
        yield pool
    finally:
        await pool.close()


async def _queue(pool: asyncpg.Pool, topic: str, value: bytes) -> None:
    async with pool.acquire() as connection, connection.transaction():
        await outbox.add(connection, [(topic, KEY, value)])


async def _latest_after_interleaved_drains(
    kafka_bootstrap: str,
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    topic: str,
    *,
    first_crashes: bool,
) -> bytes | None:
    """Queue ``old``; a first drain claims it (and, if it is to crash, sends it); meanwhile
    ``new`` is committed and a second drain runs; then the first drain sends (or crashes),
    and a last drain publishes whatever is left. Return the key's latest value on the topic."""
    await create_topics(kafka_bootstrap, {topic: 1})
    await _queue(pool, topic, b"old")
    claimed, released = asyncio.Event(), asyncio.Event()

    async def send(topic: str, key: bytes, value: bytes | None) -> Awaitable[object]:
        ack: Awaitable[object] = await producer.send(topic, value=value, key=key)
        return ack

    async def first_enqueue(topic: str, key: bytes, value: bytes | None) -> Awaitable[object]:
        if first_crashes:
            await (await send(topic, key, value))  # acknowledged; the worker then dies
        claimed.set()
        await released.wait()
        if first_crashes:
            raise Crashed
        return await send(topic, key, value)

    first = asyncio.create_task(outbox.publish_pending(pool, first_enqueue))
    await claimed.wait()
    await _queue(pool, topic, b"new")
    second = asyncio.create_task(outbox.publish_pending(pool, send))
    await asyncio.wait({second}, timeout=OTHER_DRAIN_SECONDS)  # a serialised second waits
    released.set()
    with pytest.raises(Crashed) if first_crashes else contextlib.nullcontext():
        await first
    await second
    while await outbox.publish_pending(pool, send):
        pass
    records = await read_topic(kafka_bootstrap, topic)
    return [value for key, value in records if key == KEY][-1]


async def test_a_drain_overtaken_by_another_does_not_publish_an_older_value_last(
    kafka_bootstrap: str, pool: asyncpg.Pool, producer: AIOKafkaProducer, unique_name: str
) -> None:
    latest = await _latest_after_interleaved_drains(
        kafka_bootstrap, pool, producer, f"{unique_name}.latest", first_crashes=False
    )
    assert latest == b"new"


async def test_a_drain_that_crashed_after_sending_is_not_re_sent_after_newer_values(
    kafka_bootstrap: str, pool: asyncpg.Pool, producer: AIOKafkaProducer, unique_name: str
) -> None:
    latest = await _latest_after_interleaved_drains(
        kafka_bootstrap, pool, producer, f"{unique_name}.latest", first_crashes=True
    )
    assert latest == b"new"
