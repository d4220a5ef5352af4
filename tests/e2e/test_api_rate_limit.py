"""The gateway's per-token rate limit through the real app and a real PostgreSQL.

Each post is an event already stored (a duplicate: 202 with nothing produced), so no broker
is needed. No assertion depends on how fast requests go: a token posts until refused, and
the refill is awaited for the ``Retry-After`` the gateway itself answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import orjson
import pytest

from services.settings import Settings
from tests.e2e.api_support import (
    Tokens,
    asgi_client,
    close_database,
    fresh_database,
    issue_tokens,
    load_cohort,
)

BURST = 3
MOST_POSTS = 50
"""Bound on the posts a token sends before it must have been refused."""


@dataclass(frozen=True, slots=True)
class Stored:
    dsn: str
    tokens: Tokens
    event: bytes
    """An event of RYG already in the store."""


@pytest.fixture(scope="module")
async def stored(postgres_server: str) -> AsyncIterator[Stored]:
    dsn, pool = await fresh_database(postgres_server, "roms_rate_limit")
    try:
        await load_cohort(pool, referrals=20, seed=12)
        tokens = await issue_tokens(pool)
        body = await pool.fetchval("SELECT body FROM events WHERE provider_code = 'RYG' LIMIT 1")
        assert body is not None
        yield Stored(dsn, tokens, orjson.dumps(body))
    finally:
        await close_database(postgres_server, dsn, pool)


async def _client(stored: Stored, rate: float) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=stored.dsn,
        kafka_bootstrap_servers=None,
        gateway_rate=rate,
        gateway_burst=BURST,
    )
    async for client in asgi_client(settings):
        yield client


async def _post_until_refused(
    client: httpx.AsyncClient, stored: Stored, token: str
) -> tuple[int, httpx.Response]:
    """How many posts were accepted before the first refusal, and the refusal."""
    for accepted in range(MOST_POSTS):
        response = await client.post(
            "/v1/events", content=stored.event, headers=stored.tokens.headers(token)
        )
        if response.status_code != 202:
            return accepted, response
    raise AssertionError(f"{MOST_POSTS} posts and never refused")


def _assert_rate_limited(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == "request.rate_limited"
    assert "retry after" in body["message"]
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    return retry_after


@pytest.mark.parametrize("token", ["provider", "admin"])
async def test_a_token_over_its_limit_is_refused_and_other_tokens_are_not(
    stored: Stored, token: str
) -> None:
    async for client in _client(stored, rate=0.01):  # one request per 100 s after the burst
        accepted, refusal = await _post_until_refused(client, stored, token)
        assert accepted >= BURST
        assert _assert_rate_limited(refusal) > 1  # a token is ~100 s away, not 1 s
        again = await client.post(
            "/v1/events", content=stored.event, headers=stored.tokens.headers(token)
        )
        _assert_rate_limited(again)
        other = "admin" if token == "provider" else "provider"
        response = await client.post(
            "/v1/events", content=stored.event, headers=stored.tokens.headers(other)
        )
        assert response.status_code == 202, response.text
        # Only the gateway is limited: the same token still reads.
        reads = await client.get("/v1/aggregates?limit=1", headers=stored.tokens.headers(token))
        assert reads.status_code == 200
        metrics = (await client.get("/metrics")).text
    refused = f'roms_gateway_rate_limited_total{{token_id="{stored.tokens.ids[token]}"}} 2.0'
    assert refused in metrics
    assert stored.tokens.ids[other] not in metrics


async def test_a_refused_token_is_admitted_again_after_retry_after(stored: Stored) -> None:
    async for client in _client(stored, rate=1.0):
        _, refusal = await _post_until_refused(client, stored, "provider")
        await asyncio.sleep(_assert_rate_limited(refusal))
        response = await client.post(
            "/v1/events", content=stored.event, headers=stored.tokens.headers("provider")
        )
        assert response.status_code == 202, response.text


async def test_unauthenticated_posts_do_not_spend_a_tokens_allowance(stored: Stored) -> None:
    """The bucket is keyed by the verified token: a forged secret with a real token id is
    401, and leaves that token's bucket full."""
    token_id = stored.tokens.ids["provider"]
    forged = {"Authorization": f"Bearer roms_{token_id}_{'x' * 43}"}
    async for client in _client(stored, rate=0.01):
        for _ in range(BURST * 2):
            response = await client.post("/v1/events", content=stored.event, headers=forged)
            assert response.status_code == 401
        accepted, _ = await _post_until_refused(client, stored, "provider")
    assert accepted >= BURST
