"""asyncpg connections with JSON codecs, so that jsonb columns read and write Python values."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson


async def _init_connection(connection: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name,
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What a released connection needs beyond asyncpg's own rollback of an open transaction:
    nothing. The service keeps no session state (its advisory locks are transaction-scoped,
    it never LISTENs, keeps no cursor open past a transaction and sets no session variable),
    so the default reset (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``), a
    round trip on every release, is skipped: ~8% of the API's CPU under the soak's load."""


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 4,
    command_timeout: float | None = None,
    statement_timeout: float | None = None,
) -> asyncpg.Pool:
    """A pool whose connections encode and decode json/jsonb with orjson.

    ``statement_timeout`` (seconds) makes PostgreSQL cancel a longer statement
    (``asyncpg.QueryCanceledError``); ``command_timeout`` makes the client give up waiting
    (``TimeoutError``) and cancel it. Either way the connection returns to the pool instead of
    being held by a stuck query; neither is set by default (the worker's batches are long).
    """
    settings = None
    if statement_timeout is not None:  # in whole milliseconds; 0 would mean none
        settings = {"statement_timeout": str(max(1, round(statement_timeout * 1000)))}
    pool: Any = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=command_timeout,
        server_settings=settings,
    )
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    """One connection with the same JSON codecs as :func:`create_pool`."""
    connection: asyncpg.Connection = await asyncpg.connect(dsn)
    await _init_connection(connection)
    return connection
