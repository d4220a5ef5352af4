"""Late events, corrections, withdrawals and reopens restate the aggregates they touch.

Each step goes through :func:`process_batch` against a real PostgreSQL, and the figures are
read back from the ``aggregates`` table and compared with values worked out by hand from
outcomes.md §1–4 (HoNOSCA: every scale 1–13 has the reliable-change threshold 2, N1; the
HoNOSCA total, the headline of the per-measure figures, has none). H(r) is a HoNOSCA with
every scale rated r, so its total is 13r.

Two referrals, both in 2019/20 Q1 (closed in June 2019):
- A at RYG (team T1), CCG 05A: contacts 04-02 and 04-16, closed 06-10.
- B at RX4 (team T2), CCG 06H: contacts 04-03 and 04-17, closed 06-12; H(2) 04-03 → H(0)
  05-02: every scale improves by 2 → clinician improved; total 26 → 0.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest

from scoring.published import derive
from services.pipeline.batch import Incoming, process_batch
from services.runtime import create_database, drop_database
from services.store.migrations import upgrade
from services.store.pool import create_pool
from tests import factories as f

Q1 = "2019/20 Q1"
Q2 = "2019/20 Q2"
YEAR = "2019/20"
METHODS = ("default", "nhs")
A_CODES = ("05A", "RYG", "05A/RYG", "RYG/T1")
"""The aggregate codes A alone falls in: its CCG, provider, CCG × provider and team."""

_emitted = itertools.count()
EMITTED_FROM = datetime(2019, 9, 1, 9, 0, tzinfo=UTC)
"""After every payload date, so each event is valid; each event is sent a minute later."""

Event = dict[str, Any]
PoolFactory = Callable[[], Awaitable[asyncpg.Pool]]


def on(month: int, day: int) -> date:
    return date(2019, month, day)


def envelope(referral: str) -> dict[str, Any]:
    provider = {"A": "RYG", "B": "RX4"}[referral]
    return {
        "referral_id": f"REFERRAL{referral}",
        "provider_code": provider,
        "patient_id": f"PATIENT{referral}",
        "emitted_at": EMITTED_FROM + timedelta(minutes=next(_emitted)),
    }


def referral_a(*, second_contact: bool = True) -> list[Event]:
    contacts = [f.contact("C1", on(4, 2), **envelope("A"))]
    if second_contact:
        contacts.append(f.contact("C2", on(4, 16), **envelope("A")))
    return [
        f.opened(received_on=on(3, 25), age=12, ccg="05A", team="T1", **envelope("A")),
        *contacts,
        f.closed(on(6, 10), **envelope("A")),
    ]


def referral_b(*, second_contact: bool = True) -> list[Event]:
    contacts = [f.contact("C1", on(4, 3), **envelope("B"))]
    if second_contact:
        contacts.append(f.contact("C2", on(4, 17), **envelope("B")))
    return [
        f.opened(
            received_on=on(3, 25), age=14, gender="male", ccg="06H", team="T2", **envelope("B")
        ),
        *contacts,
        f.closed(on(6, 12), **envelope("B")),
        f.honosca("H1", on(4, 3), 2, **envelope("B")),
        f.honosca("H2", on(5, 2), 0, **envelope("B")),
    ]


def honosca_a(assessment_id: str, day: date, rating: int) -> Event:
    return f.honosca(assessment_id, day, rating, **envelope("A"))


@pytest.fixture
async def new_pool(postgres_server: str) -> AsyncIterator[PoolFactory]:
    """Makes pools on fresh, migrated databases; all dropped after the test."""
    made: list[tuple[asyncpg.Pool, str]] = []

    async def make() -> asyncpg.Pool:
        dsn = await create_database(postgres_server, prefix="roms_restate")
        pool = await create_pool(dsn)
        made.append((pool, dsn))
        async with pool.acquire() as connection:
            await upgrade(connection)
        return pool

    try:
        yield make
    finally:
        for pool, dsn in made:
            await pool.close()
            await drop_database(postgres_server, dsn)


async def deliver(pool: asyncpg.Pool, events: Sequence[Event]) -> None:
    batch = [Incoming(orjson.dumps(e), f"restate:{e['event_id']}") for e in events]
    async with pool.acquire() as connection:
        report = await process_batch(connection, batch)
    assert report.rejected == 0


async def row(
    pool: asyncpg.Pool,
    level: str = "national",
    code: str = "ENG",
    period: str = Q1,
    method: str = "default",
) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT counters, events FROM aggregates WHERE method = $1 AND level = $2 AND code = $3"
        " AND period = $4 AND cohort = 'all' AND cohort_value = 'all'",
        method,
        level,
        code,
        period,
    )


async def figures(pool: asyncpg.Pool, **key: str) -> dict[str, Any]:
    found = await row(pool, **key)
    assert found is not None, key
    return dict(derive(found["counters"]))


async def national_events(pool: asyncpg.Pool) -> int:
    """How many events the national Q1 aggregate reflects (``default``)."""
    found = await row(pool)
    assert found is not None
    events: int = found["events"]
    return events


def clinician(found: dict[str, Any]) -> dict[str, Any]:
    names = (
        "closed_referrals",
        "with_assessment_clinician",
        "paired_clinician",
        "improved_clinician",
        "deteriorated_clinician",
        "no_change_clinician",
        "pct_paired_clinician",
        "pct_improved_clinician",
        "pct_deteriorated_clinician",
        "pct_no_change_clinician",
    )
    return {name: found[name] for name in names}


def honosca(found: dict[str, Any]) -> dict[str, Any]:
    names = (
        *("n_paired", "mean_first", "mean_last", "mean_change"),
        *("sd_change", "effect_size", "t_statistic", "p_value"),
    )
    return {name: found[f"HONOSCA.clinician.{name}"] for name in names}


def expect_clinician(
    closed: int, assessed: int, paired: int, improved: int, deteriorated: int, no_change: int
) -> dict[str, Any]:
    """Clinician counts and their percentages (§4: paired over closed, categories over paired;
    0 over 0). Denominators here are 1 or 2, so every share is exactly 0, 50 or 100."""

    def pct(numerator: int, denominator: int) -> float:
        return 0.0 if denominator == 0 else 100.0 * numerator / denominator

    return {
        "closed_referrals": closed,
        "with_assessment_clinician": assessed,
        "paired_clinician": paired,
        "improved_clinician": improved,
        "deteriorated_clinician": deteriorated,
        "no_change_clinician": no_change,
        "pct_paired_clinician": pct(paired, closed),
        "pct_improved_clinician": pct(improved, paired),
        "pct_deteriorated_clinician": pct(deteriorated, paired),
        "pct_no_change_clinician": pct(no_change, paired),
    }


def approx(expected: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value if value is None else pytest.approx(value, rel=1e-9, abs=1e-12)
        for name, value in expected.items()
    }


async def test_late_contact_and_late_questionnaire_restate_their_period(
    new_pool: PoolFactory,
) -> None:
    pool = await new_pool()
    # Step 1. A: H(3) 04-02 → H(2) 05-01: each scale improves by 1 < 2 → no change; total
    # 39 → 26. B has only contact 04-03 so far: outside the cohort (§1), in no aggregate.
    # National Q1: closed 1, paired 1, no change 1 (100.0). A's 6 events: opened, 2 contacts,
    # closed, 2 HoNOSCA.
    await deliver(
        pool,
        [
            *referral_a(),
            honosca_a("H1", on(4, 2), 3),
            honosca_a("H2", on(5, 1), 2),
            *referral_b(second_contact=False),
        ],
    )
    for method in METHODS:
        national = await figures(pool, method=method)
        assert clinician(national) == expect_clinician(1, 1, 1, 0, 0, 1)
        assert honosca(national) == approx(
            dict.fromkeys(("sd_change", "effect_size", "t_statistic", "p_value"))
            | {"n_paired": 1, "mean_first": 39.0, "mean_last": 26.0, "mean_change": -13.0}
        )
    assert await national_events(pool) == 6
    assert await row(pool, "provider", "RX4") is None

    # Step 2. B's second contact arrives late (sent now, dated 04-17 < closed_on 06-12):
    # B enters the cohort, improved (26 → 0). National Q1: closed 2, paired 2, improved 1
    # (50.0), no change 1 (50.0). HoNOSCA pairs (39, 26, −13), (26, 0, −26): means 32.5,
    # 13, −19.5; SD of change |−13 + 26|/√2 = 9.1924; SD of first |39 − 26|/√2 = 9.1924;
    # effect −19.5/9.1924 = −2.1213; t = −19.5/(9.1924/√2) = −19.5/6.5 = −3.0, 1 df:
    # p = 1 − (2/π)·atan 3 = 0.2048. Events 6 + B's 6 = 12.
    await deliver(pool, [f.contact("C2", on(4, 17), **envelope("B"))])
    for method in METHODS:
        national = await figures(pool, method=method)
        assert clinician(national) == expect_clinician(2, 2, 2, 1, 0, 1)
        assert honosca(national) == approx(
            {
                "n_paired": 2,
                "mean_first": 32.5,
                "mean_last": 13.0,
                "mean_change": -19.5,
                "sd_change": 13 / math.sqrt(2),
                "effect_size": -19.5 / (13 / math.sqrt(2)),
                "t_statistic": -3.0,
                "p_value": 1 - 2 / math.pi * math.atan(3),
            }
        )
    assert await national_events(pool) == 12
    rx4 = await figures(pool, level="provider", code="RX4")
    assert clinician(rx4) == expect_clinician(1, 1, 1, 1, 0, 0)

    # Step 3. A late HoNOSCA for A, H(1) on 06-01 (before closed_on 06-10), becomes A's last:
    # 3 → 1 is 2 on every scale → improved. National Q1: improved 2 (100.0), no change 0.
    # HoNOSCA (39, 13, −26), (26, 0, −26): means 32.5, 6.5, −26; SD of change 0, so no t
    # test; SD of first 9.1924: effect −26/9.1924 = −2.8284. Events 13.
    await deliver(pool, [honosca_a("H3", on(6, 1), 1)])
    for method in METHODS:
        national = await figures(pool, method=method)
        assert clinician(national) == expect_clinician(2, 2, 2, 2, 0, 0)
        assert honosca(national) == approx(
            {
                "n_paired": 2,
                "mean_first": 32.5,
                "mean_last": 6.5,
                "mean_change": -26.0,
                "sd_change": 0.0,
                "effect_size": -26 / (13 / math.sqrt(2)),
                "t_statistic": None,
                "p_value": None,
            }
        )
    assert await national_events(pool) == 13
    ryg = await figures(pool, level="provider", code="RYG")
    assert clinician(ryg) == expect_clinician(1, 1, 1, 1, 0, 0)

    # Step 4. A HoNOSCA dated after closed_on (06-15) does not count (§2): the figures stay;
    # the aggregate now reflects one event more (14).
    before = await figures(pool)
    await deliver(pool, [honosca_a("H4", on(6, 15), 4)])
    assert await figures(pool) == before
    assert await national_events(pool) == 14


def corrected_cohort() -> tuple[list[Event], Event]:
    """A: H(2) 04-02 → H(0) 05-01 (improved), and the correction of "H2" to H(4)."""
    base = [
        *referral_a(),
        honosca_a("H1", on(4, 2), 2),
        honosca_a("H2", on(5, 1), 0),
        *referral_b(),
    ]
    return base, honosca_a("H2", on(5, 1), 4)  # same assessment_id, sent later


# Before the correction, national Q1: A and B both improved (26 → 0 each): closed 2,
# paired 2, improved 2 (100.0); HoNOSCA means 26, 0, −26, SD of change 0 and SD of first 0
# (no effect size, no test).
BEFORE_CORRECTION = {
    "n_paired": 2,
    "mean_first": 26.0,
    "mean_last": 0.0,
    "mean_change": -26.0,
    "sd_change": 0.0,
    "effect_size": None,
    "t_statistic": None,
    "p_value": None,
}
# After it, A is H(2) → H(4): every scale worsens by 2 → deteriorated. Improved 1 (50.0),
# deteriorated 1 (50.0). HoNOSCA (26, 52, +26), (26, 0, −26): means 26, 26, 0; SD of change
# |26 + 26|/√2 = 36.7696; SD of first 0 → no effect size; t = 0/(36.7696/√2) = 0, 1 df:
# p = 1 − (2/π)·atan 0 = 1.
AFTER_CORRECTION = {
    "n_paired": 2,
    "mean_first": 26.0,
    "mean_last": 26.0,
    "mean_change": 0.0,
    "sd_change": 52 / math.sqrt(2),
    "effect_size": None,
    "t_statistic": 0.0,
    "p_value": 1.0,
}


async def test_a_correction_turns_an_improvement_into_a_deterioration(
    new_pool: PoolFactory,
) -> None:
    pool = await new_pool()
    base, correction = corrected_cohort()
    await deliver(pool, base)
    for method in METHODS:
        national = await figures(pool, method=method)
        assert clinician(national) == expect_clinician(2, 2, 2, 2, 0, 0)
        assert honosca(national) == approx(BEFORE_CORRECTION)
    assert clinician(await figures(pool, level="ccg", code="05A")) == expect_clinician(
        1, 1, 1, 1, 0, 0
    )

    await deliver(pool, [correction])
    for method in METHODS:
        national = await figures(pool, method=method)
        assert clinician(national) == expect_clinician(2, 2, 2, 1, 1, 0)
        assert honosca(national) == approx(AFTER_CORRECTION)
    # A alone at 05A: improved 1 → 0, deteriorated 0 → 1 (100.0).
    assert clinician(await figures(pool, level="ccg", code="05A")) == expect_clinician(
        1, 1, 1, 0, 1, 0
    )
    # The correction replaces an event: A's row reflects 7 events, B's 6 → 13 nationally.
    assert await national_events(pool) == 13


async def test_a_correction_arriving_before_its_original_gives_the_same_figures(
    new_pool: PoolFactory,
) -> None:
    base, correction = corrected_cohort()
    in_order, reversed_order = await new_pool(), await new_pool()
    await deliver(in_order, base)
    await deliver(in_order, [correction])
    # The correction first (A's other events not yet there: A is in no aggregate), then
    # everything else, the superseded original included: it must not win.
    await deliver(reversed_order, [correction])
    assert await row(reversed_order) is None
    await deliver(reversed_order, list(reversed(base)))
    for method in METHODS:
        national = await figures(reversed_order, method=method)
        assert clinician(national) == expect_clinician(2, 2, 2, 1, 1, 0)
        assert honosca(national) == approx(AFTER_CORRECTION)
    query = "SELECT method, level, code, period, cohort, cohort_value, figures, events"
    query += " FROM aggregates ORDER BY 1, 2, 3, 4, 5, 6"
    assert await reversed_order.fetch(query) == await in_order.fetch(query)


async def test_a_withdrawn_last_assessment_removes_the_pair(new_pool: PoolFactory) -> None:
    pool = await new_pool()
    base, _ = corrected_cohort()
    await deliver(pool, base)
    # A's H2 entered in error: A keeps its assessment H1 but loses its pair. National Q1:
    # assessed 2, paired 2 → 1 (50.0), improved 2 → 1 (1/1 = 100.0); HoNOSCA B alone:
    # 26 → 0. Any-perspective paired 2 → 1 (50.0).
    await deliver(pool, [f.withdrawn("H2", **envelope("A"))])
    for method in METHODS:
        national = await figures(pool, method=method)
        assert clinician(national) == expect_clinician(2, 2, 1, 1, 0, 0)
        assert (national["paired"], national["pct_paired"]) == (1, 50.0)
        assert honosca(national) == approx(
            dict.fromkeys(("sd_change", "effect_size", "t_statistic", "p_value"))
            | {"n_paired": 1, "mean_first": 26.0, "mean_last": 0.0, "mean_change": -26.0}
        )
        # At 05A (A alone): still closed and assessed, no longer paired.
        ccg = await figures(pool, level="ccg", code="05A", method=method)
        assert clinician(ccg) == expect_clinician(1, 1, 0, 0, 0, 0)
        assert "HONOSCA.clinician.n_paired" not in ccg


async def test_reopen_moves_a_referral_out_and_a_new_close_moves_it_to_its_quarter(
    new_pool: PoolFactory,
) -> None:
    pool = await new_pool()
    base, _ = corrected_cohort()
    await deliver(pool, base)
    assert await pool.fetchval("SELECT count(*) FROM aggregates WHERE code = ANY($1)", A_CODES)

    # Reopened, A is open: out of every figure (§1). It was alone at 05A, RYG, 05A/RYG and
    # RYG/T1, so those rows vanish (every period, cohort and method); nationally only B is
    # left: closed 1, improved 1.
    await deliver(pool, [f.reopened(**envelope("A"))])
    assert not await pool.fetchval("SELECT count(*) FROM aggregates WHERE code = ANY($1)", A_CODES)
    for method in METHODS:
        for period in (Q1, "2019-06", YEAR):
            national = await figures(pool, period=period, method=method)
            assert clinician(national) == expect_clinician(1, 1, 1, 1, 0, 0)

    # Closed again on 2019-08-20: A (still improved, its assessments predate both closes)
    # is counted in 2019/20 Q2 and 2019-08, the year counts both again, Q1 keeps B alone.
    await deliver(pool, [f.closed(date(2019, 8, 20), **envelope("A"))])
    for method in METHODS:
        assert clinician(await figures(pool, method=method)) == expect_clinician(1, 1, 1, 1, 0, 0)
        for period in (Q2, "2019-08"):
            for level, code in (("national", "ENG"), ("provider", "RYG"), ("ccg", "05A")):
                found = await figures(pool, level=level, code=code, period=period, method=method)
                assert clinician(found) == expect_clinician(1, 1, 1, 1, 0, 0)
        year = await figures(pool, period=YEAR, method=method)
        assert clinician(year) == expect_clinician(2, 2, 2, 2, 0, 0)
    assert await row(pool, "provider", "RYG", Q1) is None
