"""The worker: consumes ``roms.events.v1`` in batches and applies them to PostgreSQL.

A ``mode`` service (the service framework Faust is built on: lifecycle, signals, task
supervision; ``services.worker`` runs it) consuming with aiokafka ``getmany`` in the consumer
group. Faust's stream feed delivered a few hundred events per second to the batches here
(benchmarks/README.md), far below what a replay needs (STREAMING.md; issue 7). Three loops
share the work:
- the hot path: each batch from ``getmany`` is one PostgreSQL transaction that stores the
  facts and marks their referrals pending (``services.pipeline.batch``); offsets are
  committed to Kafka only after it returns, so a crash re-delivers at most the batch in
  flight, which the event_id dedup makes harmless;
- derivation: folds the oldest pending referrals, pass after pass, as long as any are
  pending (``services.pipeline.derive``), then waits to be woken by the hot path. A slower
  derivation folds more events per referral per pass;
- webhooks: delivers due alert webhooks (``services.alerts``).
What each transaction committed is then published from the outbox; the aggregates it moved
are published from their table every ``aggregate_publish_interval`` (a key moved by several
passes in between is sent once, with its newest figures: ``services.store.outbox``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from mode import Service

from scoring.figures import AggregateKey
from services.alerts import AlertPolicy, DeliveryPolicy, delivery_loop
from services.pipeline import outputs
from services.pipeline.batch import BatchReport, Incoming, ingest_batch
from services.pipeline.derive import DerivationReport, derive_pending
from services.runtime.memory import release_free_memory
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
_FINAL_DRAIN_SECONDS = 10.0
"""How long a stopping worker spends publishing its outbox (the next start sends the rest)."""
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Clients:
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    consumer: AIOKafkaConsumer


class Pipeline(Service):
    """The three loops of a worker, sharing one PostgreSQL pool and one producer."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.namespace = settings.topic_namespace
        self.alert_policy = AlertPolicy(settings.alert_min_n, settings.alert_overdispersion)
        self.delivery_policy = DeliveryPolicy(
            settings.webhook_max_attempts,
            settings.webhook_base_delay,
            settings.webhook_timeout,
            settings.webhook_poll_interval,
        )
        self.wake = asyncio.Event()
        self._clients: _Clients | None = None

    async def on_start(self) -> None:
        # aiokafka clients bind to the running loop: made here, not in __init__.
        settings = self.settings
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            acks="all",
            linger_ms=5,
            max_batch_size=1 << 20,
        )
        consumer = AIOKafkaConsumer(
            settings.topic_namespace + EVENTS.name,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=settings.batch_size,
            session_timeout_ms=round(settings.broker_session_timeout * 1000),
            heartbeat_interval_ms=round(settings.broker_heartbeat_interval * 1000),
            rebalance_timeout_ms=round(settings.broker_rebalance_timeout * 1000),
            request_timeout_ms=round(settings.broker_request_timeout * 1000),
        )
        # A connection for each deriver, the hot path, the two drains and webhook delivery.
        size = settings.derivers + 4
        pool = await _retrying(
            "connect", lambda: create_pool(str(settings.database_url), max_size=size)
        )
        self._clients = _Clients(pool, producer, consumer)
        async with pool.acquire() as connection:
            await migrations.require_current(connection)
        await producer.start()
        # Publish what a crashed predecessor committed but never sent.
        await self._drain_outbox()
        await self._publish_aggregates()
        await consumer.start()

    async def on_shutdown(self) -> None:
        """After mode has cancelled the loops (closing the clients under them would crash
        them): publish what was committed but not yet sent, then close."""
        if self._clients is not None:
            with contextlib.suppress(TimeoutError, *_TRANSIENT_DATABASE_ERRORS):
                async with asyncio.timeout(_FINAL_DRAIN_SECONDS):
                    await self._drain_outbox()
                    await self._publish_aggregates()
            await self._clients.consumer.stop()
            await self._clients.producer.stop()
            await self._clients.pool.close()

    @property
    def clients(self) -> _Clients:
        if self._clients is None:
            raise RuntimeError("the pipeline has not started")
        return self._clients

    @Service.task
    async def _consume(self) -> None:
        """Store each batch, then commit its offsets; wake derivation when it marked work."""
        wait_ms = round(self.settings.batch_wait * 1000)
        while not self.should_stop:
            fetched = await self.clients.consumer.getmany(
                timeout_ms=wait_ms, max_records=self.settings.batch_size
            )
            incoming = [
                Incoming.from_kafka(record.value or b"", record.topic, record.partition, offset)
                for messages in fetched.values()
                for record in messages
                if (offset := record.offset) is not None
            ]
            if not incoming:
                continue
            report = await self._ingest(incoming)
            if report.referrals:
                self.wake.set()
            if report.rejected:
                await self._drain_outbox()
            await self._commit(
                {tp: messages[-1].offset + 1 for tp, messages in fetched.items() if messages}
            )

    @Service.task
    async def _derive(self) -> None:
        """``derivers`` derivation loops side by side: while one pass waits for PostgreSQL,
        another scores and pairs; they claim different referrals (``SKIP LOCKED``) and take
        each aggregate row's lock in key order."""
        await asyncio.gather(*(self._derivation_loop() for _ in range(self.settings.derivers)))

    async def _derivation_loop(self) -> None:
        """Fold pending referrals while there are any; then sleep until woken or ``batch_wait``.

        After a pass, referrals gather for as long as the pass took (up to
        ``derivation_gather``) unless it was full: a pass's cost is mostly per aggregate key,
        and its keys grow far slower than its referrals (in a 2,000 events/s soak, 200
        referrals moved 8,100 keys, 600 moved 12,400 and 1,800 moved 16,700), so under load
        fewer, bigger passes fold more referrals per second; at low load passes are short, and
        so is the wait. The timeout also picks up referrals that another worker marked (or a
        crashed one left).
        """
        loop = asyncio.get_running_loop()
        while not self.should_stop:
            self.wake.clear()
            started = loop.time()
            report = await _retrying("derivation", self._derivation_pass)
            if report.referrals:
                log.info(
                    "referrals derived", referrals=report.referrals, aggregates=report.aggregates
                )
                await self._drain_outbox()
                release_free_memory()
                if report.referrals < self.settings.derivation_batch:
                    await self.sleep(min(loop.time() - started, self.settings.derivation_gather))
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.batch_wait):
                    await self.wake.wait()

    @Service.task
    async def _aggregates(self) -> None:
        """Publish the moved aggregates on a cadence, so passes in between coalesce."""
        while not self.should_stop:
            await asyncio.sleep(self.settings.aggregate_publish_interval)
            await self._publish_aggregates()

    @Service.task
    async def _deliver_webhooks(self) -> None:
        await delivery_loop(self.clients.pool, self.delivery_policy)

    async def _ingest(self, incoming: list[Incoming]) -> BatchReport:
        """Retry a batch on database errors with backoff; never move on without storing it."""

        async def ingest() -> BatchReport:
            async with self.clients.pool.acquire() as connection:
                return await ingest_batch(connection, incoming, namespace=self.namespace)

        report = await _retrying("batch", ingest)
        log.info(
            "batch stored",
            received=report.received,
            valid=report.valid,
            rejected=report.rejected,
            referrals=report.referrals,
        )
        return report

    async def _derivation_pass(self) -> DerivationReport:
        async with self.clients.pool.acquire() as connection:
            return await derive_pending(
                connection,
                limit=self.settings.derivation_batch,
                namespace=self.namespace,
                alert_policy=self.alert_policy,
            )

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit consumed offsets; a rebalance in between only means a harmless re-delivery."""
        try:
            await self.clients.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            log.warning("offsets not committed after a rebalance", error=str(error))

    async def _drain_outbox(self) -> None:
        async def drain() -> None:
            while await outbox.publish_pending(self.clients.pool, self._enqueue) > 0:
                pass

        await _retrying("outbox", drain)

    async def _publish_aggregates(self) -> None:
        def output(key: AggregateKey, stored: outbox.StoredAggregate | None) -> outbox.OutboxRecord:
            return outputs.aggregate_record(key, stored, self.namespace)

        drained = await _retrying(
            "aggregates",
            lambda: outbox.publish_aggregates(self.clients.pool, self._enqueue, output),
        )
        if drained.entries:
            log.info("aggregates published", moves=drained.entries, records=drained.records)
            release_free_memory()

    async def _enqueue(self, topic: str, key: bytes, value: bytes | None) -> Awaitable[object]:
        ack: Awaitable[object] = await self.clients.producer.send(topic, value=value, key=key)
        return ack


async def _retrying(work: str, operation: Callable[[], Awaitable[T]]) -> T:
    """Run ``operation`` until the database lets it finish, backing off between attempts.

    An error escaping here would crash the worker's service: it must stop loudly for a
    programming error, but ride out a database that is away.
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
