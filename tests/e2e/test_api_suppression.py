"""Suppression at its edges through the API (outcomes.md §5), on rows written by hand.

N1: a count of 1–4 shows ``*``, any other is rounded to the nearest 5 (0 stays 0); a
percentage is ``*`` when its numerator is 1–4, else 100·numerator/denominator from the
*unrounded* counts, to a whole number, half up; the national level is exempt. Providers see
their own rows unsuppressed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.settings import Settings
from tests.e2e.api_support import (
    Tokens,
    asgi_client,
    close_database,
    fresh_database,
    insert_aggregate,
    issue_tokens,
)


@dataclass(frozen=True, slots=True)
class Edges:
    client: httpx.AsyncClient
    tokens: Tokens


def _figures(closed: int, paired: int, pct: float) -> dict[str, Any]:
    return {"closed_referrals": closed, "paired_self": paired, "pct_paired_self": pct}


# (level, code, period, period kind) -> stored exact figures (pct as the store keeps it).
ROWS = {
    ("ccg", "05A", "2019/20 Q1", "quarter"): _figures(4, 0, 0.0),
    ("ccg", "05A", "2019/20 Q2", "quarter"): _figures(5, 5, 100.0),
    ("ccg", "05A", "2019/20 Q3", "quarter"): _figures(7, 4, 57.1),
    ("ccg", "05A", "2019/20 Q4", "quarter"): _figures(8, 5, 62.5),
    ("ccg", "05A", "2019/20", "year"): _figures(20, 5, 25.0),
    ("ccg_provider", "05A/RYG", "2019/20", "year"): _figures(20, 4, 20.0),
    ("national", "ENG", "2019/20", "year"): _figures(4, 4, 100.0),
}


@pytest.fixture(scope="module")
async def edges(postgres_server: str) -> AsyncIterator[Edges]:
    dsn, pool = await fresh_database(postgres_server, "roms_api_sup")
    try:
        for (level, code, period, kind), figures in ROWS.items():
            await insert_aggregate(
                pool, level=level, code=code, period=period, period_kind=kind, figures=figures
            )
        tokens = await issue_tokens(pool)
        async for client in asgi_client(Settings(database_url=dsn)):
            yield Edges(client, tokens)
    finally:
        await close_database(postgres_server, dsn, pool)


async def _figures_seen(edges: Edges, token: str, query: str) -> dict[str, Any]:
    response = await edges.client.get(
        f"/v1/aggregates?{query}", headers=edges.tokens.headers(token)
    )
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]
    figures: dict[str, Any] = item["figures"]
    return figures


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # closed 4 -> *; paired 0 -> 0; pct of numerator 0 -> 0
        ("level=ccg&code=05A&period=2019/20 Q1", _figures(4, 0, 0) | {"closed_referrals": "*"}),
        # closed 5 -> 5; paired 5 -> 5; 5/5 = 100%
        (
            "level=ccg&code=05A&period=2019/20 Q2",
            {"closed_referrals": 5, "paired_self": 5, "pct_paired_self": 100},
        ),
        # closed 7 -> 5 (nearest 5); paired 4 -> *; pct numerator 4 -> *
        (
            "level=ccg&code=05A&period=2019/20 Q3",
            {"closed_referrals": 5, "paired_self": "*", "pct_paired_self": "*"},
        ),
        # closed 8 -> 10; paired 5 -> 5; 100*5/8 = 62.5 -> 63 from unrounded counts (not 5/10)
        (
            "level=ccg&code=05A&period=2019/20 Q4",
            {"closed_referrals": 10, "paired_self": 5, "pct_paired_self": 63},
        ),
        # numerator 5 of 20: 25%
        (
            "level=ccg&code=05A&period=2019/20",
            {"closed_referrals": 20, "paired_self": 5, "pct_paired_self": 25},
        ),
        # numerator 4 of 20: *
        (
            "level=ccg_provider&code=05A/RYG&period=2019/20",
            {"closed_referrals": 20, "paired_self": "*", "pct_paired_self": "*"},
        ),
        # national: exempt, exactly as stored
        ("level=national&code=ENG&period=2019/20", _figures(4, 4, 100.0)),
    ],
)
async def test_a_commissioner_sees_n1_suppression(
    edges: Edges, query: str, expected: dict[str, Any]
) -> None:
    assert await _figures_seen(edges, "commissioner", query) == expected


async def test_the_provider_sees_its_own_row_exactly(edges: Edges) -> None:
    seen = await _figures_seen(edges, "provider", "level=ccg_provider&code=05A/RYG")
    assert seen == _figures(20, 4, 20.0)


async def test_the_report_csv_carries_the_same_suppression(edges: Edges) -> None:
    response = await edges.client.get(
        "/v1/reports/outcomes?ccg=05A&year=2019/20&format=csv",
        headers=edges.tokens.headers("commissioner"),
    )
    rows = [line.split(",") for line in response.text.splitlines()[1:]]
    # quarter, unit, closed, paired self/parent/clinician, % improved self/parent/clinician
    assert [row[:4] for row in rows] == [
        ["2019/20 Q1", "all providers", "*", "0"],
        ["2019/20 Q2", "all providers", "5", "5"],
        ["2019/20 Q3", "all providers", "5", "*"],
        ["2019/20 Q4", "all providers", "10", "5"],
    ]
