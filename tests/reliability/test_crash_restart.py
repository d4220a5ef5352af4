"""Crash and restart: the real worker SIGKILLed at seeded moments, a consumer-group member
killed mid-stream, and a restart with every local file gone; nothing lost or counted twice.

Each test replays a simulated cohort (with the simulator's duplicates and corrections, its
malformed lines, and a tenth of the messages sent twice, all shuffled) through production
``outcomes run`` processes, kills them with SIGKILL (nothing runs on the way out: no
rollback by the worker, no offset commit, no group leave), restarts them, and then checks
everything against independent expectations: every message reflected, a duplicate or
dead-lettered with ``parse_event``'s error code (no dead letter for a valid message); the
dead-letter topic equal to the table; the outbox fully published and, with one worker, the
latest record of every aggregate on its topic equal to the table; aggregates ==
``tests.oracle``.

Kills are aimed by the worker's log and PostgreSQL's view of its sessions
(``tests/reliability/crash.py``): in the hot path, between two statements of a write
transaction (assembling, scoring, awaiting broker acks with outbox rows claimed), while
PostgreSQL runs one of its statements, or during start-up. Where each landed is printed
(``pytest -s``).
"""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
import psutil
import pytest

from scoring.published import derive
from services.progress import wait_until_reflected
from services.runtime.process import SupervisedProcess
from services.simulate import MALFORMED_LINES, simulate
from services.store.pool import connect
from tests import oracle
from tests.integration.test_pipeline_kafka import (
    CATCH_UP_SECONDS,
    caught_up,
    read_topic,
    start_worker,
)
from tests.integration.test_pipeline_store import assert_same_counters
from tests.reliability.conftest import (
    create_namespaced_topics,
    last_offsets,
    produce_each,
    read_log,
)
from tests.reliability.crash import (
    DERIVED,
    Kill,
    Moment,
    assigned_partitions,
    kill_at,
    kill_schedule,
    logged,
    wait_for_split,
    wait_until_published,
    while_alive,
)
from tests.reliability.test_hostile_input import (
    account_for_every_message,
    assert_dead_letters_published_without_nhs_numbers,
    read_back,
)
from topics.registry import AGGREGATES, EVENTS

pytestmark = pytest.mark.reliability

