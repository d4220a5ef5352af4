"""The HTTP API (issue 5): FastAPI app factory, health, metrics and error handling.

Everything is versioned under ``/v1`` except the operational ``/healthz`` and ``/metrics``.
PostgreSQL and the broker are opened on first use and closed on shutdown, so the process
starts, and answers 503 with a JSON reason, while either is down. Each request gets an id
(``X-Request-ID``), which also names the gateway's dead letters.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final

import asyncpg
from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from services.api import alerts, gateway, read, reports
from services.api.database import CONNECT_TIMEOUT_SECONDS, Database
from services.api.errors import (
    DATABASE_DOWN_ERRORS,
    ApiError,
    DatabaseUnavailable,
    JsonResponse,
    error_response,
    handle_api_error,
    handle_database_down,
    handle_invalid_value,
)
from services.api.models import ErrorBody, Health
from services.api.ratelimit import GatewayLimit
from services.settings import Settings

API_VERSION: Final = "1.0.0"
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""P: seconds; fine below 50 ms, the p99 target of issue 5."""


class Metrics:
    """Prometheus metrics of one app, in their own registry (several apps per process in tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "roms_api_requests",
            "HTTP requests by route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "roms_api_request_seconds",
            "HTTP request latency by route template.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events = Counter(
            "roms_gateway_events",
            "Events posted to the gateway, by outcome.",
            ("status",),
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "roms_gateway_rate_limited",
            "Requests to POST /v1/events refused by the per-token rate limit, by token id.",
            ("token_id",),
            registry=self.registry,
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for ``settings`` (environment variables when omitted)."""
    settings = settings or Settings()
    metrics = Metrics()
    database = Database(settings.database_url)
    producers = gateway.Producers(
        settings.kafka_bootstrap_servers, settings.topic_namespace, metrics.events
    )
    limit = GatewayLimit(settings.gateway_rate, settings.gateway_burst, metrics.rate_limited)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await producers.close()
            await database.close()

    app = FastAPI(
        title="ROMs outcomes API",
        version=API_VERSION,
        description="Outcome figures of CYP mental health services (outcomes.md §4-5) for "
        "commissioners and providers, and an HTTPS ingest gateway for events (events.md). "
        "Every /v1 endpoint needs `Authorization: Bearer <token>` (`outcomes token create`); "
        "each aggregate carries its scoring version.",
        lifespan=lifespan,
        default_response_class=JsonResponse,
    )
    app.state.database = database
    app.state.producers = producers
    app.state.gateway_limit = limit
    app.add_exception_handler(ApiError, handle_api_error)
    app.add_exception_handler(asyncpg.DataError, handle_invalid_value)
    for error in DATABASE_DOWN_ERRORS:
        app.add_exception_handler(error, handle_database_down)
    app.include_router(read.router, tags=["figures"])
    app.include_router(reports.router, tags=["figures"])
    app.include_router(gateway.router, tags=["ingest"])
    app.include_router(alerts.router, tags=["alerts"])

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.request_id = uuid.uuid4().hex
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)
        metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    @app.get(
        "/healthz",
        response_model=Health,
        responses={503: {"model": ErrorBody}},
        tags=["operations"],
    )
    async def healthz() -> JsonResponse:
        """200 when PostgreSQL answers a query; 503 otherwise."""
        try:
            pool = await database.pool()
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                await pool.fetchval("SELECT 1")
        except DATABASE_DOWN_ERRORS:
            return error_response(DatabaseUnavailable())
        return JsonResponse({"status": "ok", "database": "ok"})

    @app.get("/metrics", response_class=Response, tags=["operations"])
    async def prometheus_metrics() -> Response:
        """Prometheus text exposition of request counts, latencies and gateway outcomes."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
