"""Webhook registration and delivery of alerts (outcomes.md §6, Delivery).

Every queued delivery is POSTed as JSON with ``X-ROMs-Signature: sha256=<hex HMAC-SHA256 of
the body under the webhook's secret>`` and ``Idempotency-Key`` (the same on every retry of
one alert transition, so receivers can de-duplicate an at-least-once delivery). A non-2xx
answer, a timeout or a connection error is retried after an exponentially growing delay with
jitter; after the last attempt the delivery is marked ``failed`` with the last error — never
dropped silently. Secrets are read from the database to sign and never logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import asyncpg
import httpx
import structlog

log = structlog.get_logger("roms.webhooks")

SIGNATURE_HEADER: Final = "X-ROMs-Signature"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
LOCAL_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})
"""P: plain http is accepted only for a receiver on this machine (tests, local tools)."""
JITTER: Final = (0.5, 1.0)
"""P: "equal jitter" — each delay is drawn between half and all of its exponential step, so
retries of many deliveries spread out yet never come sooner than half the step."""
CLAIM_LIMIT: Final = 100
"""P: deliveries attempted per round; a round holds their row locks until it finishes."""


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Settings ``WEBHOOK_MAX_ATTEMPTS``, ``WEBHOOK_BASE_DELAY``, ``WEBHOOK_TIMEOUT``,
    ``WEBHOOK_POLL_INTERVAL``."""

    max_attempts: int = 6
    base_delay: float = 2.0
    """Seconds before the first retry; doubled (with jitter) for each later one."""
    timeout: float = 5.0
    """Seconds for connecting to, and for each read from, the receiver."""
    poll_interval: float = 1.0


def sign(body: bytes, secret: str) -> str:
    """The signature header value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retry_delay(attempts: int, base_delay: float, rng: random.Random) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: base × 2^(attempts−1),
    scaled by a random factor in :data:`JITTER`."""
    low, high = JITTER
    return base_delay * 2.0 ** (attempts - 1) * rng.uniform(low, high)


def check_url(url: str) -> str:
    """``url`` if it is https (or http to this machine); ``ValueError`` otherwise."""
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOCAL_HOSTS)
    if secure and parts.hostname:
        return url
    raise ValueError(f"webhook URL must be https:// (http only to localhost): {url!r}")


async def add_webhook(connection: asyncpg.Connection, org_code: str, url: str, secret: str) -> int:
    """Register (or re-key) the webhook of ``org_code`` at ``url``; returns its id."""
    if not secret:
        raise ValueError("the webhook secret is empty")
    webhook_id: int = await connection.fetchval(
        "INSERT INTO webhooks (org_code, url, secret) VALUES ($1, $2, $3) "
        "ON CONFLICT (org_code, url) DO UPDATE SET secret = EXCLUDED.secret RETURNING id",
        org_code,
        check_url(url),
        secret,
    )
    return webhook_id


async def deliver_due(
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    policy: DeliveryPolicy,
    rng: random.Random | None = None,
) -> int:
    """Attempt every pending delivery that is due; returns how many were attempted.

    Rows are claimed with ``FOR UPDATE SKIP LOCKED`` so that several workers share the work;
    a worker dying mid-round releases them unchanged, to be sent again (at-least-once).
    """
    jitter = rng or random.Random()  # noqa: S311 - spreads retries, not a secret
    async with pool.acquire() as connection, connection.transaction():
        rows = await connection.fetch(
            """
            SELECT d.id, d.webhook_id, d.idempotency_key, d.body, d.attempts, w.org_code,
                   w.url, w.secret
            FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
            WHERE d.status = 'pending' AND d.next_attempt_at <= now()
            ORDER BY d.next_attempt_at, d.id
            LIMIT $1
            FOR UPDATE OF d SKIP LOCKED
            """,
            CLAIM_LIMIT,
        )
        errors = await asyncio.gather(*(_post(client, row) for row in rows))
        for row, error in zip(rows, errors, strict=True):
            attempts = row["attempts"] + 1
            if error is None:
                await connection.execute(
                    "UPDATE deliveries SET status = 'delivered', attempts = $2, "
                    "delivered_at = now(), last_error = NULL WHERE id = $1",
                    row["id"],
                    attempts,
                )
                continue
            final = attempts >= policy.max_attempts
            log.warning(
                "webhook delivery failed",
                delivery=row["id"],
                webhook=row["webhook_id"],
                org=row["org_code"],
                attempt=attempts,
                final=final,
                error=error,
            )
            await connection.execute(
                "UPDATE deliveries SET status = $3, attempts = $2, last_error = $4, "
                "next_attempt_at = now() + make_interval(secs => $5) WHERE id = $1",
                row["id"],
                attempts,
                "failed" if final else "pending",
                error,
                0.0 if final else retry_delay(attempts, policy.base_delay, jitter),
            )
    return len(rows)


async def _post(client: httpx.AsyncClient, row: asyncpg.Record) -> str | None:
    """POST one delivery; ``None`` on a 2xx answer, else what went wrong."""
    body = bytes(row["body"])
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body, row["secret"]),
        IDEMPOTENCY_HEADER: row["idempotency_key"],
    }
    try:
        response = await client.post(row["url"], content=body, headers=headers)
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"[:500]
    if response.is_success:
        return None
    return f"HTTP {response.status_code}"


async def delivery_loop(pool: asyncpg.Pool, policy: DeliveryPolicy) -> None:
    """Deliver due webhooks until cancelled (the worker runs one beside its agent)."""
    async with httpx.AsyncClient(timeout=policy.timeout, follow_redirects=False) as client:
        while True:
            try:
                attempted = await deliver_due(pool, client, policy)
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("webhook round failed, retrying", error=str(error))
                attempted = 0
            if attempted < CLAIM_LIMIT:
                await asyncio.sleep(policy.poll_interval)
