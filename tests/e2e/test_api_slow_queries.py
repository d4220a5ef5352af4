"""A slow query cannot hold an API connection: ``create_pool``'s statement and command
timeouts, and the API's 503 when one fires (issue 5).

Each pool here has one connection, so a query that succeeds after a timeout proves the
connection came back and the slow statement no longer runs on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.api import database
from services.runtime import create_database, drop_database
from services.settings import Settings
from services.store.migrations import upgrade
from services.store.pool import create_pool
from tests.e2e.api_support import asgi_client, issue_tokens

SLEEP = "SELECT pg_sleep(60)"
"""Far longer than any test: a timeout that did not fire would show as a test timeout."""


@pytest.fixture(scope="module")
async def dsn(postgres_server: str) -> AsyncIterator[str]:
    url = await create_database(postgres_server, prefix="roms_slow")
    try:
        yield url
    finally:
        await drop_database(postgres_server, url)


async def _sleeping(pool: asyncpg.Pool) -> int:
    """Backends of this database still running the slow statement."""
    count: int = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE query = $1 AND state = 'active'"
        " AND datname = current_database()",
        SLEEP,
    )
    return count


async def test_postgres_cancels_a_statement_over_the_statement_timeout(dsn: str) -> None:
    pool = await create_pool(dsn, max_size=1, statement_timeout=0.2)
    try:
        with pytest.raises(asyncpg.QueryCanceledError):
            await pool.fetchval(SLEEP)
        assert await pool.fetchval("SHOW statement_timeout") == "200ms"
        assert await _sleeping(pool) == 0
    finally:
        await pool.close()


async def test_the_client_gives_up_after_the_command_timeout(dsn: str) -> None:
    pool = await create_pool(dsn, max_size=1, command_timeout=0.2)
    try:
        with pytest.raises(TimeoutError):
            await pool.fetchval(SLEEP)
        assert await _sleeping(pool) == 0
        assert await pool.fetchval("SHOW statement_timeout") == "0"  # not set by default
    finally:
        await pool.close()


async def test_the_api_answers_503_and_recovers_when_a_read_runs_out_of_time(
    dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "STATEMENT_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(database, "POOL_SIZE", 1)
    admin = await create_pool(dsn, max_size=2)
    try:
        async with admin.acquire() as connection:
            await upgrade(connection)
        headers = (await issue_tokens(admin)).headers("admin")
        async for client in asgi_client(Settings(database_url=dsn)):
            async with admin.acquire() as locker, locker.transaction():
                await locker.execute("LOCK TABLE aggregates IN ACCESS EXCLUSIVE MODE")
                response = await client.get("/v1/aggregates", headers=headers)
                assert response.status_code == 503
                assert response.json()["error_code"] == "service.database_unavailable"
                assert response.headers["retry-after"] == "5"
            # the API's one connection is back: the next read is answered
            assert (await client.get("/v1/aggregates", headers=headers)).status_code == 200
    finally:
        await admin.close()
