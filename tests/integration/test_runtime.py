"""Round trips through the real broker and PostgreSQL, and the embedded processes themselves."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import orjson
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.runtime import EmbeddedBroker, EmbeddedPostgres, create_topics

MESSAGES = 1_000
# Test timings from STREAMING.md: a 3 s session makes Tansu hold each join only ~1.5 s.
CONSUMER_TIMEOUTS: dict[str, Any] = {"session_timeout_ms": 3_000, "heartbeat_interval_ms": 500}


async def produce_numbers(bootstrap: str, topic: str, numbers: range) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for n in numbers:
            await producer.send(topic, orjson.dumps({"n": n}), key=str(n).encode())
        await producer.flush()
    finally:
        await producer.stop()


# -- the embedded processes themselves -------------------------------------------------


def test_embedded_broker_sync_start_and_stop_leave_no_process() -> None:
    broker = EmbeddedBroker()
    host, _port = broker.start().split(":")
    pid = broker.pid
    assert host == "127.0.0.1"
    assert pid is not None
    assert psutil.pid_exists(pid)
    broker.stop()
    assert not psutil.pid_exists(pid)


async def test_embedded_postgres_serves_sql_and_stops_with_its_backends() -> None:
    async with EmbeddedPostgres(isolated=True) as postgres:
        assert postgres.dsn.startswith("postgresql://postgres@127.0.0.1:")
        assert postgres.pid is not None
        server = psutil.Process(postgres.pid)
        connection = await asyncpg.connect(postgres.dsn)  # left open: fast shutdown copes
        assert await connection.fetchval("SELECT current_database()") != "postgres"
        family = [server, *server.children(recursive=True)]
    assert len(family) > 1  # the postmaster and its auxiliary processes
    assert not any(process.is_running() for process in family)


# -- round trips on the session's broker and database ----------------------------------


async def test_consumer_group_reads_everything_then_resumes_after_commit(
    kafka_bootstrap: str, unique_name: str
) -> None:
    topic, group = f"{unique_name}.numbers", f"{unique_name}.group"
    await create_topics(kafka_bootstrap, {topic: 3})
    await create_topics(kafka_bootstrap, {topic: 3})  # existing topics are left alone
    await produce_numbers(kafka_bootstrap, topic, range(MESSAGES))

    first = await consume_group(kafka_bootstrap, topic, group, expected=MESSAGES)
    assert sorted(first) == list(range(MESSAGES))  # each exactly once, none lost

    # 200 more: a new member of the same group starts after the committed offsets.
    await produce_numbers(kafka_bootstrap, topic, range(MESSAGES, MESSAGES + 200))
    second = await consume_group(kafka_bootstrap, topic, group, expected=200)
    assert sorted(second) == list(range(MESSAGES, MESSAGES + 200))


async def consume_group(bootstrap: str, topic: str, group: str, expected: int) -> list[int]:
    """Consume in ``group`` until ``expected`` values arrive, make sure no more do, commit."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **CONSUMER_TIMEOUTS,
    )
    await consumer.start()
    values: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(values) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            values += [orjson.loads(m.value)["n"] for ms in batches.values() for m in ms]
        extra = await consumer.getmany(timeout_ms=300)
        values += [orjson.loads(m.value)["n"] for ms in extra.values() for m in ms]
        await consumer.commit()
    finally:
        await consumer.stop()
    return values


async def test_asyncpg_creates_inserts_and_reads_back(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("CREATE TABLE provider (code text PRIMARY KEY, name text)")
        await connection.executemany(
            "INSERT INTO provider VALUES ($1, $2)", [("RXX", "North"), ("RYY", "South")]
        )
        rows = await connection.fetch("SELECT code, name FROM provider ORDER BY code")
    finally:
        await connection.close()
    assert [tuple(row) for row in rows] == [("RXX", "North"), ("RYY", "South")]
