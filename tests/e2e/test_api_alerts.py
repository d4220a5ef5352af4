"""``GET /v1/alerts`` through HTTP against a real PostgreSQL: who reads which alert, with
which figures, and what the filters do.

The alerts are written by the alert store's own writer (:func:`services.alerts.store.save`)
and chosen by hand, so every role and every suppression edge is pinned (the pipeline that
raises them is tested in tests/integration/test_alerts.py). Tokens (api_support): provider
and quality RYG, other_provider RX4, commissioner 05A, other_commissioner 13T, admin.
Providers serving a CCG (``ccg_provider`` aggregates): RYG served 05A in 2019/20 Q1 only;
RX4 served 13T in 2019/20 Q1.

| name       | rule / unit                          | period     | state    | raised |
| ryg_cohort | alarm, RYG looked_after=true, clin.  | 2019/20 Q1 | open     | 10:00  |
| ryg_team   | warning, team RYG/T1, self           | 2019/20 Q1 | resolved | 09:00  |
| ryg_notice | weak_alliance, RYG referral, SRS     | 2019-06-10 | open     | 12:00  |
| rx4        | alarm, RX4, parent                   | 2019/20 Q1 | open     | 08:00  |
| ryg_q2     | alarm, RYG, self                     | 2019/20 Q2 | open     | 13:00  |
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from services.alerts.rules import State
from services.alerts.store import Alert, AlertKey, Figures, save
from services.settings import Settings
from tests.e2e.api_support import (
    Tokens,
    asgi_client,
    close_database,
    fresh_database,
    insert_aggregate,
    issue_tokens,
)

LIMITS: Figures = {"p0": 0.2857, "phi": 1.0, "warning_limit": 0.6, "alarm_limit": 0.679}


def _at(hour: int) -> datetime:
    return datetime(2019, 9, 1, hour, tzinfo=UTC)


def _alert(key: AlertKey, provider: str, state: State, figures: Figures, raised: int) -> Alert:
    resolved = _at(raised + 2) if state == "resolved" else None
    limits = {} if key.referral_id else LIMITS
    return Alert(key, provider, state, figures, limits, 1, _at(raised), resolved)


def _funnel(
    rule: str, level: str, code: str, cohort: str, value: str, p: str, period: str
) -> AlertKey:
    return AlertKey(f"deterioration_{rule}", level, code, cohort, value, "all", p, period)


ALERTS = {
    "ryg_cohort": _alert(
        _funnel("alarm", "provider", "RYG", "looked_after", "true", "clinician", "2019/20 Q1"),
        "RYG",
        "open",
        {"paired_clinician": 12, "deteriorated_clinician": 12, "pct_deteriorated_clinician": 100.0},
        10,
    ),
    "ryg_team": _alert(
        _funnel("warning", "team", "RYG/T1", "all", "all", "self", "2019/20 Q1"),
        "RYG",
        "resolved",
        {"paired_self": 20, "deteriorated_self": 4, "pct_deteriorated_self": 20.0},
        9,
    ),
    "ryg_notice": _alert(
        AlertKey(
            "weak_alliance",
            "referral",
            "RYG",
            "all",
            "all",
            "SRS",
            "self",
            "2019-06-10",
            "REFRYG0040",
        ),
        "RYG",
        "open",
        {"total": 28.0},
        12,
    ),
    "rx4": _alert(
        _funnel("alarm", "provider", "RX4", "all", "all", "parent", "2019/20 Q1"),
        "RX4",
        "open",
        {"paired_parent": 30, "deteriorated_parent": 13, "pct_deteriorated_parent": 43.3},
        8,
    ),
    "ryg_q2": _alert(
        _funnel("alarm", "provider", "RYG", "all", "all", "self", "2019/20 Q2"),
        "RYG",
        "open",
        {"paired_self": 40, "deteriorated_self": 8, "pct_deteriorated_self": 20.0},
        13,
    ),
}
NAMES = {alert.key.text(): name for name, alert in ALERTS.items()}


@dataclass(frozen=True, slots=True)
class Served:
    pool: asyncpg.Pool
    client: httpx.AsyncClient
    tokens: Tokens


@pytest.fixture(scope="module")
async def served(postgres_server: str) -> AsyncIterator[Served]:
    dsn, pool = await fresh_database(postgres_server, "roms_api_alerts")
    try:
        for code in ("05A/RYG", "13T/RX4"):
            await insert_aggregate(pool, level="ccg_provider", code=code, figures={})
        async with pool.acquire() as connection:
            await save(connection, list(ALERTS.values()))
        tokens = await issue_tokens(pool)
        async for client in asgi_client(Settings(database_url=dsn, kafka_bootstrap_servers=None)):
            yield Served(pool, client, tokens)
    finally:
        await close_database(postgres_server, dsn, pool)


async def _get(served: Served, token: str, query: str = "") -> httpx.Response:
    return await served.client.get(f"/v1/alerts{query}", headers=served.tokens.headers(token))


async def _items(served: Served, token: str, query: str = "") -> list[dict[str, Any]]:
    response = await _get(served, token, query)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _names(items: list[dict[str, Any]]) -> list[str]:
    """The table's names of the items, in the order answered."""
    keys = (AlertKey(*(item[field] for field in AlertKey._fields)) for item in items)
    return [NAMES[key.text()] for key in keys]


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        # newest first: 13:00, 12:00, 10:00, 09:00
        ("provider", ["ryg_q2", "ryg_notice", "ryg_cohort", "ryg_team"]),
        ("quality", ["ryg_q2", "ryg_notice", "ryg_cohort", "ryg_team"]),
        ("other_provider", ["rx4"]),
        # RYG served 05A in Q1 only: not ryg_q2; never the notice; not RX4
        ("commissioner", ["ryg_cohort", "ryg_team"]),
        ("other_commissioner", ["rx4"]),
        ("admin", ["ryg_q2", "ryg_notice", "ryg_cohort", "ryg_team", "rx4"]),
    ],
)
async def test_each_role_reads_its_own_alerts(
    served: Served, token: str, expected: list[str]
) -> None:
    assert _names(await _items(served, token)) == expected


