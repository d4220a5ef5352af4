"""Which figures ``GET /v1/aggregates`` publishes (``detail``, ``measure``, ``perspective``),
suppressed exactly per outcomes.md §5, on a row written by hand with expectations worked out
by hand.

The row (a CCG quarter): 8 closed referrals, 5 paired, 5 paired by self-report of which 4
improved; SDQ parent-report 7 pairs (mean change -21 / 7 = -3), RCADS self-report 4 pairs
(-6 / 4 = -1.5). A commissioner sees counts
rounded to 5 (1-4 as ``*``) and percentages from the unrounded counts: 5/8 = 62.5% -> 63,
not 5/10; a statistic of fewer than 5 pairs as ``*``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from scoring.published import derive, headline
from services.api.published import VERSION_COLUMNS, PublishedCache, view_of
from services.api.read import published_items
from services.settings import Settings
from tests.e2e.api_support import (
    Tokens,
    asgi_client,
    close_database,
    fresh_database,
    insert_aggregate,
    issue_tokens,
)

COUNTERS = {
    "closed_referrals": 8.0,
    "paired": 5.0,
    "paired_self": 5.0,
    "improved_self": 4.0,
    **{f"SDQ.parent.{name}": value for name, value in (("n_paired", 7.0), ("sum_change", -21.0))},
    **{f"RCADS.self.{name}": value for name, value in (("n_paired", 4.0), ("sum_change", -6.0))},
}
"""The row's counters; everything below is worked out by hand from them."""
HEADLINE = {
    "closed_referrals": 8,
    "paired": 5,
    "pct_paired": 62.5,
    "paired_self": 5,
    "pct_paired_self": 62.5,
    "improved_self": 4,
    "pct_improved_self": 80.0,
}
SDQ = {"SDQ.parent.n_paired": 7, "SDQ.parent.mean_change": -3.0}
RCADS = {"RCADS.self.n_paired": 4, "RCADS.self.mean_change": -1.5}

SHOWN_HEADLINE = {
    "closed_referrals": 10,
    "paired": 5,
    "pct_paired": 63,
    "paired_self": 5,
    "pct_paired_self": 63,
    "improved_self": "*",
    "pct_improved_self": "*",
}
SHOWN_SDQ = {"SDQ.parent.n_paired": 5, "SDQ.parent.mean_change": -3.0}
SHOWN_RCADS = {"RCADS.self.n_paired": "*", "RCADS.self.mean_change": "*"}
SHOWN_SELF = {k: v for k, v in SHOWN_HEADLINE.items() if k.endswith("_self")}
CCG_ROW = "level=ccg&code=05A&period=2019/20 Q1"

EVERY_NAME = list(derive(COUNTERS))
"""Every figure of the row, in published order."""
SCOPES: dict[str, Callable[[str], bool]] = {
    "headline": lambda name: "." not in name,
    "headline self": lambda name: "." not in name and name.endswith("_self"),
    "headline parent": lambda name: "." not in name and name.endswith("_parent"),
    "SDQ": lambda name: name.startswith("SDQ.parent."),
    "RCADS": lambda name: name.startswith("RCADS.self."),
}
"""Which names each scope holds: the headline has no dot, a measure × informant is a prefix."""


def assert_shows(shown: dict[str, Any], scopes: set[str], values: dict[str, Any]) -> None:
    """``shown`` has exactly the names of ``scopes``, in order, with ``values`` among them."""
    assert list(shown) == [n for n in EVERY_NAME if any(SCOPES[s](n) for s in scopes)]
    assert {name: shown[name] for name in values} == values


@dataclass(frozen=True, slots=True)
class Stored:
    pool: asyncpg.Pool
    client: httpx.AsyncClient
    tokens: Tokens


@pytest.fixture(scope="module")
async def stored(postgres_server: str) -> AsyncIterator[Stored]:
    dsn, pool = await fresh_database(postgres_server, "roms_api_detail")
    try:
        for level, code in (("ccg", "05A"), ("ccg_provider", "05A/RYG"), ("national", "ENG")):
            await insert_aggregate(
                pool, level=level, code=code, figures=headline(COUNTERS), counters=COUNTERS
            )
        await insert_aggregate(
            pool,
            level="ccg_provider",
            code="05A/RX4",
            figures=headline(COUNTERS),
            counters=COUNTERS,
        )
        tokens = await issue_tokens(pool)
        async for client in asgi_client(Settings(database_url=dsn)):
            yield Stored(pool, client, tokens)
    finally:
        await close_database(postgres_server, dsn, pool)


async def _figures(stored: Stored, token: str, query: str) -> dict[str, Any]:
    response = await stored.client.get(
        f"/v1/aggregates?{query}", headers=stored.tokens.headers(token)
    )
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]
    figures: dict[str, Any] = item["figures"]
    return figures


