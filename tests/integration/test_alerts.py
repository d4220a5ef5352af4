"""Alerts end to end on a real PostgreSQL: raised in the batch, delivered to a real HTTP
receiver with a valid signature through failures, and resolved by corrected data.

The cohort, built by hand (every referral: two contacts in June 2019, a clinician HoNOSCA
at each, closed 2019-06-17; H(r) = every scale rated r; a change of 2 on every scale is
reliable, measures.md):
- RYG, RX4, RQY: 42 referrals each, none looked after, 12 deteriorating H(1) → H(3), 30
  improving H(3) → H(1): 12/42 deteriorated.
- RXT: 12 looked-after referrals all deteriorating, 30 others improving: 12/42 overall.
Providers nationally: every unit 12/42 = p0, in control. Teams: one per provider. Cohorts
within RXT, looked_after: p0 = 12/42 = 0.2857; ``true`` 12/12 = 1.0 above the 99.9% limit at
n = 12 (0.679) → alarm; ``false`` 0/30 in control. Every other cohort of every provider has
one value (p = p0). So exactly one unit alarms, in each period containing 2019-06-17:
2019-06, 2019/20 Q1 and 2019/20 (no warning: May 2019 has no data).

Correction: the 12 last RXT HoNOSCAs are re-sent as H(1) (no change): ``true`` 0/12, and
nationally p0 = 36/168 = 0.2143, 97.5% limit at n = 42 is 0.332 > 12/42 = 0.286: nothing
is above a limit, the three alarms resolve.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from scoring.figures import AggregateKey
from services.alerts import (
    DeliveryPolicy,
    add_webhook,
    deliver_due,
    evaluate,
    list_alerts,
    open_alerts,
)
from services.pipeline.batch import Incoming, process_batch
from services.store.migrations import upgrade
from services.store.pool import create_pool
from tests import factories as f

PERIODS = {"2019-06", "2019/20 Q1", "2019/20"}
FIRST, LAST, CLOSED = date(2019, 6, 3), date(2019, 6, 10), date(2019, 6, 17)
SECRETS = {"RXT": "rxt-secret", "RYG": "ryg-secret", "05A": "ccg-secret", "down": "down"}
POLICY = DeliveryPolicy(max_attempts=3, base_delay=0.01, timeout=2.0)
_emitted = itertools.count()


def emitted() -> datetime:
    """After every payload date, one minute apart."""
    return datetime(2019, 9, 1, tzinfo=UTC) + timedelta(minutes=next(_emitted))


def referral(
    provider: str, index: int, first: int, last: int, *, looked_after: bool
) -> list[dict[str, Any]]:
    envelope: dict[str, Any] = {
        "provider_code": provider,
        "referral_id": f"REF{provider}{index:04d}",
        "patient_id": f"PAT{provider}{index:04d}",
    }
    return [
        f.opened(
            received_on=date(2019, 5, 1),
            looked_after=looked_after,
            emitted_at=emitted(),
            **envelope,
        ),
        f.contact("c1", FIRST, emitted_at=emitted(), **envelope),
        f.contact("c2", LAST, emitted_at=emitted(), **envelope),
        f.honosca("h1", FIRST, first, emitted_at=emitted(), **envelope),
        f.honosca("h2", LAST, last, emitted_at=emitted(), **envelope),
        f.closed(CLOSED, emitted_at=emitted(), **envelope),
    ]


def cohort() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for provider in ("RYG", "RX4", "RQY", "RXT"):
        for index in range(42):
            deteriorating = index < 12
            events += referral(
                provider,
                index,
                1 if deteriorating else 3,
                3 if deteriorating else 1,
                looked_after=provider == "RXT" and deteriorating,
            )
    # A weak alliance (SRS total 4 x 7 = 28 < 36) at RYG: a notice for RYG only.
    events.append(
        f.questionnaire(
            "s1",
            "SRS",
            "self",
            LAST,
            {str(i): 7 for i in range(1, 5)},
            provider_code="RYG",
            referral_id="REFRYG0040",
            patient_id="PATRYG0040",
            emitted_at=emitted(),
        )
    )
    return events


def corrections() -> list[dict[str, Any]]:
    return [
        f.honosca(
            "h2",
            LAST,
            1,
            provider_code="RXT",
            referral_id=f"REFRXT{index:04d}",
            patient_id=f"PATRXT{index:04d}",
            emitted_at=emitted(),
        )
        for index in range(12)
    ]


@dataclass
class Receiver:
    """A tiny HTTP server on 127.0.0.1: records every POST, answers by path."""

    answers: dict[str, Callable[[int], int]]
    """path -> (how many requests that path has had) -> status code."""
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        request_line, *lines = head.strip().split("\r\n")
        path = request_line.split()[1]
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        body = await reader.readexactly(int(headers.get("content-length", 0)))
        self.received.append((path, headers, body))
        count = sum(1 for p, _, _ in self.received if p == path)
        status = self.answers[path](count)
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def posts(self, path: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
        return [(h, orjson.loads(b)) for p, h, b in self.received if p == path]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    answers: dict[str, Callable[[int], int]] = {
        "/rxt": lambda count: 500 if count <= 2 else 200,  # fails the first two attempts
        "/down": lambda count: 503,
        "/ccg": lambda count: 204,
        "/ryg": lambda count: 200,
    }
    server_receiver = Receiver(answers)
    server = await asyncio.start_server(server_receiver.handle, "127.0.0.1", 0)
    server_receiver.port = server.sockets[0].getsockname()[1]
    async with server:
        yield server_receiver


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url)
    async with pool.acquire() as connection:
        await upgrade(connection)
    try:
        yield pool
    finally:
        await pool.close()


async def apply(pool: asyncpg.Pool, events: list[dict[str, Any]], tag: str) -> None:
    """One batch: part of a provider's referrals alone may well alarm until the rest arrive
    (and then resolve); this test pins the complete picture."""
    batch = [Incoming(orjson.dumps(event), f"test:{tag}:{i}") for i, event in enumerate(events)]
    async with pool.acquire() as connection:
        await process_batch(connection, batch)


async def deliver_all(pool: asyncpg.Pool) -> None:
    async with httpx.AsyncClient(timeout=POLICY.timeout) as client, asyncio.timeout(20):
        while await pool.fetchval("SELECT count(*) FROM deliveries WHERE status = 'pending'"):
            await deliver_due(pool, client, POLICY)
            await asyncio.sleep(0.02)


def valid_signature(headers: dict[str, str], raw: bytes, secret: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["x-roms-signature"], expected)


async def test_alarm_raised_delivered_and_resolved(pool: asyncpg.Pool, receiver: Receiver) -> None:
    async with pool.acquire() as connection:
        for org, path in (("RXT", "/rxt"), ("RXT", "/down"), ("05A", "/ccg"), ("RYG", "/ryg")):
            await add_webhook(connection, org, receiver.url(path), SECRETS[org])

    events = cohort()
    await apply(pool, events, "cohort")
    async with pool.acquire() as connection:
        raised = await open_alerts(connection)
    funnel = [a for a in raised if a.key.level != "referral"]
    assert {
        (a.key.rule, a.key.level, a.key.code, a.key.cohort, a.key.cohort_value, a.key.perspective)
        for a in funnel
    } == {("deterioration_alarm", "provider", "RXT", "looked_after", "true", "clinician")}
    assert {a.key.period for a in funnel} == PERIODS
    alarm = funnel[0]
    assert alarm.figures == {
        "paired_clinician": 12,
        "deteriorated_clinician": 12,
        "pct_deteriorated_clinician": 100.0,
    }
    assert alarm.limits["p0"] == pytest.approx(12 / 42)
    assert alarm.limits["alarm_limit"] == pytest.approx(0.679, abs=1e-3)
    notices = [a for a in raised if a.key.level == "referral"]
    assert [(n.key.rule, n.key.code, n.key.referral_id, n.key.measure) for n in notices] == [
        ("weak_alliance", "RYG", "REFRYG0040", "SRS")
    ]
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'roms.alerts.v1'") == 4

    # Redelivered events change nothing; re-evaluating every key on the same data raises,
    # resolves and queues nothing.
    deliveries = await pool.fetchval("SELECT count(*) FROM deliveries")
    await apply(pool, events[:600], "again")
    async with pool.acquire() as connection, connection.transaction():
        keys = [
            AggregateKey(*row)
            for row in await connection.fetch(
                "SELECT method, level, code, period, cohort, cohort_value FROM aggregates"
            )
        ]
        referrals = [
            tuple(row)
            for row in await connection.fetch(
                "SELECT DISTINCT provider_code, referral_id FROM events"
            )
        ]
        assert await evaluate(connection, keys, referrals) == []
    assert await pool.fetchval("SELECT count(*) FROM deliveries") == deliveries
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'roms.alerts.v1'") == 4

    await deliver_all(pool)
    # The provider's receiver failed the first two posts; each alarm then arrived once more,
    # retried under the same idempotency key, signed with the provider's secret.
    rxt = receiver.posts("/rxt")
    assert len(rxt) == 5
    assert sorted(body["period"] for _, body in rxt[2:]) == sorted(PERIODS)
    retried = {headers["idempotency-key"] for headers, _ in rxt[:2]}
    assert retried < {headers["idempotency-key"] for headers, _ in rxt[2:]}
    raw = {p: [b for path, _, b in receiver.received if path == p] for p in ("/rxt", "/ccg")}
    for (headers, body), body_raw in zip(rxt, raw["/rxt"], strict=True):
        assert valid_signature(headers, body_raw, SECRETS["RXT"])
        assert headers["idempotency-key"].endswith("/open/1")
        assert body["figures"]["deteriorated_clinician"] == 12  # own data: exact
    rows = await pool.fetch(
        "SELECT w.url, d.status, d.attempts, d.last_error FROM deliveries d "
        "JOIN webhooks w ON w.id = d.webhook_id"
    )
    by_path = {(row["url"].rsplit("/", 1)[1], row["status"]) for row in rows}
    assert by_path == {
        ("rxt", "delivered"),
        ("down", "failed"),
        ("ccg", "delivered"),
        ("ryg", "delivered"),
    }
    for row in rows:
        if row["url"].endswith("/down"):
            assert (row["attempts"], row["last_error"]) == (3, "HTTP 503")
    # The commissioner got the three alarms, suppressed (12 -> 10, §5), and no notice.
    ccg = receiver.posts("/ccg")
    assert sorted(body["period"] for _, body in ccg) == sorted(PERIODS)
    for (headers, body), body_raw in zip(ccg, raw["/ccg"], strict=True):
        assert valid_signature(headers, body_raw, SECRETS["05A"])
        assert body["figures"] == {
            "paired_clinician": 10,
            "deteriorated_clinician": 10,
            "pct_deteriorated_clinician": 100,
        }
    # RYG heard only of its own notice.
    assert [body["rule"] for _, body in receiver.posts("/ryg")] == ["weak_alliance"]

    # Corrected data bring RXT's looked-after children back inside: the alarms resolve.
    await apply(pool, corrections(), "corrections")
    async with pool.acquire() as connection:
        assert [a.key.rule for a in await open_alerts(connection)] == ["weak_alliance"]
        resolved = await list_alerts(connection, state="resolved", org="05A")
    assert {a.key.period for a in resolved} == PERIODS
    assert all(a.figures["deteriorated_clinician"] == 0 for a in resolved)
    await deliver_all(pool)
    resolutions = [body for _, body in receiver.posts("/ccg") if body["state"] == "resolved"]
    assert sorted(body["period"] for body in resolutions) == sorted(PERIODS)
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'roms.alerts.v1'") == 7
