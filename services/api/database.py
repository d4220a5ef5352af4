"""The API's PostgreSQL pool, opened on first use so the service starts (and answers 503
with a reason) while the database is down, and recovers by itself when it returns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final

import asyncpg
from fastapi import Request

from services.api.errors import DATABASE_DOWN_ERRORS, DatabaseUnavailable
from services.store.pool import create_pool

CONNECT_TIMEOUT_SECONDS: Final = 5.0
"""P: how long a request waits for a connection before answering 503."""
POOL_SIZE: Final = 10
"""P: connections per API process; a read takes ~1 ms, so 10 serve hundreds of requests/s."""
STATEMENT_TIMEOUT_SECONDS: Final = 10.0
"""P: PostgreSQL cancels a longer statement (503), so a slow query cannot hold a connection."""
COMMAND_TIMEOUT_SECONDS: Final = 15.0
"""P: the client stops waiting (503) even when the server cannot cancel (a lost network)."""


class Database:
    """A lazily created pool for ``dsn``; a failed attempt is retried by the next request."""

    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        if self.dsn is None:
            raise DatabaseUnavailable()
        async with self._lock:
            if self._pool is None:
                try:
                    async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                        self._pool = await create_pool(
                            self.dsn,
                            max_size=POOL_SIZE,
                            command_timeout=COMMAND_TIMEOUT_SECONDS,
                            statement_timeout=STATEMENT_TIMEOUT_SECONDS,
                        )
                except DATABASE_DOWN_ERRORS as error:
                    raise DatabaseUnavailable() from error
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


async def connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection for one request (FastAPI dependency)."""
    database: Database = request.app.state.database
    pool = await database.pool()
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
            held = await pool.acquire()
    except DATABASE_DOWN_ERRORS as error:
        raise DatabaseUnavailable() from error
    try:
        yield held
    finally:
        await pool.release(held)
