"""The real pipeline: `outcomes run` worker processes, the broker and PostgreSQL.

The worker is the production command in a child process, so SIGKILL hits exactly what runs
in production; the figures are compared with the independent batch recomputation.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from scoring.published import derive
from services.ingest import produce
from services.progress import wait_until_reflected
from services.runtime import create_database, drop_database
from services.runtime.process import SupervisedProcess
from services.runtime.topics import create_topics
from services.simulate import MALFORMED_LINES, simulate
from services.store import outbox
from services.store.migrations import upgrade_database
from services.store.pool import create_pool
from services.worker import worker_process
from tests import oracle
from tests.integration.test_pipeline_store import assert_same_counters, stored_counters
from topics.registry import AGGREGATES, DEAD_LETTERS, EVENTS, TOPICS

CATCH_UP_SECONDS = 240
FAST_GROUP_ENV = {
    "BROKER_SESSION_TIMEOUT": "3",
    "BROKER_HEARTBEAT_INTERVAL": "0.5",
    "BROKER_REQUEST_TIMEOUT": "5",
    "BATCH_SIZE": "200",
    "BATCH_WAIT": "0.2",
    "AGGREGATE_PUBLISH_INTERVAL": "1",  # the tests read the topics as soon as they are current
}


@pytest.fixture
async def dsn(postgres_server: str) -> AsyncIterator[str]:
    database = await create_database(postgres_server, prefix="roms_kafka")
    await upgrade_database(database)
    try:
        yield database
    finally:
        await drop_database(postgres_server, database)


def start_worker(
    kafka_bootstrap: str, dsn: str, namespace: str, log_path: Path
) -> SupervisedProcess:
    worker = worker_process(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=dsn,
        consumer_group=f"{namespace}group",
        log_path=log_path,
        topic_namespace=namespace,
        extra_env=FAST_GROUP_ENV,
    )
    worker.start()
    return worker


async def caught_up(
    dsn: str, namespace: str, last: dict[int, int], worker: SupervisedProcess
) -> None:
    try:
        async with asyncio.timeout(CATCH_UP_SECONDS):
            await wait_until_reflected(dsn, namespace + EVENTS.name, last)
    except TimeoutError:
        pytest.fail(f"worker did not catch up; its log:\n{worker.log_tail()}")


async def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes, bytes | None]]:
    """Everything on ``topic`` so far, read until a quiet poll (never end offsets)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    messages: list[tuple[bytes, bytes | None]] = []
    try:
        while batch := await consumer.getmany(timeout_ms=1500):
            for records in batch.values():
                messages.extend((record.key, record.value) for record in records)
    finally:
        await consumer.stop()
    return messages


def cohort(referrals: int, seed: int) -> list[bytes]:
    return [*(orjson.dumps(event) for event in simulate(referrals, seed)), *MALFORMED_LINES]


async def test_worker_reflects_every_event_and_publishes_what_it_committed(
    kafka_bootstrap: str, dsn: str, unique_name: str, tmp_path: Path
) -> None:
    namespace = f"{unique_name}."
    await create_topics(
        kafka_bootstrap, {namespace + spec.name: spec.partitions for spec in TOPICS.values()}
    )
    messages = cohort(40, seed=21)
    last = await produce(kafka_bootstrap, messages, namespace=namespace)
    worker = start_worker(kafka_bootstrap, dsn, namespace, tmp_path / "worker.log")
    try:
        await caught_up(dsn, namespace, last, worker)
    finally:
        worker.stop()
    pool = await create_pool(dsn)
    try:
        assert_same_counters(await stored_counters(pool), oracle.recompute(messages))
        async with pool.acquire() as connection:
            assert await outbox.unpublished(connection) == 0
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 0  # deleted once sent
        letters = await pool.fetchval("SELECT count(DISTINCT source) FROM dead_letters")
        latest = {
            key: value
            for key, value in await read_topic(kafka_bootstrap, namespace + AGGREGATES.name)
        }
        rows = await pool.fetch(
            "SELECT method, level, code, period, cohort, cohort_value, counters FROM aggregates"
        )
    finally:
        await pool.close()
    assert letters >= len(MALFORMED_LINES)
    published = {
        key: orjson.loads(value)["figures"] for key, value in latest.items() if value is not None
    }
    assert len(published) == len(rows)
    for row in rows:
        key = "/".join(
            [
                *(row[c] for c in ("method", "level", "code", "period", "cohort", "cohort_value")),
                "",
                "",
            ]
        ).encode()
        assert published[key] == derive(row["counters"])
    dead = await read_topic(kafka_bootstrap, namespace + DEAD_LETTERS.name)
    assert len({key for key, _ in dead}) == letters


async def test_sigkill_mid_stream_loses_and_doubles_nothing(
    kafka_bootstrap: str, dsn: str, unique_name: str, tmp_path: Path
) -> None:
    namespace = f"{unique_name}."
    await create_topics(
        kafka_bootstrap, {namespace + spec.name: spec.partitions for spec in TOPICS.values()}
    )
    messages = cohort(60, seed=22)
    half = len(messages) // 2
    first = await produce(kafka_bootstrap, messages[:half], namespace=namespace)
    worker = start_worker(kafka_bootstrap, dsn, namespace, tmp_path / "first.log")
    pool = await create_pool(dsn)
    try:
        # Kill as soon as the first batch of the busiest partition is committed.
        busiest = max(first, key=lambda partition: first[partition])
        async with asyncio.timeout(CATCH_UP_SECONDS):
            await wait_until_reflected(dsn, namespace + EVENTS.name, {busiest: 0})
        assert worker.pid is not None
        os.killpg(worker.pid, signal.SIGKILL)
        worker.stop()
        last = await produce(kafka_bootstrap, messages[half:], namespace=namespace)
        restarted = start_worker(kafka_bootstrap, dsn, namespace, tmp_path / "second.log")
        try:
            await caught_up(dsn, namespace, {**first, **last}, restarted)
        finally:
            restarted.stop()
        assert_same_counters(await stored_counters(pool), oracle.recompute(messages))
    finally:
        await pool.close()
