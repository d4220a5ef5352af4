"""The API on a real uvicorn socket: the saved OpenAPI document, SQL injection in every
parameter, metrics, the CLI report, and schemathesis against the saved document.

Regenerate the saved document after changing the API: ``.venv/bin/python -m
services.api.openapi``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from services.api.openapi import SAVED, document, serialise
from services.runtime import create_topics
from services.settings import Settings
from tests.e2e.api_support import (
    Tokens,
    close_database,
    fresh_database,
    issue_tokens,
    load_cohort,
    uvicorn_server,
)
from topics.registry import TOPICS

INJECTIONS = (
    "05A' OR '1'='1",
    "'; DROP TABLE aggregates; --",
    "05A/%",
    "%",
    "1) OR (1=1",
    '" OR ""="',
    "05A\x00",
    "$1",
)
SCHEMATHESIS_EXAMPLES = 25


@dataclass(frozen=True, slots=True)
class Served:
    url: str
    dsn: str
    pool: asyncpg.Pool
    tokens: Tokens
    referral_id: str


@pytest.fixture(scope="module")
async def served(postgres_server: str, kafka_bootstrap: str) -> AsyncIterator[Served]:
    dsn, pool = await fresh_database(postgres_server, "roms_api_http")
    namespace = f"api_http_{uuid.uuid4().hex[:8]}."
    await create_topics(
        kafka_bootstrap, {namespace + spec.name: spec.partitions for spec in TOPICS.values()}
    )
    settings = Settings(
        database_url=dsn, kafka_bootstrap_servers=kafka_bootstrap, topic_namespace=namespace
    )
    try:
        await load_cohort(pool, referrals=30, seed=9)
        tokens = await issue_tokens(pool)
        referral_id = await pool.fetchval(
            "SELECT referral_id FROM referral_outcomes WHERE provider_code = 'RYG' LIMIT 1"
        )
        async with uvicorn_server(settings) as url:
            yield Served(url, dsn, pool, tokens, referral_id)
    finally:
        await close_database(postgres_server, dsn, pool)


async def test_the_saved_openapi_document_is_what_the_app_serves(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        served_document = (await client.get("/openapi.json")).json()
    assert served_document == document()
    assert SAVED.read_bytes() == serialise(served_document), (
        "openapi.json is stale: run .venv/bin/python -m services.api.openapi"
    )


async def test_health_and_metrics_over_a_real_socket(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        health = await client.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok", "database": "ok"})
        await client.get("/v1/aggregates", headers=served.tokens.headers("admin"))
        metrics = (await client.get("/metrics")).text
    assert 'roms_api_requests_total{method="GET",route="/v1/aggregates",status="200"}' in metrics
    assert "roms_api_request_seconds_bucket" in metrics


def _injection_requests(referral_id: str) -> list[tuple[str, str, dict[str, str]]]:
    aggregate_params = [
        "level",
        "code",
        "period",
        "period_from",
        "period_to",
        "period_kind",
        "cohort",
        "cohort_value",
        "method",
        "measure",
        "perspective",
        "limit",
        "cursor",
    ]
    requests = [
        ("GET", "/v1/aggregates", {name: value})
        for name in aggregate_params
        for value in INJECTIONS
    ]
    requests += [
        ("GET", "/v1/reports/outcomes", {"ccg": "05A", "year": "2019/20", name: value})
        for name in ("ccg", "year", "provider", "method", "format")
        for value in INJECTIONS
    ]
    requests += [
        ("GET", f"/v1/referrals/{referral_id}/outcomes", {name: value})
        for name in ("provider", "method")
        for value in INJECTIONS
    ]
    requests += [
        ("GET", f"/v1/referrals/{quote(value, safe='')}/outcomes", {}) for value in INJECTIONS
    ]
    return requests


@pytest.mark.parametrize("token", ["commissioner", "provider", "admin"])
async def test_sql_injection_in_every_parameter_is_rejected_or_harmless(
    served: Served, token: str
) -> None:
    before = await served.pool.fetchval("SELECT count(*) FROM aggregates")
    async with httpx.AsyncClient(base_url=served.url) as client:
        for method, path, params in _injection_requests(served.referral_id):
            response = await client.request(
                method, path, params=params, headers=served.tokens.headers(token)
            )
            assert response.status_code in {200, 400, 403, 404, 422}, (path, params)
            if response.status_code == 200 and path == "/v1/aggregates":
                assert response.json()["items"] == [], params  # only cohort_value is free text
        for value in filter(str.isprintable, INJECTIONS):  # a NUL cannot be a header
            response = await client.get(
                "/v1/aggregates", headers={"Authorization": f"Bearer {value}"}
            )
            assert response.status_code == 401
    assert await served.pool.fetchval("SELECT count(*) FROM aggregates") == before
    assert await served.pool.fetchval("SELECT count(*) FROM api_clients") == len(served.tokens.ids)


async def test_the_cli_report_prints_what_the_endpoint_serves(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        endpoint = await client.get(
            "/v1/reports/outcomes?ccg=05A&year=2019/20&format=csv",
            headers=served.tokens.headers("commissioner"),
        )
    command = [sys.executable, "-m", "services.cli", "report", "--ccg", "05A"]
    environment = {**os.environ, "DATABASE_URL": served.dsn}
    printed = await asyncio.to_thread(
        subprocess.run,
        [*command, "--year", "2019/20", "--format", "csv"],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert printed.stdout == endpoint.text
    assert len(printed.stdout.splitlines()) > 1
    as_json = await asyncio.to_thread(
        subprocess.run,
        [*command, "--year", "2019/20", "--format", "json"],
        env=environment,
        capture_output=True,
        check=True,
    )
    assert orjson.loads(as_json.stdout)["suppressed"] is True


def _schemathesis_finds_no_server_error(url: str, headers: dict[str, str]) -> None:
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.result import Ok

    schema = schemathesis.openapi.from_dict(orjson.loads(SAVED.read_bytes()))
    for result in schema.get_all_operations():
        assert isinstance(result, Ok)
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=SCHEMATHESIS_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def call(case: Any) -> None:
            case.call_and_validate(base_url=url, headers=headers, checks=[not_a_server_error])

        call()


@pytest.mark.parametrize("token", ["commissioner", "provider"])
async def test_schemathesis_finds_no_server_error(served: Served, token: str) -> None:
    pytest.importorskip("schemathesis", reason="dev dependency schemathesis not installed")
    await asyncio.to_thread(
        _schemathesis_finds_no_server_error, served.url, served.tokens.headers(token)
    )


async def test_cli_tokens_are_printed_once_stored_hashed_and_revocable(served: Served) -> None:
    environment = {**os.environ, "DATABASE_URL": served.dsn}

    def outcomes(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *arguments],
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )

    created = await asyncio.to_thread(
        outcomes, "token", "create", "--role", "commissioner", "--org", "05A", "--org", "99C"
    )
    assert created.returncode == 0, created.stderr
    lines = dict(line.split(":", 1) for line in created.stdout.splitlines())
    token_id, token = lines["token id"].strip(), lines["token"].strip()
    stored = await served.pool.fetchrow("SELECT * FROM api_clients WHERE token_id = $1", token_id)
    assert stored["role"] == "commissioner"
    assert sorted(stored["orgs"]) == ["05A", "99C"]
    assert token.encode() not in orjson.dumps(dict(stored.items()), default=str)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=served.url) as client:
        assert (await client.get("/v1/aggregates?level=ccg&code=99C", headers=headers)).is_success
        revoked = await asyncio.to_thread(outcomes, "token", "revoke", token_id)
        assert revoked.returncode == 0, revoked.stderr
        assert (await client.get("/v1/aggregates", headers=headers)).status_code == 401
    assert (await asyncio.to_thread(outcomes, "token", "revoke", token_id)).returncode == 1
    refused = await asyncio.to_thread(outcomes, "token", "create", "--role", "provider")
    assert refused.returncode != 0
