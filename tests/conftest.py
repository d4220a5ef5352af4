"""Real infrastructure for the integration tests, chosen once per session.

In order: the endpoints in ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL``; else containers
(Kafka in KRaft mode, PostgreSQL 16) when a Docker daemon answers; else the embedded Tansu
broker and an embedded PostgreSQL. Each test module gets a fresh database; each test gets
a unique name for its topics and consumer groups (Tansu's repartition topics are shared
across apps, STREAMING.md).
"""

from __future__ import annotations

import functools
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.runtime import EmbeddedBroker, EmbeddedPostgres, create_database, drop_database
from services.store.migrations import upgrade
from services.store.pool import create_pool

DOCKER_PING_TIMEOUT_SECONDS = 2
POSTGRES_IMAGE = "postgres:16-alpine"
INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration needs real infrastructure: mark it so."""
    for item in items:
        if INTEGRATION_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


@functools.cache
def docker_answers() -> bool:
    """True when a Docker daemon answers a ping within a couple of seconds."""
    try:
        import docker

        client = docker.from_env(timeout=DOCKER_PING_TIMEOUT_SECONDS)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a Kafka-compatible broker that lives for the session."""
    if servers := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield servers
    elif docker_answers():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
    else:
        with EmbeddedBroker() as broker:
            yield broker.bootstrap_servers


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """DSN of a PostgreSQL server (its default database) that lives for the session."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
    elif docker_answers():
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_IMAGE, driver=None) as container:
            yield container.get_connection_url()
    else:
        server = EmbeddedPostgres()
        server.start()
        try:
            yield server.server_dsn
        finally:
            server.stop()


@pytest.fixture(scope="module")
async def database_url(postgres_server: str) -> AsyncIterator[str]:
    """DSN of a fresh, empty database for one test module, dropped afterwards."""
    dsn = await create_database(postgres_server, prefix="roms_test")
    try:
        yield dsn
    finally:
        await drop_database(postgres_server, dsn)


@pytest.fixture
async def pool(postgres_server: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh, migrated database of this test's own, dropped afterwards."""
    dsn = await create_database(postgres_server, prefix="roms_test")
    pool = await create_pool(dsn)
    async with pool.acquire() as connection:
        await upgrade(connection)
    try:
        yield pool
    finally:
        await pool.close()
        await drop_database(postgres_server, dsn)


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """A producer on the session's broker that waits for every replica (``acks=all``)."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name unique to this test run, safe for topics, groups and SQL identifiers."""
    readable = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40]
    return f"{readable}_{uuid.uuid4().hex[:8]}"
