"""Access control through HTTP against a real PostgreSQL loaded by the real pipeline.

The role × endpoint matrix (401/403/200), scope of every read (filters, period ranges,
pagination, cursors, CSV), a provider's own referral, and the 503 of a database that is down.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from scoring.published import derive
from services.runtime import free_port
from services.settings import Settings
from tests.e2e.access_matrix import MATRIX, REPORT, matrix_headers, matrix_requests
from tests.e2e.api_support import (
    Tokens,
    asgi_client,
    close_database,
    codes_of,
    fresh_database,
    issue_tokens,
    load_cohort,
)


@dataclass(frozen=True, slots=True)
class Loaded:
    pool: asyncpg.Pool
    client: httpx.AsyncClient
    tokens: Tokens
    referral_id: str
    """A referral of RYG (the provider token's organisation)."""
    stored_event: bytes
    """An event of RYG already in the store: posting it is a duplicate, so no broker needed."""


@pytest.fixture(scope="module")
async def loaded(postgres_server: str) -> AsyncIterator[Loaded]:
    dsn, pool = await fresh_database(postgres_server, "roms_api")
    try:
        await load_cohort(pool, referrals=60, seed=5)
        tokens = await issue_tokens(pool)
        row = await pool.fetchrow(
            "SELECT e.referral_id, e.body FROM events e JOIN referral_outcomes o USING"
            " (provider_code, referral_id) WHERE e.provider_code = 'RYG' LIMIT 1"
        )
        assert row is not None
        settings = Settings(database_url=dsn, kafka_bootstrap_servers=None)
        async for client in asgi_client(settings):
            yield Loaded(pool, client, tokens, row["referral_id"], orjson.dumps(row["body"]))
    finally:
        await close_database(postgres_server, dsn, pool)


@pytest.mark.parametrize("token", list(MATRIX))
async def test_role_endpoint_matrix(loaded: Loaded, token: str | None) -> None:
    headers = matrix_headers(loaded.tokens, token)
    requests = matrix_requests(loaded.referral_id, loaded.stored_event)
    for endpoint, (method, url, body) in requests.items():
        response = await loaded.client.request(method, url, headers=headers, content=body)
        assert response.status_code == MATRIX[token][endpoint], (endpoint, response.text)
        if response.status_code in {401, 403} and endpoint != "post":
            assert response.json()["error_code"].startswith("auth.")
        if response.status_code == 401:
            assert response.headers["www-authenticate"] == "Bearer"


async def test_a_posted_event_already_stored_is_answered_as_a_duplicate(loaded: Loaded) -> None:
    response = await loaded.client.post(
        "/v1/events", content=loaded.stored_event, headers=loaded.tokens.headers("provider")
    )
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (0, 1)
    assert body["results"][0]["status"] == "duplicate"


async def test_a_provider_cannot_post_another_providers_event(loaded: Loaded) -> None:
    response = await loaded.client.post(
        "/v1/events", content=loaded.stored_event, headers=loaded.tokens.headers("other_provider")
    )
    assert response.status_code == 403
    event = orjson.loads(loaded.stored_event)
    event["provider_code"] = "RX4"  # now theirs: same bytes otherwise, so a stored duplicate
    mixed = orjson.dumps([orjson.loads(loaded.stored_event), event])
    response = await loaded.client.post(
        "/v1/events", content=mixed, headers=loaded.tokens.headers("other_provider")
    )
    # RYG's event is forbidden; RX4's copy has the same event_id, already stored: duplicate.
    assert response.status_code == 207
    statuses = [result["status"] for result in response.json()["results"]]
    assert statuses == ["forbidden", "duplicate"]
    assert response.json()["results"][0]["problems"][0]["error_code"] == "auth.forbidden_provider"


async def _all_pages(client: httpx.AsyncClient, headers: dict[str, str], query: str) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        response = await client.get(f"/v1/aggregates?{query}{suffix}", headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _commissioner_may_see(level: str, code: str) -> bool:
    return (
        (level == "national" and code == "ENG")
        or (level == "ccg" and code == "05A")
        or (level == "ccg_provider" and code.startswith("05A/"))
    )


async def test_a_commissioner_reads_only_its_ccg_suppressed_across_pages(loaded: Loaded) -> None:
    headers = loaded.tokens.headers("commissioner")
    items = await _all_pages(loaded.client, headers, "limit=7&cohort=all&period_kind=quarter")
    levels = {level for level, _ in codes_of(items)}
    assert levels == {"national", "ccg", "ccg_provider"}
    assert all(_commissioner_may_see(level, code) for level, code in codes_of(items))
    stored = await loaded.pool.fetchval(
        "SELECT count(*) FROM aggregates WHERE method = 'default' AND cohort = 'all'"
        " AND period_kind = 'quarter' AND (level = 'national' OR (level = 'ccg' AND code ="
        " '05A') OR (level = 'ccg_provider' AND code LIKE '05A/%'))"
    )
    assert len(items) == stored  # every page together: all of its rows, each once
    for item in items:
        counts = [item["figures"]["closed_referrals"], item["figures"]["paired_self"]]
        if item["level"] == "national":
            assert item["suppressed"] is False
        else:
            assert item["suppressed"] is True
            assert all(c == "*" or c % 5 == 0 for c in counts), item


@pytest.mark.parametrize(
    "query",
    [
        "code=13T",
        "level=ccg&code=13T",
        "level=ccg_provider&code=13T/RX4",
        "level=provider",
        "level=team",
        "code=RYG",
        "level=national&code=13T",
    ],
)
async def test_a_commissioner_asking_outside_its_ccg_is_refused(loaded: Loaded, query: str) -> None:
    response = await loaded.client.get(
        f"/v1/aggregates?{query}", headers=loaded.tokens.headers("commissioner")
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "query",
    [
        "period_from=2019-04&period_to=2020-12",
        "period_from=2019/20 Q1&period_to=2020/21 Q4&level=ccg_provider",
        "period_from=2019/20&period_to=2019/20&level=ccg",
        "period_from=2000-01",
        "period_to=2100/01",
    ],
)
async def test_period_ranges_stay_inside_the_ccg(loaded: Loaded, query: str) -> None:
    items = await _all_pages(
        loaded.client, loaded.tokens.headers("commissioner"), f"{query}&limit=50"
    )
    assert items
    assert all(_commissioner_may_see(level, code) for level, code in codes_of(items))


async def test_a_forged_cursor_cannot_leave_the_ccg(loaded: Loaded) -> None:
    forged = base64.urlsafe_b64encode(orjson.dumps(["ccg", "", "", "", ""])).decode()
    items = await _all_pages(
        loaded.client, loaded.tokens.headers("commissioner"), f"limit=1000&cursor={forged}"
    )
    assert items
    assert all(_commissioner_may_see(level, code) for level, code in codes_of(items))
    response = await loaded.client.get(
        "/v1/aggregates?cursor=bm90IGEgY3Vyc29y", headers=loaded.tokens.headers("commissioner")
    )
    assert response.status_code == 400


async def test_a_provider_reads_its_own_figures_unsuppressed(loaded: Loaded) -> None:
    items = await _all_pages(
        loaded.client, loaded.tokens.headers("provider"), "limit=500&period_kind=year&detail=all"
    )
    for level, code in codes_of(items):
        assert (
            (level == "national")
            or (level == "provider" and code == "RYG")
            or (level == "team" and code.startswith("RYG/"))
            or (level == "ccg_provider" and code.endswith("/RYG"))
        ), (level, code)
    assert {"provider", "team", "ccg_provider"} <= {level for level, _ in codes_of(items)}
    stored = {
        (row["level"], row["code"], row["period"], row["cohort"], row["cohort_value"]): derive(
            row["counters"]
        )
        for row in await loaded.pool.fetch(
            "SELECT * FROM aggregates WHERE method = 'default' AND period_kind = 'year'"
        )
    }
    for item in items:
        key = (item["level"], item["code"], item["period"], item["cohort"], item["cohort_value"])
        assert item["figures"] == stored[key]
        assert item["suppressed"] is False
    headline = await _all_pages(
        loaded.client, loaded.tokens.headers("provider"), "limit=500&period_kind=year"
    )
    assert len(headline) == len(items)
    for item in headline:
        key = (item["level"], item["code"], item["period"], item["cohort"], item["cohort_value"])
        assert item["figures"] == {k: v for k, v in stored[key].items() if "." not in k}


async def test_the_measure_and_perspective_filters_select_figures(loaded: Loaded) -> None:
    response = await loaded.client.get(
        "/v1/aggregates?level=provider&code=RYG&cohort=all&period_kind=year&measure=SDQ"
        "&perspective=parent",
        headers=loaded.tokens.headers("provider"),
    )
    figures = response.json()["items"][0]["figures"]
    assert figures
    assert all(name.startswith("SDQ.parent.") for name in figures)
    response = await loaded.client.get(
        "/v1/aggregates?level=provider&code=RYG&cohort=all&period_kind=year&perspective=self",
        headers=loaded.tokens.headers("provider"),
    )
    figures = response.json()["items"][0]["figures"]
    assert {"paired_self", "pct_improved_self"} <= set(figures)
    assert "paired_parent" not in figures
    assert all(name.endswith("_self") or ".self." in name for name in figures)


def _as_cell(value: Any) -> str:
    """How a JSON figure reads in CSV: null empty, ``*`` as is, 12.0 as 12."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


async def test_a_report_in_csv_equals_the_json_and_stays_in_scope(loaded: Loaded) -> None:
    headers = loaded.tokens.headers("commissioner")
    as_json = (await loaded.client.get(REPORT, headers=headers)).json()
    by_accept = await loaded.client.get(REPORT, headers={**headers, "Accept": "text/csv"})
    by_format = await loaded.client.get(f"{REPORT}&format=csv", headers=headers)
    assert by_accept.text == by_format.text
    assert by_accept.headers["content-type"].startswith("text/csv")
    lines = [line.split(",") for line in by_accept.text.splitlines()]
    assert lines[0] == as_json["headers"]
    assert len(lines) - 1 == len(as_json["rows"]) > 0
    for cells, row in zip(lines[1:], as_json["rows"], strict=True):
        values = [row["figures"][column] for column in as_json["columns"]]
        expected = [
            "" if v is None else str(int(v) if v == int(v) else v) if v != "*" else "*"
            for v in values
        ]
        assert cells == [row["quarter"], row["provider"], *expected]
    assert {row["provider"] for row in as_json["rows"]} >= {"all providers", "RYG"}
    assert as_json["suppressed"] is True
    other = loaded.tokens.headers("other_commissioner")
    for url in (f"{REPORT}&format=csv", REPORT):
        assert (await loaded.client.get(url, headers=other)).status_code == 403


async def test_a_provider_report_holds_its_own_rows_only(loaded: Loaded) -> None:
    report = (await loaded.client.get(REPORT, headers=loaded.tokens.headers("provider"))).json()
    assert report["rows"]
    assert {row["provider"] for row in report["rows"]} == {"RYG"}
    assert report["suppressed"] is False
    refused = await loaded.client.get(
        f"{REPORT}&provider=RXT", headers=loaded.tokens.headers("provider")
    )
    assert refused.status_code == 403


async def test_a_provider_reads_its_referral_and_no_other(loaded: Loaded) -> None:
    own = await loaded.client.get(
        f"/v1/referrals/{loaded.referral_id}/outcomes", headers=loaded.tokens.headers("provider")
    )
    assert own.status_code == 200
    body = own.json()
    assert (body["provider_code"], body["referral_id"]) == ("RYG", loaded.referral_id)
    assert (body["profile"]["ccg_code"] and "measures" in body["outcome"]) or body["outcome"]
    # RX4 asking for RYG's referral id under its own code: as if it did not exist.
    other = await loaded.client.get(
        f"/v1/referrals/{loaded.referral_id}/outcomes",
        headers=loaded.tokens.headers("other_provider"),
    )
    assert other.status_code == 404
    assert other.json()["error_code"] == "referral.not_found"


async def test_a_database_that_is_down_answers_503_in_json() -> None:
    settings = Settings(database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    async for client in asgi_client(settings):
        for url in ("/healthz", "/v1/aggregates", REPORT):
            response = await client.get(url, headers={"Authorization": "Bearer x"})
            assert response.status_code == 503
            assert response.json()["error_code"] == "service.database_unavailable"
