"""The HTTPS ingest gateway against a real broker and PostgreSQL.

Posted events are read back from ``roms.events.v1`` (keyed by ``referral_id``) and invalid
ones from ``roms.deadletter.v1``; the pipeline then stores what the gateway produced, and
posting it again is answered as a duplicate with nothing produced.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from services.pipeline.batch import Incoming, process_batch
from services.runtime import create_topics
from services.settings import Settings
from services.simulate import CLEAN, simulate
from tests.e2e.api_support import Tokens, asgi_client, close_database, fresh_database, issue_tokens
from tests.integration.test_pipeline_kafka import read_topic
from topics.records import DeadLetter
from topics.registry import DEAD_LETTERS, EVENTS, TOPICS


@dataclass(frozen=True, slots=True)
class Gateway:
    client: httpx.AsyncClient
    tokens: Tokens
    pool: asyncpg.Pool
    bootstrap: str
    namespace: str

    async def topic(self, spec_name: str) -> list[tuple[bytes, bytes | None]]:
        return await read_topic(self.bootstrap, self.namespace + spec_name)


@pytest.fixture
async def gateway(
    postgres_server: str, kafka_bootstrap: str, unique_name: str
) -> AsyncIterator[Gateway]:
    namespace = f"{unique_name}."
    await create_topics(
        kafka_bootstrap, {namespace + spec.name: spec.partitions for spec in TOPICS.values()}
    )
    dsn, pool = await fresh_database(postgres_server, "roms_gateway")
    settings = Settings(
        database_url=dsn, kafka_bootstrap_servers=kafka_bootstrap, topic_namespace=namespace
    )
    try:
        tokens = await issue_tokens(pool)
        async for client in asgi_client(settings):
            yield Gateway(client, tokens, pool, kafka_bootstrap, namespace)
    finally:
        await close_database(postgres_server, dsn, pool)


def events_of(provider: str, count: int) -> list[dict[str, Any]]:
    chosen = [
        event for event in simulate(40, seed=3, noise=CLEAN) if event["provider_code"] == provider
    ]
    assert len(chosen) >= count
    return chosen[:count]


async def test_mixed_posts_are_produced_dead_lettered_or_refused_per_event(
    gateway: Gateway,
) -> None:
    valid = events_of("RYG", 5)
    invalid = {key: value for key, value in valid[0].items() if key != "occurred_at"}
    invalid["event_id"] = "6f7c9a52-0000-4000-8000-000000000001"
    foreign = events_of("RX4", 1)[0]
    response = await gateway.client.post(
        "/v1/events",
        content=orjson.dumps([*valid, invalid, foreign]),
        headers=gateway.tokens.headers("provider"),
    )
    assert response.status_code == 207, response.text
    body = response.json()
    assert [result["status"] for result in body["results"]] == [
        *["accepted"] * 5,
        "rejected",
        "forbidden",
    ]
    assert (body["accepted"], body["rejected"], body["forbidden"]) == (5, 1, 1)
    (problem,) = body["results"][5]["problems"]
    assert (problem["error_code"], problem["field"]) == ("schema.missing_field", "occurred_at")
    assert body["results"][5]["event_id"] == invalid["event_id"]

    produced = await gateway.topic(EVENTS.name)
    assert sorted(orjson.loads(value or b"")["event_id"] for _, value in produced) == sorted(
        event["event_id"] for event in valid
    )
    for key, value in produced:
        assert key == orjson.loads(value or b"")["referral_id"].encode()
    ((letter_key, letter_value),) = await gateway.topic(DEAD_LETTERS.name)
    letter = DeadLetter.model_validate_json(letter_value or b"")
    assert letter.source == f"gateway:{body['request_id']}/5" == letter_key.decode()
    assert letter.error_code == "schema.missing_field"
    assert orjson.loads(base64.b64decode(letter.original_base64)) == invalid
    assert response.headers["x-request-id"] == body["request_id"]


async def test_all_invalid_is_422_and_all_valid_is_202(gateway: Gateway) -> None:
    headers = gateway.tokens.headers("provider")
    rejected = await gateway.client.post("/v1/events", content=b"{not json", headers=headers)
    assert rejected.status_code == 422
    assert rejected.json()["results"][0]["problems"][0]["error_code"] == "json.malformed"
    (event,) = events_of("RYG", 1)
    accepted = await gateway.client.post("/v1/events", json=event, headers=headers)
    assert accepted.status_code == 202
    assert accepted.json()["results"] == [
        {"index": 0, "event_id": event["event_id"], "status": "accepted", "problems": []}
    ]
    assert len(await gateway.topic(DEAD_LETTERS.name)) == 1
    too_many = await gateway.client.post("/v1/events", json=[event] * 1001, headers=headers)
    assert too_many.status_code == 413


async def test_an_event_stored_by_the_pipeline_is_a_duplicate(gateway: Gateway) -> None:
    headers = gateway.tokens.headers("provider")
    events = events_of("RYG", 3)
    first = await gateway.client.post("/v1/events", json=events, headers=headers)
    assert first.status_code == 202
    produced = await gateway.topic(EVENTS.name)
    async with gateway.pool.acquire() as connection:
        await process_batch(
            connection,
            [Incoming(value or b"", f"test:{index}") for index, (_, value) in enumerate(produced)],
        )
    again = await gateway.client.post("/v1/events", json=[*events, events[0]], headers=headers)
    assert again.status_code == 202
    assert again.json()["duplicates"] == 4
    assert len(await gateway.topic(EVENTS.name)) == 3  # nothing produced the second time
