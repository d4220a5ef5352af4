"""The worker's log of a whole run holds no pseudonym and no NHS number.

A worker (`outcomes run`) applies a simulated cohort, its malformed lines, and events that
carry NHS numbers (spaced and not) in identifier fields; its complete log file is then
searched for every simulated ``patient_id`` and ``referral_id`` and for any NHS-number-shaped
string (ten digits, spaces allowed, valid mod-11 check). Both the production log level and
DEBUG are checked: an operator turning logging up must not turn personal data on (the worker
keeps the Kafka clients' loggers, which print records at DEBUG, at INFO).
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import orjson
import pytest

from services.simulate import MALFORMED_LINES, simulate
from services.worker import worker_process
from tests.integration.test_pipeline_kafka import FAST_GROUP_ENV, caught_up
from tests.reliability.conftest import (
    create_namespaced_topics,
    last_offsets,
    nhs_numbers,
    nhs_shaped,
    produce_each,
    read_log,
    spaced,
)

pytestmark = pytest.mark.reliability

SEED = 44
REFERRALS = 25


def with_nhs_numbers(events: list[dict[str, object]], rng: random.Random) -> list[bytes]:
    """Copies of cohort events with an NHS number in an identifier (each one dead-lettered)."""
    messages = []
    for number, event in zip(nhs_numbers(rng, 40), rng.sample(events, 40), strict=True):
        field = rng.choice(("patient_id", "referral_id"))
        written = rng.choice((number, spaced(number)))
        fresh = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        messages.append(orjson.dumps({**event, "event_id": fresh, field: written}))
    return messages


@pytest.mark.parametrize(
    "log_level",
    [
        "INFO",
        "DEBUG",
    ],
)
async def test_worker_log_names_no_patient_referral_or_nhs_number(
    kafka_bootstrap: str, dsn: str, unique_name: str, tmp_path: Path, log_level: str
) -> None:
    rng = random.Random(SEED)
    events = list(simulate(REFERRALS, seed=SEED))
    messages = [
        *(orjson.dumps(event) for event in events),
        *MALFORMED_LINES,
        *with_nhs_numbers(events, rng),
    ]
    namespace = f"{unique_name}."
    await create_namespaced_topics(kafka_bootstrap, namespace)
    log_path = tmp_path / "worker.log"
    worker = worker_process(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=dsn,
        consumer_group=f"{namespace}group",
        log_path=log_path,
        topic_namespace=namespace,
        extra_env={**FAST_GROUP_ENV, "LOG_LEVEL": log_level},
    )
    worker.start()
    try:
        positions = await produce_each(kafka_bootstrap, namespace, messages)
        await caught_up(dsn, namespace, last_offsets(positions), worker)
    finally:
        worker.stop()

    log = read_log(log_path)
    # The log is the worker's, and it did the work.
    assert "batch stored" in log
    assert "referrals derived" in log
    pseudonyms = {str(event[field]) for event in events for field in ("patient_id", "referral_id")}
    assert len(pseudonyms) == 2 * REFERRALS  # a patient and a referral id each
    assert sorted(name for name in pseudonyms if name in log) == []
    assert nhs_shaped(log) == []
