"""HTTPS ingest gateway: ``POST /v1/events`` for EPRs that cannot speak Kafka (events.md).

One event or a JSON array of up to :data:`MAX_EVENTS`, each validated by
:func:`topics.parse_event` exactly as the pipeline does. Each is answered on its own:
- ``accepted``: produced to ``roms.events.v1`` (keyed by ``referral_id``) and acknowledged
  by the broker (``acks=all``) before the answer is sent; coded scores left out of it are
  listed, and dead-lettered by the pipeline as for any Kafka event;
- ``duplicate``: its ``event_id`` is already stored, or repeats one earlier in the request;
  nothing is produced (the pipeline would ignore it anyway: idempotent by ``event_id``);
- ``rejected``: invalid; its problems are answered and its dead letter is produced to
  ``roms.deadletter.v1`` with source ``gateway:<request id>/<index>`` (P: the index keeps
  two rejections of one request apart, as Kafka coordinates do);
- ``forbidden``: valid, but for a provider the token may not write for (not dead-lettered:
  the event is not wrong, its sender is).
HTTP 202 when every event is accepted or a duplicate, 422 when none is (403 when all are
forbidden), 207 Multi-Status otherwise. A broker failure answers 503 with nothing
acknowledged; retrying is safe, since events are idempotent by ``event_id``. A token over
its rate (``GATEWAY_RATE`` requests/s, ``GATEWAY_BURST`` at once) is answered 429 with
``Retry-After`` before its body is read (:mod:`services.api.ratelimit`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Final

import asyncpg
import orjson
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, Request
from prometheus_client import Counter

import topics
from services.api.auth import Authenticated, forbidden, may_post_for
from services.api.database import connection
from services.api.errors import ApiError, JsonResponse
from services.api.models import ErrorBody, EventResult, EventStatus, IngestResponse, Problem
from services.api.ratelimit import GatewayLimit
from services.api.tokens import Principal, Role
from topics.parse import MAX_EVENT_BYTES
from topics.registry import DEAD_LETTERS, EVENTS

log = structlog.get_logger("roms.gateway")
router = APIRouter(prefix="/v1")

MAX_EVENTS: Final = 1_000
"""Issue 5 / events.md: one event or an array of up to 1,000."""
MAX_BODY_BYTES: Final = 16 * 1024 * 1024
"""P: room for 1,000 realistic events (a few kB each); a body beyond it is refused (413)."""
BROKER_TIMEOUT_SECONDS: Final = 15.0
"""P: how long a request waits for the broker's acknowledgements before answering 503."""


class Producers:
    """The gateway's Kafka producer, started on first use so reads work without a broker."""

    def __init__(self, bootstrap_servers: str | None, namespace: str, metrics: Counter) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.events_topic = namespace + EVENTS.name
        self.dead_letter_topic = namespace + DEAD_LETTERS.name
        self.metrics = metrics
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def producer(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        if self.bootstrap_servers is None:
            raise ApiError(503, "service.ingest_disabled", "this gateway has no broker configured")
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap_servers, acks="all", linger_ms=2
                )
                try:
                    async with asyncio.timeout(BROKER_TIMEOUT_SECONDS):
                        await producer.start()
                except (KafkaError, OSError, TimeoutError) as error:
                    await producer.stop()
                    raise _broker_unavailable() from error
                self._producer = producer
        return self._producer

    async def send_all(self, messages: Sequence[tuple[str, bytes, bytes]]) -> None:
        """Produce ``(topic, key, value)`` and return once the broker acknowledged them all."""
        if not messages:
            return
        producer = await self.producer()
        try:
            async with asyncio.timeout(BROKER_TIMEOUT_SECONDS):
                sent = [
                    await producer.send(topic, value=value, key=key)
                    for topic, key, value in messages
                ]
                await asyncio.gather(*sent)
        except (KafkaError, TimeoutError) as error:
            raise _broker_unavailable() from error

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


def _broker_unavailable() -> ApiError:
    return ApiError(
        503,
        "service.broker_unavailable",
        "the event broker did not acknowledge; nothing was accepted, retry the same events",
        {"Retry-After": "5"},
    )


FORBIDDEN_PROVIDER: Final = "auth.forbidden_provider"


@dataclass(slots=True)
class _Outcome:
    index: int
    raw: bytes
    event_id: str | None
    status: EventStatus
    problems: list[topics.Problem] = field(default_factory=list)
    event: topics.Event | None = None

    def result(self) -> EventResult:
        if self.status == "forbidden":
            problems = [
                Problem(
                    error_code=FORBIDDEN_PROVIDER,
                    field="provider_code",
                    message="this token may not write events for this provider",
                )
            ]
        else:
            problems = [
                Problem(error_code=p.error_code, field=p.field, message=p.message)
                for p in self.problems
            ]
        return EventResult(
            index=self.index, event_id=self.event_id, status=self.status, problems=problems
        )


async def _read_body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "request.too_large", f"a request may carry {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def split_events(body: bytes) -> list[bytes]:
    """The raw bytes of each posted event: the elements of an array, else the body itself
    (anything unreadable goes to :func:`topics.parse_event` whole, to be answered properly)."""
    if not body.lstrip().startswith(b"["):
        return [body]
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError:
        return [body]
    if len(items) > MAX_EVENTS:
        raise ApiError(413, "request.too_many_events", f"post at most {MAX_EVENTS} events")
    if not items:
        raise ApiError(422, "request.empty", "the array holds no event")
    return [orjson.dumps(item) for item in items]


