"""The whole embedded stack (broker and database) as one async context manager."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from services.runtime.broker import EmbeddedBroker
from services.runtime.postgres import EmbeddedPostgres


@dataclass(frozen=True, slots=True)
class StackEndpoints:
    """Where the running stack's processes listen."""

    kafka_bootstrap_servers: str
    database_url: str


@asynccontextmanager
async def embedded_stack(
    *,
    kafka_bootstrap_servers: str | None = None,
    database_url: str | None = None,
    isolated_database: bool = False,
) -> AsyncIterator[StackEndpoints]:
    """Start what is not given (Tansu, PostgreSQL), yield the endpoints, stop it all.

    Given endpoints are used as they are; ``isolated_database`` puts this run in a fresh
    database that is dropped on exit (on an external server too).
    """
    async with EmbeddedPostgres(database_url, isolated=isolated_database) as postgres:
        if kafka_bootstrap_servers is not None:
            yield StackEndpoints(kafka_bootstrap_servers, postgres.dsn)
            return
        async with EmbeddedBroker() as broker:
            yield StackEndpoints(broker.bootstrap_servers, postgres.dsn)
