"""PostgreSQL goes away under the running API: it answers 503 with its documented JSON error
(no stack trace, no hang) while the database is down, and 200 again once it is back.

The test owns its PostgreSQL (a private :class:`EmbeddedPostgres`), pauses it after the API
has served from it (so the API's pool holds connections the server then cuts), and resumes
it on the same data directory and port. The API is the real app on a real uvicorn socket;
its posts are events already stored (duplicates: 202, nothing produced), so no broker is
involved.
"""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from services.runtime import EmbeddedPostgres
from services.settings import Settings
from tests.e2e.access_matrix import REPORT
from tests.e2e.api_support import fresh_database, issue_tokens, load_cohort, uvicorn_server

pytestmark = pytest.mark.reliability

UNAVAILABLE = {
    "error_code": "service.database_unavailable",
    "message": "the database is unavailable; try again shortly",
}
"""The 503 body documented in openapi.json (``ErrorBody``) and README (HTTP API)."""
REQUESTS_PER_ROUND = 3
"""Each endpoint is asked this many times while down: fresh and reused pool slots alike."""


async def _answers(
    client: httpx.AsyncClient, headers: dict[str, str], event: bytes
) -> dict[str, httpx.Response]:
    """One answer from each endpoint the issue names, and the health check."""
    return {
        "aggregates": await client.get("/v1/aggregates?limit=5", headers=headers),
        "report": await client.get(REPORT, headers=headers),
        "post": await client.post("/v1/events", content=event, headers=headers),
        "healthz": await client.get("/healthz"),
    }


def _assert_healthy(answers: dict[str, httpx.Response]) -> None:
    for name, response in answers.items():
        assert response.status_code == (202 if name == "post" else 200), (name, response.text)
    assert answers["healthz"].json() == {"status": "ok", "database": "ok"}
    assert answers["aggregates"].json()["items"]
    assert answers["post"].json()["duplicates"] == 1


async def test_the_api_answers_503_while_the_database_is_down_and_recovers(
    own_postgres: EmbeddedPostgres,
) -> None:
    dsn, pool = await fresh_database(own_postgres.server_dsn, "roms_api_outage")
    try:
        await load_cohort(pool, referrals=20, seed=12)
        tokens = await issue_tokens(pool)
        event = await pool.fetchval("SELECT body FROM events WHERE provider_code = 'RYG' LIMIT 1")
        assert event is not None
    finally:
        await pool.close()  # the server is deleted with its data directory afterwards
    headers = tokens.headers("provider")
    settings = Settings(database_url=dsn, kafka_bootstrap_servers=None)
    async with uvicorn_server(settings) as url, httpx.AsyncClient(base_url=url) as client:
        _assert_healthy(await _answers(client, headers, orjson.dumps(event)))

        await asyncio.to_thread(own_postgres.pause)
        try:
            for _ in range(REQUESTS_PER_ROUND):
                answers = await _answers(client, headers, orjson.dumps(event))
                for name, response in answers.items():
                    assert response.status_code == 503, (name, response.text)
                    assert response.headers["content-type"] == "application/json"
                    assert response.json() == UNAVAILABLE, name
                    assert response.headers["retry-after"] == "5"
                    assert "Traceback" not in response.text
        finally:
            await asyncio.to_thread(own_postgres.resume)

        # The first requests after the database returns are served: the API reconnects
        # by itself, with no restart and no stale connection answering for it.
        _assert_healthy(await _answers(client, headers, orjson.dumps(event)))
        metrics = (await client.get("/metrics")).text
    route = 'route="/v1/aggregates",status="503"'
    assert f'roms_api_requests_total{{method="GET",{route}}} {REQUESTS_PER_ROUND}.0' in metrics