def _claimed_event_id(raw: bytes) -> str | None:
    """The ``event_id`` an invalid event claims, if readable, to help the sender match."""
    if len(raw) > MAX_EVENT_BYTES:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    claimed = value.get("event_id") if isinstance(value, dict) else None
    return claimed[:64] if isinstance(claimed, str) else None


def _classify(index: int, raw: bytes, principal: Principal) -> _Outcome:
    try:
        event = topics.parse_event(raw)
    except topics.InvalidEvent as invalid:
        return _Outcome(index, raw, _claimed_event_id(raw), "rejected", invalid.problems)
    event_id = str(event.event_id)
    if not may_post_for(principal, event.provider_code):
        return _Outcome(index, raw, event_id, "forbidden")
    left_out = list(getattr(event.payload, "rejected", ()))
    return _Outcome(index, raw, event_id, "accepted", left_out, event)


async def _mark_duplicates(db: asyncpg.Connection, outcomes: Sequence[_Outcome]) -> None:
    """Accepted events already stored, or repeated within the request, become duplicates."""
    accepted = [outcome for outcome in outcomes if outcome.status == "accepted"]
    stored = {
        str(row["event_id"])
        for row in await db.fetch(
            "SELECT event_id FROM events WHERE event_id = ANY($1::uuid[])",
            [outcome.event_id for outcome in accepted],
        )
    }
    seen: set[str | None] = set()
    for outcome in accepted:
        if outcome.event_id in stored or outcome.event_id in seen:
            outcome.status = "duplicate"
        seen.add(outcome.event_id)


def _status_code(outcomes: Sequence[_Outcome]) -> int:
    statuses = {outcome.status for outcome in outcomes}
    if statuses <= {"accepted", "duplicate"}:
        return 202
    if statuses == {"forbidden"}:
        return 403
    if statuses.isdisjoint({"accepted", "duplicate"}):
        return 422
    return 207


async def within_rate(request: Request, principal: Authenticated) -> Principal:
    """The authenticated principal, once its token's bucket admits one more request."""
    limit: GatewayLimit = request.app.state.gateway_limit
    limit.admit(principal.token_id)
    return principal


RETRY_AFTER_HEADER: Final = {
    "Retry-After": {
        "description": "Whole seconds after which a request from this token is admitted.",
        "schema": {"type": "integer", "minimum": 1},
    }
}


@router.post(
    "/events",
    status_code=202,
    response_model=IngestResponse,
    responses={
        207: {"model": IngestResponse, "description": "Some events accepted, some not."},
        422: {"model": IngestResponse, "description": "No event accepted."},
        **{status: {"model": ErrorBody} for status in (401, 403, 413, 503)},
        429: {
            "model": ErrorBody,
            "description": "This token sent more than `GATEWAY_RATE` requests per second on"
            " average or `GATEWAY_BURST` at once (`request.rate_limited`); retry after"
            " `Retry-After` seconds.",
            "headers": RETRY_AFTER_HEADER,
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"type": "object", "description": "One event (events.md)."},
                            {"type": "array", "items": {"type": "object"}, "maxItems": MAX_EVENTS},
                        ]
                    }
                }
            },
        }
    },
    summary="Send one event or an array of up to 1,000 (events.md)",
)
async def post_events(
    request: Request,
    principal: Annotated[Principal, Depends(within_rate)],
    db: Annotated[asyncpg.Connection, Depends(connection)],
) -> JsonResponse:
    """Answered per event, each accepted one only after the broker acknowledged it."""
    if principal.role not in {Role.PROVIDER, Role.ADMIN}:
        raise forbidden("only provider tokens post events")
    request_id: str = request.state.request_id
    outcomes = [
        _classify(index, raw, principal)
        for index, raw in enumerate(split_events(await _read_body(request)))
    ]
    await _mark_duplicates(db, outcomes)
    producers: Producers = request.app.state.producers
    messages = [
        (producers.events_topic, EVENTS.key(outcome.event), outcome.raw)
        for outcome in outcomes
        if outcome.status == "accepted" and outcome.event is not None
    ]
    for outcome in outcomes:
        if outcome.status == "rejected":
            letter = topics.dead_letter(
                outcome.raw, outcome.problems, f"gateway:{request_id}/{outcome.index}"
            )
            messages.append(
                (
                    producers.dead_letter_topic,
                    DEAD_LETTERS.key(letter),
                    DEAD_LETTERS.value.dump_json(letter),
                )
            )
    await producers.send_all(messages)
    counts = {status: 0 for status in ("accepted", "duplicate", "rejected", "forbidden")}
    for outcome in outcomes:
        counts[outcome.status] += 1
        producers.metrics.labels(outcome.status).inc()
    if counts["forbidden"]:
        log.warning("events refused for scope", token_id=principal.token_id, **counts)
    body = IngestResponse(
        request_id=request_id,
        accepted=counts["accepted"],
        duplicates=counts["duplicate"],
        rejected=counts["rejected"],
        forbidden=counts["forbidden"],
        results=[outcome.result() for outcome in outcomes],
    )
    return JsonResponse(body.model_dump(mode="json"), status_code=_status_code(outcomes))