@pytest.mark.parametrize("token", ["provider", "quality", "admin"])
async def test_owners_and_admin_read_figures_exactly(served: Served, token: str) -> None:
    for item in await _items(served, token, "?org=RYG"):
        alert = ALERTS[_names([item])[0]]
        assert (item["figures"], item["limits"], item["suppressed"]) == (
            alert.figures,
            alert.limits,
            False,
        )
        assert item["state"] == alert.state
        assert datetime.fromisoformat(item["raised_at"]) == alert.raised_at


async def test_a_commissioner_reads_suppressed_figures(served: Served) -> None:
    items = await _items(served, "commissioner")
    seen = dict(zip(_names(items), items, strict=True))
    # 12 -> 10 (nearest 5), 12 -> 10, 100 * 12/12 = 100 from the unrounded counts
    assert seen["ryg_cohort"]["figures"] == {
        "paired_clinician": 10,
        "deteriorated_clinician": 10,
        "pct_deteriorated_clinician": 100,
    }
    # 20 stays 20; 4 deteriorated -> *; a percentage of numerator 4 -> *
    assert seen["ryg_team"]["figures"] == {
        "paired_self": 20,
        "deteriorated_self": "*",
        "pct_deteriorated_self": "*",
    }
    assert all(item["suppressed"] for item in items)
    # 30 -> 30; 13 -> 15; 100 * 13/30 = 43.33 -> 43 (not 15/30 = 50)
    (rx4,) = await _items(served, "other_commissioner")
    assert rx4["figures"] == {
        "paired_parent": 30,
        "deteriorated_parent": 15,
        "pct_deteriorated_parent": 43,
    }


async def test_a_commissioner_never_reads_a_referral_notice(served: Served) -> None:
    for query in ("", "?period=2019-06-10", "?state=open", "?org=05A&period=2019-06-10"):
        items = await _items(served, "commissioner", query)
        assert all(item["level"] != "referral" and not item["referral_id"] for item in items)


