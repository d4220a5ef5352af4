"""The Faust worker: consumes ``roms.events.v1`` in batches and applies them to PostgreSQL.

Faust owns what it is good at (consumer group membership, partition assignment, offset
commits, agent supervision). Two loops share the work (issue 7):
- the hot path: each batch from ``stream.take_events`` is one PostgreSQL transaction that
  stores the facts and marks their referrals pending (``services.pipeline.batch``). Offsets
  are committed by Faust only after it returns, so a crash re-delivers at most the batches
  in flight, which the event_id dedup makes harmless;
- derivation: a task owned by the agent folds the oldest pending referrals, pass after
  pass, as long as any are pending (``services.pipeline.derive``), then waits to be woken
  by the hot path. A slower derivation folds more events per referral per pass.
What each transaction committed is then published from the outbox. A third task delivers
due alert webhooks (``services.alerts``).
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
from services.pipeline.batch import BatchReport, Incoming, ingest_batch
from services.pipeline.derive import DerivationReport, derive_pending
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
        wake = asyncio.Event()
        helpers: list[asyncio.Task[None]] = []
        try:
            async with pool.acquire() as connection:
                await migrations.require_current(connection)
            await producer.start()
            # Publish what a crashed predecessor committed but never sent.
            await _retrying("outbox", lambda: _drain_outbox(pool, producer))
            helpers = [
                asyncio.create_task(delivery_loop(pool, delivery_policy)),
                asyncio.create_task(
                    _derive_continuously(pool, producer, wake, settings, alert_policy)
                ),
            ]
            async for batch in stream.take_events(settings.batch_size, within=settings.batch_wait):
                _raise_if_failed(helpers)
                incoming = [
                    Incoming.from_kafka(
                        bytes(event.value or b""),
                        event.message.topic,
                        event.message.partition,
                        event.message.offset,
                    )
                    for event in batch
                ]
                report = await _ingest_with_retry(pool, incoming, namespace)
                if report.referrals:
                    wake.set()
                if report.rejected:
                    await _retrying("outbox", lambda: _drain_outbox(pool, producer))
        finally:
            for helper in helpers:
                helper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await helper
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


async def _ingest_with_retry(
    pool: asyncpg.Pool, incoming: list[Incoming], namespace: str
) -> BatchReport:
    """Retry a batch on database errors with backoff; never move on without storing it."""

    async def ingest() -> BatchReport:
        async with pool.acquire() as connection:
            return await ingest_batch(connection, incoming, namespace=namespace)

    report = await _retrying("batch", ingest)
    log.info(
        "batch stored",
        received=report.received,
        valid=report.valid,
        rejected=report.rejected,
        referrals=report.referrals,
    )
    return report


async def _derive_continuously(
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    wake: asyncio.Event,
    settings: Settings,
    alert_policy: AlertPolicy,
) -> None:
    """Fold pending referrals while there are any; then sleep until woken or ``batch_wait``.

    The timeout also picks up referrals that another worker marked (or a crashed one left).
    """

    async def derive() -> DerivationReport:
        async with pool.acquire() as connection:
            return await derive_pending(
                connection,
                limit=settings.derivation_batch,
                namespace=settings.topic_namespace,
                alert_policy=alert_policy,
            )

    while True:
        wake.clear()
        report = await _retrying("derivation", derive)
        if report.referrals:
            log.info("referrals derived", referrals=report.referrals, aggregates=report.aggregates)
            await _retrying("outbox", lambda: _drain_outbox(pool, producer))
            continue
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.batch_wait):
                await wake.wait()


def _raise_if_failed(tasks: list[asyncio.Task[None]]) -> None:
    """A helper task that died must take the agent down with it, loudly, not stall it."""
    for task in tasks:
        if task.done():
            task.result()
            raise RuntimeError(f"worker task {task.get_name()} stopped")


async def _drain_outbox(pool: asyncpg.Pool, producer: AIOKafkaProducer) -> None:
    async def enqueue(topic: str, key: bytes, value: bytes | None) -> Awaitable[object]:
        ack: Awaitable[object] = await producer.send(topic, value=value, key=key)
        return ack

    while await outbox.publish_pending(pool, enqueue) > 0:
        pass
