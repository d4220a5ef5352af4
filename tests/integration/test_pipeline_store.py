"""The batch processor against a real PostgreSQL: exact under duplicates and any order.

Batches go straight into :func:`process_batch` (no broker), so these tests pin the store's
arithmetic; ``test_pipeline_kafka`` runs the same checks through a real worker.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import asyncpg
import orjson
import pytest

from services.pipeline.batch import Incoming, process_batch
from services.simulate import simulate
from tests import oracle

BATCH = 200


@pytest.fixture(scope="module")
def cohort() -> list[bytes]:
    messages = [orjson.dumps(event) for event in simulate(80, seed=11)]
    return [*messages, b"{not json", b'{"event_type": "referral.opened"}']


async def apply(pool: asyncpg.Pool, messages: Sequence[bytes], *, start: int = 0) -> None:
    for first in range(0, len(messages), BATCH):
        batch = [
            Incoming(raw, f"test:{start + first + index}")
            for index, raw in enumerate(messages[first : first + BATCH])
        ]
        async with pool.acquire() as connection:
            await process_batch(connection, batch)


async def stored_counters(pool: asyncpg.Pool) -> dict[tuple[str, ...], dict[str, float]]:
    rows = await pool.fetch("SELECT * FROM aggregates")
    keys = ("method", "level", "code", "period", "cohort", "cohort_value")
    return {tuple(row[c] for c in keys): row["counters"] for row in rows if row["counters"]}


def assert_same_counters(stored: dict[tuple[str, ...], dict[str, float]], expected: dict) -> None:  # type: ignore[type-arg]
    expected_nonzero = {
        tuple(key): {name: value for name, value in values.items() if abs(value) > 1e-9}
        for key, values in expected.items()
    }
    expected_nonzero = {key: values for key, values in expected_nonzero.items() if values}
    assert set(stored) == set(expected_nonzero)
    for key, values in expected_nonzero.items():
        assert set(stored[key]) == set(values), key
        for name, value in values.items():
            assert stored[key][name] == pytest.approx(value, rel=1e-9, abs=1e-6), (key, name)


async def test_aggregates_equal_the_batch_recomputation(
    pool: asyncpg.Pool, cohort: list[bytes]
) -> None:
    await apply(pool, cohort)
    expected = oracle.recompute(cohort)
    assert any(key.level == "ccg" for key in expected)  # the cohort reaches the figures
    assert_same_counters(await stored_counters(pool), expected)
    published = await pool.fetchval("SELECT count(*) FROM aggregates")
    assert published == len(
        {key for key, values in expected.items() if values.get("closed_referrals")}
    )


async def test_redelivery_changes_nothing(pool: asyncpg.Pool, cohort: list[bytes]) -> None:
    await apply(pool, cohort)
    before = await stored_counters(pool)
    outbox_before = await pool.fetchval("SELECT count(*) FROM outbox")
    await apply(pool, cohort)  # the same messages again, as after a crash before commit
    assert await stored_counters(pool) == before
    # Re-delivered messages carry the same sources: no new dead letters, no new outputs.
    assert await pool.fetchval("SELECT count(*) FROM outbox") == outbox_before


async def test_shuffled_and_duplicated_delivery_gives_the_same_figures(
    pool: asyncpg.Pool, cohort: list[bytes]
) -> None:
    rng = random.Random(5)
    delivered = cohort + rng.sample(cohort, len(cohort) // 10)
    rng.shuffle(delivered)
    await apply(pool, delivered)
    assert_same_counters(await stored_counters(pool), oracle.recompute(cohort))


async def test_every_invalid_event_is_dead_lettered_with_its_reason(
    pool: asyncpg.Pool, cohort: list[bytes]
) -> None:
    await apply(pool, cohort)
    letters = await pool.fetch("SELECT source, error_code, record FROM dead_letters")
    by_source = {row["source"]: row for row in letters}
    malformed = by_source[f"test:{len(cohort) - 2}"]
    assert malformed["error_code"] == "json.malformed"
    missing = by_source[f"test:{len(cohort) - 1}"]
    assert missing["error_code"] == "schema.missing_field"
    assert all(row["record"]["message"] for row in letters)
    topics_letters = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE topic = 'roms.deadletter.v1'"
    )
    assert topics_letters == len(letters)