@pytest.mark.parametrize(
    ("token", "query", "expected"),
    [
        ("provider", "?state=open", ["ryg_q2", "ryg_notice", "ryg_cohort"]),
        ("provider", "?state=resolved", ["ryg_team"]),
        ("provider", "?period=2019/20 Q1", ["ryg_cohort", "ryg_team"]),
        ("provider", "?period=2019-06-10", ["ryg_notice"]),
        ("provider", "?period=2019/20", []),
        ("provider", "?org=RYG&state=open&period=2019/20 Q2", ["ryg_q2"]),
        ("commissioner", "?org=05A&state=open", ["ryg_cohort"]),
        ("commissioner", "?period=2019/20 Q2", []),
        ("admin", "?org=05A", ["ryg_cohort", "ryg_team"]),
        ("admin", "?org=RX4", ["rx4"]),
        ("admin", "?org=13T&state=resolved", []),
        ("admin", "?state=resolved", ["ryg_team"]),
    ],
)
async def test_filters(served: Served, token: str, query: str, expected: list[str]) -> None:
    assert _names(await _items(served, token, query)) == expected


async def test_no_bad_or_revoked_token_is_401(served: Served) -> None:
    bad = {"Authorization": "Bearer roms_0123456789abcdef_" + "x" * 43}
    for headers in ({}, bad, served.tokens.headers("revoked")):
        response = await served.client.get("/v1/alerts", headers=headers)
        assert response.status_code == 401
        assert response.json()["error_code"] == "auth.unauthorised"
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("token", "org"),
    [
        ("provider", "RX4"),
        ("provider", "05A"),  # a CCG RYG serves: still not the provider token's organisation
        ("quality", "RX4"),
        ("other_provider", "RYG"),
        ("commissioner", "13T"),
        ("commissioner", "RYG"),  # a provider serving 05A: filter by the CCG instead
        ("other_commissioner", "05A"),
    ],
)
async def test_another_organisation_is_403_whether_or_not_it_has_alerts(
    served: Served, token: str, org: str
) -> None:
    refused = await _get(served, token, f"?org={org}")
    unknown = await _get(served, token, "?org=ZZZ99")
    assert (refused.status_code, unknown.status_code) == (403, 403)
    assert (
        refused.json()
        == unknown.json()
        == {
            "error_code": "auth.forbidden",
            "message": "this token may not access that",
        }
    )


@pytest.mark.parametrize(
    "query",
    [
        "?state=closed",
        "?org=ryg",
        "?org=R",
        "?period=2019 Q1",
        "?period=2019-13",
        "?period=2019-06-32",
    ],
)
async def test_bad_filter_values_are_422_and_name_the_parameter(served: Served, query: str) -> None:
    response = await _get(served, "admin", query)
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["query", query[1:].split("=")[0]]


INJECTIONS = (
    "' OR '1'='1",
    "RYG' OR 1=1 --",
    "05A'; DROP TABLE alerts; --",
    "2019/20 Q1' UNION SELECT * FROM api_clients --",
    "RYG\x00",
)


@pytest.mark.parametrize("parameter", ["state", "org", "period"])
@pytest.mark.parametrize("token", ["provider", "commissioner", "admin"])
async def test_sql_injection_strings_are_refused_and_harmless(
    served: Served, parameter: str, token: str
) -> None:
    for injection in INJECTIONS:
        response = await served.client.get(
            "/v1/alerts", params={parameter: injection}, headers=served.tokens.headers(token)
        )
        assert response.status_code == 422, (injection, response.text)
    assert await served.pool.fetchval("SELECT count(*) FROM alerts") == len(ALERTS)
    assert _names(await _items(served, "provider", "?org=RYG"))[0] == "ryg_q2"


async def test_a_commissioner_reads_an_alert_resolved_for_want_of_data(served: Served) -> None:
    # Resolved because the unit's data went (evaluate stores {paired_self: 0}): 0 shows 0.
    key = _funnel("alarm", "provider", "RYG", "all", "all", "self", "2019/20 Q3")
    async with served.pool.acquire() as connection:
        await save(connection, [_alert(key, "RYG", "resolved", {"paired_self": 0}, 14)])
    await insert_aggregate(
        served.pool, level="ccg_provider", code="05A/RYG", figures={}, period="2019/20 Q3"
    )
    try:
        (item,) = await _items(served, "commissioner", "?period=2019/20 Q3")
        assert item["figures"] == {"paired_self": 0}
    finally:
        await served.pool.execute("DELETE FROM alerts WHERE period = '2019/20 Q3'")
        await served.pool.execute("DELETE FROM aggregates WHERE period = '2019/20 Q3'")