SEED = 88
RESENT_SHARE = 0.1
"""Share of the messages produced a second time (a producer's retry, a replayed file) (P)."""
KILLS = (Moment.INGESTING, Moment.DERIVING, Moment.WRITING, Moment.START_UP, Moment.DERIVING)
"""The first kill is in the hot path (the only run with the whole replay left to ingest);
the others in the seeded order of ``random.Random(SEED)``."""
GIVE_UP_SECONDS = 30.0
"""A kill whose moment has not come this long after the spawn kills anyway (P)."""
SETTLE_SECONDS = 60.0
"""Bound on a group sharing out its partitions, or on the outbox emptying (not stuck) (P)."""
PASS_REFERRALS = 5
AGGREGATE_IDENTITY = ("method", "level", "code", "period", "cohort", "cohort_value")
LOCAL_DIRECTORIES = ("HOME", "TMPDIR", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")
"""Where a process keeps local files: pointed into the test's directory, then deleted."""


@pytest.fixture(autouse=True)
def short_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Derivation passes of a few referrals (production folds up to 5,000 at once), so that a
    small cohort's replay spans many write transactions and a kill can land in any kind."""
    monkeypatch.setenv("DERIVATION_BATCH", str(PASS_REFERRALS))


@dataclass(frozen=True, slots=True)
class Replay:
    """Messages produced to a test's own topics, with where each one landed."""

    namespace: str
    messages: list[bytes]
    positions: list[tuple[int, int] | None]

    @property
    def topic(self) -> str:
        return self.namespace + EVENTS.name

    @property
    def last(self) -> dict[int, int]:
        return last_offsets(self.positions)


def replay_messages(referrals: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    messages = [*(orjson.dumps(event) for event in simulate(referrals, seed)), *MALFORMED_LINES]
    messages += rng.sample(messages, round(len(messages) * RESENT_SHARE))
    rng.shuffle(messages)
    return messages


async def produce(kafka_bootstrap: str, namespace: str, messages: list[bytes]) -> Replay:
    return Replay(namespace, messages, await produce_each(kafka_bootstrap, namespace, messages))


async def reflected(
    dsn: str, topic: str, offsets: Mapping[int, int], workers: Sequence[SupervisedProcess]
) -> None:
    async with asyncio.timeout(CATCH_UP_SECONDS):
        await while_alive(workers, wait_until_reflected(dsn, topic, offsets))


async def finish(dsn: str, replay: Replay, workers: Sequence[SupervisedProcess]) -> None:
    """Wait until every message is reflected and the outbox published; the workers must be
    alive throughout; then stop them."""
    try:
        await while_alive(workers, caught_up(dsn, replay.namespace, replay.last, workers[0]))
        async with asyncio.timeout(SETTLE_SECONDS):
            await while_alive(workers, wait_until_published(dsn))
    finally:
        for worker in workers:
            worker.stop()


async def assert_latest_aggregates_published(
    kafka_bootstrap: str, replay: Replay, dsn: str
) -> None:
    """The latest record of every key on the aggregates topic is the table's row (a tombstone
    where the table has none): a restarted or surviving worker published what was committed."""
    latest = dict(await read_topic(kafka_bootstrap, replay.namespace + AGGREGATES.name))
    published = {}
    for value in latest.values():
        if value is not None:
            record = orjson.loads(value)
            published[tuple(record[c] for c in AGGREGATE_IDENTITY)] = (
                record["figures"],
                record["events"],
            )
    assert len(published) == sum(value is not None for value in latest.values())
    connection = await connect(dsn)
    try:
        rows = await connection.fetch(
            f"SELECT {', '.join(AGGREGATE_IDENTITY)}, counters, events FROM aggregates"
        )
    finally:
        await connection.close()
    stored = {
        tuple(row[c] for c in AGGREGATE_IDENTITY): (derive(row["counters"]), row["events"])
        for row in rows
    }
    assert published == stored


async def assert_nothing_lost_or_doubled(
    kafka_bootstrap: str,
    dsn: str,
    replay: Replay,
    logs: Sequence[Path],
) -> None:
    log = "".join(read_log(path) for path in logs)
    processed = await read_back(dsn, replay.namespace, replay.messages, replay.positions, log)
    tally = account_for_every_message(processed)
    assert tally["duplicate"] > 0
    assert len(processed.letters) == tally["dead-lettered"] > 0  # none for a valid message
    await assert_dead_letters_published_without_nhs_numbers(
        kafka_bootstrap, replay.namespace, processed
    )
    await assert_latest_aggregates_published(kafka_bootstrap, replay, dsn)
    expected = oracle.recompute(raw for raw, _ in processed.delivered)
    assert_same_counters(processed.counters, expected)


async def test_repeated_sigkills_during_a_replay_lose_and_double_nothing(
    kafka_bootstrap: str, dsn: str, unique_name: str, tmp_path: Path
) -> None:
    namespace = f"{unique_name}."
    await create_namespaced_topics(kafka_bootstrap, namespace)
    replay = await produce(kafka_bootstrap, namespace, replay_messages(80, SEED))
    logs = [tmp_path / f"run-{run}.log" for run in range(len(KILLS) + 1)]
    rng = random.Random(SEED)
    moments = [KILLS[0], *rng.sample(KILLS[1:], len(KILLS) - 1)]
    for planned, log_path in zip(kill_schedule(rng, moments), logs[:-1], strict=True):
        worker = start_worker(kafka_bootstrap, dsn, namespace, log_path)
        try:
            statement = await kill_at(worker, log_path, dsn, planned, GIVE_UP_SECONDS)
        finally:
            worker.stop()
        print(f"{planned}: {statement}")
    await finish(dsn, replay, [start_worker(kafka_bootstrap, dsn, namespace, logs[-1])])
    await assert_nothing_lost_or_doubled(kafka_bootstrap, dsn, replay, logs)


async def test_a_member_killed_mid_stream_hands_its_partitions_to_the_survivor(
    kafka_bootstrap: str, dsn: str, unique_name: str, tmp_path: Path
) -> None:
    namespace = f"{unique_name}."
    await create_namespaced_topics(kafka_bootstrap, namespace)
    messages = replay_messages(80, SEED + 1)
    half, three_quarters = len(messages) // 2, len(messages) * 3 // 4
    topic = namespace + EVENTS.name
    survivor_log, victim_log, returned_log = (tmp_path / f"{n}.log" for n in ("a", "b", "b2"))
    survivor = start_worker(kafka_bootstrap, dsn, namespace, survivor_log)
    victim = start_worker(kafka_bootstrap, dsn, namespace, victim_log)
    workers = [survivor, victim]
    try:
        async with asyncio.timeout(SETTLE_SECONDS):
            await wait_for_split([survivor_log, victim_log], topic, EVENTS.partitions)
        # Mid-stream: the victim dies in its first write transaction after its first batch.
        first = await produce(kafka_bootstrap, namespace, messages[:half])
        victim_kill = Kill(Moment.INGESTING, 1, 0.0)
        statement = await kill_at(victim, victim_log, dsn, victim_kill, GIVE_UP_SECONDS)
        print(f"member: {victim_kill}: {statement}")
        assert assigned_partitions(victim_log, topic)  # it died holding partitions

        # Only the survivor is left: what arrives now on every partition is its to take.
        second = await produce(kafka_bootstrap, namespace, messages[half:three_quarters])
        await reflected(dsn, topic, {**first.last, **second.last}, [survivor])
        assert assigned_partitions(survivor_log, topic) == frozenset(range(EVENTS.partitions))

        # The killed member comes back: the group shares out the partitions again.
        returned = start_worker(kafka_bootstrap, dsn, namespace, returned_log)
        workers.append(returned)
        async with asyncio.timeout(SETTLE_SECONDS):
            await wait_for_split([survivor_log, returned_log], topic, EVENTS.partitions)
        third = await produce(kafka_bootstrap, namespace, messages[three_quarters:])
        replay = Replay(namespace, messages, first.positions + second.positions + third.positions)
        await finish(dsn, replay, [survivor, returned])
    finally:
        for worker in workers:
            worker.stop()
    await assert_nothing_lost_or_doubled(
        kafka_bootstrap, dsn, replay, [survivor_log, victim_log, returned_log]
    )


async def test_a_worker_restarted_with_nothing_local_rebuilds_from_postgresql(
    kafka_bootstrap: str,
    dsn: str,
    unique_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker keeps no local state (no Faust tables, no data directory: everything is in
    PostgreSQL), so a restart on an empty disk rebuilds nothing and needs nothing."""
    local = tmp_path / "local"
    for name in LOCAL_DIRECTORIES:
        monkeypatch.setenv(name, str(local / name.lower()))
        (local / name.lower()).mkdir(parents=True)
    namespace = f"{unique_name}."
    await create_namespaced_topics(kafka_bootstrap, namespace)
    replay = await produce(kafka_bootstrap, namespace, replay_messages(60, SEED + 2))
    logs = [tmp_path / "before.log", tmp_path / "after.log"]
    worker = start_worker(kafka_bootstrap, dsn, namespace, logs[0])
    try:
        async with asyncio.timeout(GIVE_UP_SECONDS):
            await logged(logs[0], DERIVED, 1)
        assert worker.pid is not None
        open_files = {Path(file.path) for file in psutil.Process(worker.pid).open_files()}
        planned = Kill(Moment.DERIVING, 2, 0.0)
        statement = await kill_at(worker, logs[0], dsn, planned, GIVE_UP_SECONDS)
        print(f"{planned}: {statement}")
    finally:
        worker.stop()
    assert open_files == {logs[0]}  # no local store open: the one file it writes is its log
    left = sorted(str(path.relative_to(local)) for path in local.rglob("*") if path.is_file())
    assert left == []  # nor anything written where a process keeps local files
    shutil.rmtree(local)
    for name in LOCAL_DIRECTORIES:
        (local / name.lower()).mkdir(parents=True)
    await finish(dsn, replay, [start_worker(kafka_bootstrap, dsn, namespace, logs[1])])
    await assert_nothing_lost_or_doubled(kafka_bootstrap, dsn, replay, logs)
