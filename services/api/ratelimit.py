"""Per-token rate limit of the ingest gateway (issue 8, Security): a token bucket per token.

Each bearer token may send ``GATEWAY_BURST`` requests to ``POST /v1/events`` at once and
``GATEWAY_RATE`` per second on average; beyond that the gateway answers 429 with
``Retry-After``. Buckets are keyed by the *verified* token id, after authentication, so a
forged secret cannot spend another client's allowance. They live in the API process (P:
one process serves the gateway; N replicas would allow N times the rate), one per token
that has posted, so their number is bounded by the tokens issued. A library (``limits``)
offers windows rather than buckets and storage backends this does not need; the bucket is
a dozen lines.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Counter

from services.api.errors import ApiError


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One bucket of ``burst`` tokens per key, refilled at ``rate`` tokens per second."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("the rate must be positive and the burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        """Take one token from ``key``'s bucket: 0.0 when granted, else the seconds until a
        token will be there (nothing is taken then)."""
        now = self._clock()
        bucket = self._buckets.setdefault(key, _Bucket(float(self.burst), now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


class RateLimited(ApiError):
    """429: this token sent more than its allowance; ``Retry-After`` is whole seconds after
    which a request will be admitted (if nothing else is sent meanwhile)."""

    def __init__(self, wait: float, rate: float, burst: int) -> None:
        seconds = max(1, math.ceil(wait))
        super().__init__(
            429,
            "request.rate_limited",
            f"too many requests for this token (at most {rate:g} per second, {burst} at once);"
            f" retry after {seconds} s",
            {"Retry-After": str(seconds)},
        )


class GatewayLimit:
    """The gateway's buckets and the counter of the requests they refuse."""

    def __init__(self, rate: float, burst: int, refused: Counter) -> None:
        self.buckets = TokenBuckets(rate, burst)
        self.refused = refused

    def admit(self, token_id: str) -> None:
        """Return when ``token_id`` may send a request now; raise :class:`RateLimited` else."""
        wait = self.buckets.take(token_id)
        if wait > 0:
            self.refused.labels(token_id).inc()
            raise RateLimited(wait, self.buckets.rate, self.buckets.burst)
