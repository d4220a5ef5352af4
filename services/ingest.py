"""Produce events to ``roms.events.v1``: from a JSONL file, or from memory (demo, tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from topics.registry import EVENTS

_KEY_FIELD = b'"referral_id"'


def event_key(raw: bytes) -> bytes:
    """The Kafka key of an event: its ``referral_id`` (events.md); raw bytes if unreadable.

    Invalid lines are still produced (keyed by their bytes) so the pipeline dead-letters
    them with a reason instead of the producer dropping them silently.
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:64]
    referral = value.get("referral_id") if isinstance(value, dict) else None
    return str(referral).encode() if referral is not None else raw[:64]


async def produce(
    bootstrap_servers: str,
    messages: Iterable[bytes],
    *,
    on_sent: Callable[[int], None] | None = None,
    namespace: str = "",
) -> dict[int, int]:
    """Produce every message, acknowledged by the broker; returns the last offset per partition."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", linger_ms=10)
    await producer.start()
    last: dict[int, int] = {}
    try:
        pending: list[asyncio.Future[RecordMetadata]] = []
        for raw in messages:
            pending.append(
                await producer.send(namespace + EVENTS.name, value=raw, key=event_key(raw))
            )
            if len(pending) >= 1000:
                last = _record(list(await asyncio.gather(*pending)), last, on_sent)
                pending = []
        last = _record(list(await asyncio.gather(*pending)), last, on_sent)
    finally:
        await producer.stop()
    return last


def _record(
    results: list[RecordMetadata], last: dict[int, int], on_sent: Callable[[int], None] | None
) -> dict[int, int]:
    for metadata in results:
        last[metadata.partition] = max(metadata.offset, last.get(metadata.partition, -1))
    if on_sent is not None and results:
        on_sent(len(results))
    return last


def read_jsonl(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


async def ingest_file(bootstrap_servers: str, path: Path, *, namespace: str = "") -> int:
    lines = read_jsonl(path)
    await produce(bootstrap_servers, lines, namespace=namespace)
    return len(lines)