@pytest.mark.parametrize(
    ("selection", "scopes", "expected"),
    [
        ("", {"headline"}, SHOWN_HEADLINE),
        ("&detail=headline", {"headline"}, SHOWN_HEADLINE),
        ("&detail=all", {"headline", "SDQ", "RCADS"}, SHOWN_HEADLINE | SHOWN_SDQ | SHOWN_RCADS),
        ("&measure=RCADS", {"RCADS"}, SHOWN_RCADS),
        ("&measure=SDQ&detail=all", {"SDQ"}, SHOWN_SDQ),
        ("&measure=SDQ&perspective=self", set(), {}),
        # pct_paired_self is worked out from closed_referrals, which is not selected: 63
        ("&perspective=self", {"headline self", "RCADS"}, SHOWN_SELF | SHOWN_RCADS),
        ("&perspective=self&detail=headline", {"headline self"}, SHOWN_SELF),
    ],
)
async def test_a_commissioner_sees_the_selected_figures_suppressed(
    stored: Stored, selection: str, scopes: set[str], expected: dict[str, Any]
) -> None:
    assert_shows(await _figures(stored, "commissioner", CCG_ROW + selection), scopes, expected)


@pytest.mark.parametrize(
    ("token", "query", "scopes", "expected"),
    [
        ("provider", "level=ccg_provider&code=05A/RYG", {"headline"}, HEADLINE),
        (
            "provider",
            "level=ccg_provider&code=05A/RYG&detail=all",
            {"headline", "SDQ", "RCADS"},
            HEADLINE | SDQ | RCADS,
        ),
        (
            "provider",
            "level=ccg_provider&code=05A/RYG&perspective=parent",
            {"headline parent", "SDQ"},
            SDQ | {"paired_parent": 0, "pct_paired_parent": 0.0},
        ),
        ("commissioner", "level=national&code=ENG", {"headline"}, HEADLINE),  # national: exempt
        (
            "commissioner",
            "level=national&code=ENG&detail=all",
            {"headline", "SDQ", "RCADS"},
            HEADLINE | SDQ | RCADS,
        ),
    ],
)
async def test_unsuppressed_readers_see_the_exact_figures(
    stored: Stored, token: str, query: str, scopes: set[str], expected: dict[str, Any]
) -> None:
    assert_shows(await _figures(stored, token, query), scopes, expected)


async def test_headline_detail_with_a_measure_is_refused(stored: Stored) -> None:
    response = await stored.client.get(
        f"/v1/aggregates?{CCG_ROW}&measure=SDQ&detail=headline",
        headers=stored.tokens.headers("commissioner"),
    )
    assert response.status_code == 422
    assert response.json()["error_code"] == "request.detail_conflict"


async def test_a_recomputed_row_is_published_anew(stored: Stored) -> None:
    """Published items are cached by row version: a row the pipeline rewrites (new figures,
    new ``computed_at``) is shown as it now is, suppressed again."""
    query = "level=ccg_provider&code=05A/RX4&detail=all"
    every = {"headline", "SDQ", "RCADS"}
    assert_shows(
        await _figures(stored, "commissioner", query),
        every,
        SHOWN_HEADLINE | SHOWN_SDQ | SHOWN_RCADS,
    )
    changed = COUNTERS | {
        "closed_referrals": 13.0,
        "RCADS.self.n_paired": 5.0,
        "RCADS.self.sum_change": -7.5,
    }
    await stored.pool.execute(
        "UPDATE aggregates SET counters = $1, figures = $2, computed_at = clock_timestamp()"
        " WHERE level = 'ccg_provider' AND code = '05A/RX4'",
        changed,
        headline(changed),
    )
    # 13 -> 15; 5/13 = 38.5% -> 38; RCADS now 5 pairs: its mean (-7.5 / 5) is shown
    shown = SHOWN_HEADLINE | SHOWN_SDQ | {"RCADS.self.n_paired": 5, "RCADS.self.mean_change": -1.5}
    shown |= {"closed_referrals": 15, "pct_paired": 38, "pct_paired_self": 38}
    assert_shows(await _figures(stored, "commissioner", query), every, shown)


async def test_a_row_emptied_after_its_page_was_read_is_left_out(stored: Stored) -> None:
    """The page's keys are read first and the figures of uncached rows next: a row the
    pipeline deletes in between (its counts netted to zero) is not published."""
    view = view_of(suppressed=True, detail="all", measure=None, perspective=None)
    async with stored.pool.acquire() as connection:
        page = await connection.fetch(
            f"SELECT {', '.join(VERSION_COLUMNS)} FROM aggregates WHERE level = 'ccg' ORDER BY code"
        )
        assert [row["code"] for row in page] == ["05A"]
        transaction = connection.transaction()
        await transaction.start()
        try:
            await connection.execute("DELETE FROM aggregates WHERE level = 'ccg'")
            assert await published_items(connection, PublishedCache(), page, view) == []
        finally:
            await transaction.rollback()  # the row stays for the other tests
