"""The Faust worker: consumes ``roms.events.v1`` in batches and applies them to PostgreSQL.

Faust owns what it is good at (consumer group membership, partition assignment, offset
commits, agent supervision); each batch from ``stream.take_events`` is one PostgreSQL
transaction (``services.pipeline.batch``), and what that transaction committed is then
published from the outbox. Offsets are committed by Faust only after the batch returns, so a
crash re-delivers at most the batches in flight, which the event_id dedup makes harmless.
Beside the agent, a task owned by it delivers due alert webhooks (``services.alerts``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import faust
import structlog
from aiokafka import AIOKafkaProducer

from services.alerts import AlertPolicy, DeliveryPolicy, delivery_loop
from services.pipeline.batch import BatchReport, Incoming, process_batch
from services.settings import Settings
from services.store import migrations, outbox
from services.store.pool import create_pool
from topics.registry import EVENTS

log = structlog.get_logger("roms.worker")

_DB_RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0, 8.0)
_TRANSIENT_DATABASE_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.OperatorInterventionError,
    asyncpg.DeadlockDetectedError,
)
"""A database away or restarting (refused, shut down, starting up, a connection closed
under a transaction, its protocol state left mid-operation) or a lost race: retried."""
T = TypeVar("T")


def create_app(settings: Settings, *, app_id: str | None = None) -> faust.App:
    """A Faust app wired with the STREAMING.md timings; nothing runs until a worker starts it."""
    if settings.kafka_bootstrap_servers is None or settings.database_url is None:
        raise ValueError("KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL must be set to run a worker")
    app = faust.App(app_id or settings.consumer_group, **settings.faust_settings())
    namespace = settings.topic_namespace
    alert_policy = AlertPolicy(settings.alert_min_n, settings.alert_overdispersion)
    delivery_policy = DeliveryPolicy(
        settings.webhook_max_attempts,
        settings.webhook_base_delay,
        settings.webhook_timeout,
        settings.webhook_poll_interval,
    )
    events = app.topic(
        namespace + EVENTS.name, key_type=bytes, value_type=bytes, value_serializer="raw"
    )

    @app.agent(events)
    async def apply_events(stream: Any) -> None:
        pool = await _retrying("connect", lambda: create_pool(str(settings.database_url)))
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            acks="all",
            linger_ms=5,
            max_batch_size=1 << 20,
        )
        webhooks: asyncio.Task[None] | None = None
        try:
            async with pool.acquire() as connection:
                await migrations.require_current(connection)
            await producer.start()
            # Publish what a crashed predecessor committed but never sent.
            await _retrying("outbox", lambda: _drain_outbox(pool, producer))
            webhooks = asyncio.create_task(delivery_loop(pool, delivery_policy))
            async for batch in stream.take_events(settings.batch_size, within=settings.batch_wait):
                incoming = [
                    Incoming.from_kafka(
                        bytes(event.value or b""),
                        event.message.topic,
                        event.message.partition,
                        event.message.offset,
                    )
                    for event in batch
                ]
                await _apply_with_retry(pool, incoming, namespace, alert_policy)
                await _retrying("outbox", lambda: _drain_outbox(pool, producer))
        finally:
            if webhooks is not None:
                webhooks.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await webhooks
            await producer.stop()
            await pool.close()

    return app


async def _retrying(work: str, operation: Callable[[], Awaitable[T]]) -> T:
    """Run ``operation`` until the database lets it finish, backing off between attempts.

    An error escaping here would crash the agent, and Faust's restarted agent never sees
    the events its predecessor had taken: the worker would stall without committing them.
    """
    attempt = 0
    while True:
        try:
            return await operation()
        except _TRANSIENT_DATABASE_ERRORS as error:
            if isinstance(error, ValueError):  # asyncpg's argument-encoding errors: a bug
                raise
            delay = _DB_RETRY_SECONDS[min(attempt, len(_DB_RETRY_SECONDS) - 1)]
            log.warning(f"database unavailable, retrying {work}", error=str(error), delay_s=delay)
            attempt += 1
            await asyncio.sleep(delay)


async def _apply_with_retry(
    pool: asyncpg.Pool, incoming: list[Incoming], namespace: str, alert_policy: AlertPolicy
) -> None:
    """Retry a batch on database errors with backoff; never move on without writing it."""

    async def apply() -> BatchReport:
        async with pool.acquire() as connection:
            return await process_batch(
                connection, incoming, namespace=namespace, alert_policy=alert_policy
            )

    report = await _retrying("batch", apply)
    log.info(
        "batch applied",
        received=report.received,
        valid=report.valid,
        rejected=report.rejected,
        referrals=report.referrals,
        aggregates=report.aggregates,
    )


async def _drain_outbox(pool: asyncpg.Pool, producer: AIOKafkaProducer) -> None:
    async def enqueue(topic: str, key: bytes, value: bytes | None) -> Awaitable[object]:
        ack: Awaitable[object] = await producer.send(topic, value=value, key=key)
        return ack

    while await outbox.publish_pending(pool, enqueue) > 0:
        pass
