"""PostgreSQL goes away mid-stream and comes back: the worker waits, retries, loses nothing.

The test owns its PostgreSQL (a private :class:`EmbeddedPostgres`, never the session's), so
it can stop it for :data:`OUTAGE_SECONDS` while a worker is applying a cohort and more
events arrive, then start it again on the same data directory and port. The worker must
survive the outage, retry with backoff, and catch up so that the stored aggregates equal
the batch recomputation: nothing lost (no offset committed for an unwritten batch, since
``consumer_progress`` moves in the same transaction as the facts) and nothing doubled.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil
import pytest

from services.progress import wait_until_reflected
from services.runtime import EmbeddedPostgres, create_database
from services.store import outbox
from services.store.migrations import upgrade_database
from services.store.pool import create_pool
from tests import oracle
from tests.integration.test_pipeline_kafka import (
    CATCH_UP_SECONDS,
    caught_up,
    cohort,
    start_worker,
)
from tests.integration.test_pipeline_store import assert_same_counters, stored_counters
from tests.reliability.conftest import (
    create_namespaced_topics,
    last_offsets,
    produce_each,
    read_log,
)
from topics.registry import EVENTS

pytestmark = pytest.mark.reliability

OUTAGE_SECONDS = 10.0
RETRY_LOG_LINE = "database unavailable, retrying"  # a batch, the outbox or the pool


async def test_worker_rides_out_a_database_outage_and_loses_or_doubles_nothing(
    kafka_bootstrap: str, own_postgres: EmbeddedPostgres, unique_name: str, tmp_path: Path
) -> None:
    dsn = await create_database(own_postgres.server_dsn, prefix="roms_outage")
    await upgrade_database(dsn)
    namespace = f"{unique_name}."
    await create_namespaced_topics(kafka_bootstrap, namespace)
    messages = cohort(60, seed=31)
    half = len(messages) // 2
    log_path = tmp_path / "worker.log"

    first = last_offsets(await produce_each(kafka_bootstrap, namespace, messages[:half]))
    worker = start_worker(kafka_bootstrap, dsn, namespace, log_path)
    try:
        # The outage starts once the worker has committed its first batch, mid-cohort.
        busiest = max(first, key=lambda partition: first[partition])
        async with asyncio.timeout(CATCH_UP_SECONDS):
            await wait_until_reflected(dsn, namespace + EVENTS.name, {busiest: 0})
        outage = asyncio.create_task(
            asyncio.to_thread(own_postgres.restart, down_for=OUTAGE_SECONDS)
        )
        rest = last_offsets(await produce_each(kafka_bootstrap, namespace, messages[half:]))
        await outage
        await caught_up(dsn, namespace, {**first, **rest}, worker)
        assert worker.pid is not None
        assert psutil.Process(worker.pid).status() != psutil.STATUS_ZOMBIE, worker.log_tail()
    finally:
        worker.stop()

    log = read_log(log_path)
    assert RETRY_LOG_LINE in log  # the outage was met, and survived by retrying
    # The agent never crashed (asyncpg may log tracebacks of its own reconnection attempts).
    assert "Crashed reason" not in log, log[-4000:]
    pool = await create_pool(dsn)
    try:
        assert_same_counters(await stored_counters(pool), oracle.recompute(messages))
        async with pool.acquire() as connection:
            assert await outbox.unpublished(connection) == 0
    finally:
        await pool.close()
