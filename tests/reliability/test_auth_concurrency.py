"""Access control under concurrency, and how tokens are compared (issue 8, Security).

Hundreds of requests at once over real HTTP (uvicorn, a real PostgreSQL loaded by the real
pipeline), every role and org, unknown, forged, revoked and missing tokens, across the
endpoints of the access matrix (tests/e2e/access_matrix.py). Every answer must be exactly
the one the same request gets alone: the matrix's status and the same body, so no request
is answered with another's principal or another org's rows; the serial answers are first
checked against each token's scope, derived here from its grant.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from services.api.tokens import Role, create_token, verify_token
from services.settings import Settings
from tests.e2e.access_matrix import ENDPOINTS, MATRIX, Request, matrix_headers, matrix_requests
from tests.e2e.api_support import (
    TOKEN_GRANTS,
    Tokens,
    close_database,
    fresh_database,
    issue_tokens,
    load_cohort,
    uvicorn_server,
)

pytestmark = pytest.mark.reliability

SEED = 8
REPEATS = 6
"""Each (token, endpoint) pair this many times: 10 tokens x 4 endpoints x 6 = 240 requests."""
IN_FLIGHT = 50
"""Connections the client holds open at once: five times the API's database pool, so
requests contend for its connections, yet none waits near the pool's 5 s acquire limit
(which answers 503) on a loaded 2-core machine."""

Answer = tuple[int, Any]
"""Status and the JSON body without its per-request ``request_id``."""


@dataclass(frozen=True, slots=True)
class Served:
    url: str
    pool: asyncpg.Pool
    tokens: Tokens
    requests: dict[str, Request]
    event_id: str


@pytest.fixture(scope="module")
async def served(postgres_server: str) -> AsyncIterator[Served]:
    dsn, pool = await fresh_database(postgres_server, "roms_auth_concurrency")
    try:
        await load_cohort(pool, referrals=60, seed=5)
        tokens = await issue_tokens(pool)
        row = await pool.fetchrow(
            "SELECT e.referral_id, e.event_id, e.body FROM events e JOIN referral_outcomes o"
            " USING (provider_code, referral_id) WHERE e.provider_code = 'RYG' LIMIT 1"
        )
        assert row is not None
        requests = matrix_requests(row["referral_id"], orjson.dumps(row["body"]))
        settings = Settings(database_url=dsn, kafka_bootstrap_servers=None)
        async with uvicorn_server(settings) as url:
            yield Served(url, pool, tokens, requests, str(row["event_id"]))
    finally:
        await close_database(postgres_server, dsn, pool)


def _may_see(role: Role, orgs: frozenset[str], level: str, code: str) -> bool:
    """issue 5 / outcomes.md §5: national for all; a commissioner its CCG and the CCG's
    providers; a provider or quality team its provider, teams and CCG rows; admin all."""
    if role is Role.ADMIN:
        return True
    if level == "national":
        return code == "ENG"
    head, _, tail = code.partition("/")
    if role is Role.COMMISSIONER:
        return (level == "ccg" and code in orgs) or (level == "ccg_provider" and head in orgs)
    return (
        (level == "provider" and code in orgs)
        or (level == "team" and head in orgs)
        or (level == "ccg_provider" and tail in orgs)
    )


def _assert_in_scope(token: str, endpoint: str, body: Any, event_id: str) -> None:
    """A 2xx body of ``token`` holds only what its grant may see."""
    role, codes = TOKEN_GRANTS[token]
    orgs = frozenset(codes)
    if endpoint == "aggregates":
        assert body["items"], token
        for item in body["items"]:
            assert _may_see(role, orgs, item["level"], item["code"]), (token, item["code"])
            commissioned = role is Role.COMMISSIONER and item["level"] != "national"
            assert item["suppressed"] is commissioned, (token, item["code"])
    elif endpoint == "report":
        assert body["ccg"] == "05A"
        assert body["suppressed"] is (role is Role.COMMISSIONER)
        if role in {Role.PROVIDER, Role.QUALITY}:
            assert {row["provider"] for row in body["rows"]} <= orgs, token
    elif endpoint == "referral":
        assert role is Role.ADMIN or body["provider_code"] in orgs, token
    else:
        assert [r["event_id"] for r in body["results"]] == [event_id]
        assert body["duplicates"] == 1


def _answer(response: httpx.Response) -> Answer:
    body = response.json()
    if isinstance(body, dict):
        body.pop("request_id", None)
    return response.status_code, body


async def _ask(client: httpx.AsyncClient, served: Served, token: str | None, endpoint: str) -> Any:
    method, url, body = served.requests[endpoint]
    headers = matrix_headers(served.tokens, token)
    return await client.request(method, url, headers=headers, content=body)


async def test_concurrent_requests_get_exactly_the_serial_answers(served: Served) -> None:
    serial: dict[tuple[str | None, str], Answer] = {}
    async with httpx.AsyncClient(base_url=served.url) as client:
        for token, expected in MATRIX.items():
            for endpoint in ENDPOINTS:
                response = await _ask(client, served, token, endpoint)
                assert response.status_code == expected[endpoint], (token, endpoint)
                serial[token, endpoint] = _answer(response)
                if response.is_success:
                    assert token is not None
                    _assert_in_scope(token, endpoint, response.json(), served.event_id)

    # Tokens of different scopes are answered differently, so a mix-up would show below.
    scopes = ("provider", "other_provider", "commissioner", "other_commissioner", "admin")
    assert len({orjson.dumps(serial[token, "aggregates"]) for token in scopes}) == len(scopes)

    mix = [pair for pair in serial for _ in range(REPEATS)]
    random.Random(SEED).shuffle(mix)
    limits = httpx.Limits(max_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=served.url, limits=limits, timeout=60) as client:
        responses = await asyncio.gather(
            *(_ask(client, served, token, endpoint) for token, endpoint in mix)
        )
    assert len(mix) >= 200
    mismatched = [
        (pair, response.status_code)
        for pair, response in zip(mix, responses, strict=True)
        if _answer(response) != serial[pair]
    ]
    assert mismatched == []
    request_ids = Counter(response.headers["x-request-id"] for response in responses)
    assert len(request_ids) == len(responses)


CompareDigest = Callable[[bytes, bytes], bool]


def _secret_of(token: str) -> str:
    """``roms_<token id>_<secret>``: the id is hex, the secret may itself hold ``_``."""
    return token.split("_", 2)[2]


async def test_tokens_are_compared_as_digests_in_constant_time(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By construction, not by timing: whatever is wrong with a token (unknown id, wrong
    secret, revoked) or right with it, verification makes exactly one
    :func:`hmac.compare_digest` of two SHA-256 digests, the stored one (a dummy for an
    unknown id) and that of the presented secret; the store keeps only the digest."""
    calls: list[tuple[bytes, bytes]] = []
    real: CompareDigest = hmac.compare_digest

    def spy(stored: bytes, presented: bytes) -> bool:
        calls.append((stored, presented))
        return real(stored, presented)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    async with served.pool.acquire() as connection:
        issued = await create_token(connection, Role.PROVIDER, ["RYG"], label="digest")
        secret = _secret_of(issued.token)
        stored = await connection.fetchval(
            "SELECT secret_sha256 FROM api_clients WHERE token_id = $1", issued.token_id
        )
        assert bytes(stored) == hashlib.sha256(secret.encode()).digest()
        wrong = "A" * len(secret) if secret != "A" * len(secret) else "B" * len(secret)
        cases = {
            "valid": issued.token,
            "wrong secret": f"roms_{issued.token_id}_{wrong}",
            "unknown id": f"roms_{'f' * 16}_{secret}",
            "revoked": served.tokens.by_name["revoked"],
        }
        for case, token in cases.items():
            calls.clear()
            principal = await verify_token(connection, token)
            assert (principal is not None) is (case == "valid"), case
            assert len(calls) == 1, case
            kept, presented = calls[0]
            assert isinstance(kept, bytes), case
            assert (len(kept), len(presented)) == (32, 32), case
            assert presented == hashlib.sha256(_secret_of(token).encode()).digest(), case
