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


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 4) -> asyncpg.Pool:
    """A pool whose connections encode and decode json/jsonb with orjson."""
    pool: Any = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection
    )
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    """One connection with the same JSON codecs as :func:`create_pool`."""
    connection: asyncpg.Connection = await asyncpg.connect(dsn)
    await _init_connection(connection)
    return connection
