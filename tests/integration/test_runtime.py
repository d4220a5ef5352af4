"""Round trips through the real broker and PostgreSQL, and a Faust worker on both.

Also the module a worker subprocess runs: ``python -m tests.integration.test_runtime
APP_ID TOPIC`` starts the same batch-writing Faust app as the in-process test, configured
from ``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import faust
import orjson
import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.runtime import EmbeddedBroker, EmbeddedPostgres, create_topics
from services.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 1_000
# Test timings from STREAMING.md: a 3 s session makes Tansu hold each join only ~1.5 s.
TEST_BROKER_SETTINGS: dict[str, Any] = {
    "broker_session_timeout": 3.0,
    "broker_heartbeat_interval": 0.5,
    "broker_rebalance_timeout": 10.0,
    "broker_commit_interval": 0.2,
}
CONSUMER_TIMEOUTS: dict[str, Any] = {"session_timeout_ms": 3_000, "heartbeat_interval_ms": 500}
BATCH_SIZE = 100
BATCH_WAIT_SECONDS = 0.2
CATCH_UP_TIMEOUT_SECONDS = 60
WORKER_STOP_TIMEOUT_SECONDS = 30


# -- the Faust app under test (also run as a subprocess) -------------------------------


def build_batch_writer(settings: Settings, app_id: str, topic_name: str) -> faust.App:
    """A Faust app whose agent writes each ``take()`` batch of numbers in one transaction."""
    app = faust.App(app_id, **settings.faust_settings())
    topic = app.topic(topic_name, value_type=bytes, value_serializer="raw")
    database_url = settings.database_url

    @app.agent(topic)
    async def write_batches(stream: faust.StreamT[bytes]) -> None:
        connection = await asyncpg.connect(database_url)
        try:
            async for batch in stream.take(BATCH_SIZE, within=BATCH_WAIT_SECONDS):
                numbers = [(orjson.loads(value)["n"],) for value in batch]
                async with connection.transaction():
                    await connection.executemany(
                        "INSERT INTO seen (n) VALUES ($1) ON CONFLICT DO NOTHING", numbers
                    )
                    await connection.execute("INSERT INTO batches (size) VALUES ($1)", len(numbers))
        finally:
            await connection.close()

    return app


async def produce_numbers(bootstrap: str, topic: str, numbers: range) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for n in numbers:
            await producer.send(topic, orjson.dumps({"n": n}), key=str(n).encode())
        await producer.flush()
    finally:
        await producer.stop()


async def wait_for_rows(connection: asyncpg.Connection, expected: int) -> None:
    """Poll until ``seen`` holds ``expected`` rows: "caught up" is judged by what was written."""
    async with asyncio.timeout(CATCH_UP_TIMEOUT_SECONDS):
        while True:  # polling the database is the point: no event to wait on
            if await connection.fetchval("SELECT count(*) FROM seen") >= expected:
                return
            await asyncio.sleep(0.1)


@pytest.fixture
async def sink(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """Empty ``seen`` and ``batches`` tables in the module's fresh database."""
    connection = await asyncpg.connect(database_url)
    await connection.execute(
        "DROP TABLE IF EXISTS seen, batches;"
        "CREATE TABLE seen (n integer PRIMARY KEY);"
        "CREATE TABLE batches (id serial PRIMARY KEY, size integer NOT NULL);"
    )
    try:
        yield connection
    finally:
        await connection.close()


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


# -- Faust workers ---------------------------------------------------------------------


async def test_faust_agent_in_process_writes_batches(
    kafka_bootstrap: str, database_url: str, sink: asyncpg.Connection, unique_name: str
) -> None:
    topic = f"{unique_name}.events"
    await create_topics(kafka_bootstrap, {topic: 4})
    await produce_numbers(kafka_bootstrap, topic, range(MESSAGES))
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url, **TEST_BROKER_SETTINGS
    )
    app = build_batch_writer(settings, unique_name, topic)
    app.loop = asyncio.get_running_loop()
    app.finalize()
    started = time.monotonic()
    await app.start()
    try:
        await wait_for_rows(sink, MESSAGES)
        print(f"in-process Faust worker: all {MESSAGES} rows in {time.monotonic() - started:.1f} s")
    finally:
        await app.stop()
    assert await sink.fetchval("SELECT count(*) FROM seen") == MESSAGES
    assert await sink.fetchval("SELECT max(size) FROM batches") > 1  # take() did batch


async def test_faust_worker_subprocess_starts_in_seconds_and_stops_cleanly(
    kafka_bootstrap: str,
    database_url: str,
    sink: asyncpg.Connection,
    unique_name: str,
    tmp_path: Path,
) -> None:
    topic = f"{unique_name}.events"
    await create_topics(kafka_bootstrap, {topic: 4})
    await produce_numbers(kafka_bootstrap, topic, range(MESSAGES))
    environment = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
    }
    log_path = tmp_path / "worker.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        worker = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "tests.integration.test_runtime", unique_name, topic],
            cwd=REPO_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        await wait_for_rows(sink, MESSAGES)
        print(f"Faust worker subprocess: all {MESSAGES} rows in {time.monotonic() - started:.1f} s")
        process = psutil.Process(worker.pid)
        family = [process, *process.children(recursive=True)]
        listening = [c.laddr for c in process.net_connections() if c.status == psutil.CONN_LISTEN]
        assert listening == []  # no web server, nothing bound on 0.0.0.0
        worker.send_signal(signal.SIGTERM)
        exit_code = await asyncio.wait_for(worker.wait(), WORKER_STOP_TIMEOUT_SECONDS)
    finally:
        if worker.returncode is None:
            os.killpg(worker.pid, signal.SIGKILL)
            await worker.wait()
    assert exit_code == 0, log_path.read_text()
    assert not any(member.is_running() for member in family)


if __name__ == "__main__":
    app_id, topic_name = sys.argv[1:3]
    worker_settings = Settings(**TEST_BROKER_SETTINGS)
    app = build_batch_writer(worker_settings, app_id, topic_name)
    faust.Worker(app, loglevel="INFO", redirect_stdouts=False).execute_from_commandline()
