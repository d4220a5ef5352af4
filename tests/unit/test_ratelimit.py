"""The gateway's token buckets, on a clock the test moves (no sleeping, no timing)."""

from __future__ import annotations

import pytest

from services.api.ratelimit import RateLimited, TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_grants_the_burst_then_says_how_long_to_wait() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now += 0.25
    assert buckets.take("a") == pytest.approx(0.25)  # half a token: nothing taken
    clock.now += 0.25
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == pytest.approx(0.5)


def test_each_key_has_its_own_bucket() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, clock=Clock())
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    assert buckets.take("b") == 0.0


def test_a_bucket_refills_up_to_the_burst_only() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=10.0, burst=2, clock=clock)
    buckets.take("a")
    clock.now += 3600
    assert [buckets.take("a") == 0.0 for _ in range(3)] == [True, True, False]


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_a_bucket_that_could_never_grant_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBuckets(rate=rate, burst=burst)


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (19.2, "20")])
def test_retry_after_is_whole_seconds_never_early(wait: float, header: str) -> None:
    refusal = RateLimited(wait, rate=0.05, burst=3)
    assert (refusal.status, refusal.error_code) == (429, "request.rate_limited")
    assert refusal.headers == {"Retry-After": header}
    assert "0.05 per second" in refusal.message
