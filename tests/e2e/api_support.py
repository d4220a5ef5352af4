"""Shared set-up of the API end-to-end tests: a real PostgreSQL loaded through the real
pipeline, tokens of every role, and an HTTP client on the real app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import orjson
import uvicorn

from services.api import create_app
from services.api.tokens import Role, create_token
from services.pipeline.batch import Incoming, process_batch
from services.runtime import create_database, drop_database, free_port
from services.settings import Settings
from services.simulate import simulate
from services.store.migrations import upgrade
from services.store.pool import create_pool

BATCH = 250


@dataclass(frozen=True, slots=True)
class Tokens:
    """A bearer token of each kind the tests need, by name."""

    by_name: dict[str, str]
    ids: dict[str, str]

    def headers(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.by_name[name]}"}


TOKEN_GRANTS: dict[str, tuple[Role, tuple[str, ...]]] = {
    "provider": (Role.PROVIDER, ("RYG",)),
    "other_provider": (Role.PROVIDER, ("RX4",)),
    "quality": (Role.QUALITY, ("RYG",)),
    "commissioner": (Role.COMMISSIONER, ("05A",)),
    "other_commissioner": (Role.COMMISSIONER, ("13T",)),
    "admin": (Role.ADMIN, ()),
    "revoked": (Role.ADMIN, ()),
}


async def fresh_database(server: str, prefix: str) -> tuple[str, asyncpg.Pool]:
    dsn = await create_database(server, prefix=prefix)
    pool = await create_pool(dsn)
    async with pool.acquire() as connection:
        await upgrade(connection)
    return dsn, pool


async def close_database(server: str, dsn: str, pool: asyncpg.Pool) -> None:
    await pool.close()
    await drop_database(server, dsn)


async def load_cohort(pool: asyncpg.Pool, referrals: int, seed: int) -> None:
    """Simulated events through :func:`process_batch`: real data through the real pipeline."""
    messages = [orjson.dumps(event) for event in simulate(referrals, seed)]
    for first in range(0, len(messages), BATCH):
        batch = [
            Incoming(raw, f"test:{first + index}")
            for index, raw in enumerate(messages[first : first + BATCH])
        ]
        async with pool.acquire() as connection:
            await process_batch(connection, batch)


async def issue_tokens(pool: asyncpg.Pool) -> Tokens:
    by_name, ids = {}, {}
    async with pool.acquire() as connection:
        for name, (role, orgs) in TOKEN_GRANTS.items():
            issued = await create_token(connection, role, orgs, label=name)
            by_name[name], ids[name] = issued.token, issued.token_id
        await connection.execute(
            "UPDATE api_clients SET revoked_at = now() WHERE token_id = $1", ids["revoked"]
        )
    return Tokens(by_name, ids)


async def asgi_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the app in process (ASGI), its lifespan run around it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


@asynccontextmanager
async def uvicorn_server(settings: Settings) -> AsyncIterator[str]:
    """The app on a real uvicorn socket on 127.0.0.1, in this event loop; yields its URL."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # a failed start raises here
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def insert_aggregate(
    pool: asyncpg.Pool,
    *,
    level: str,
    code: str,
    figures: dict[str, Any],
    counters: dict[str, float] | None = None,
    period: str = "2019/20 Q1",
    period_kind: str = "quarter",
    cohort: str = "all",
    cohort_value: str = "all",
    method: str = "default",
) -> None:
    """One aggregates row written directly, for figures at chosen edges: ``figures`` is the
    stored headline, ``counters`` what the detailed views derive theirs from."""
    await pool.execute(
        "INSERT INTO aggregates (method, level, code, period, period_kind, cohort, cohort_value,"
        " counters, figures, events, scoring_version) VALUES ($1, $2, $3, $4, $5, $6, $7,"
        " $9, $8, 1, 'test')",
        method,
        level,
        code,
        period,
        period_kind,
        cohort,
        cohort_value,
        figures,
        counters or {},
    )


def codes_of(items: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(item["level"], item["code"]) for item in items}
