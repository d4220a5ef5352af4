"""Run one pipeline worker (``outcomes run``), in this process."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Final

from mode import Worker

from services.app import Pipeline
from services.runtime.process import SupervisedProcess
from services.settings import Settings
from services.store.migrations import SchemaOutOfDate, require_current
from services.store.pool import connect

RECORD_LOGGING_LIBRARIES: Final = ("aiokafka", "kafka")
"""Loggers that would print message keys and values at DEBUG; kept at INFO or above."""


async def _check_schema(dsn: str) -> None:
    connection = await connect(dsn)
    try:
        await require_current(connection)
    finally:
        await connection.close()


def run_worker(settings: Settings) -> None:
    """Block until the worker is stopped (SIGINT/SIGTERM); binds no port (web disabled).

    Refuses to start (exit status 2, with the remedy) against a database whose schema is
    older than this code, rather than joining the group and crashing on every batch.
    """
    if settings.database_url is None:
        raise SystemExit("DATABASE_URL is not set: point it at the service's PostgreSQL")
    try:
        asyncio.run(_check_schema(settings.database_url))
    except SchemaOutOfDate as error:
        print(f"outcomes run: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    worker = Worker(Pipeline(settings), loglevel=settings.log_level, redirect_stdouts=False)
    # Kafka clients log every record they send or fetch at DEBUG (keys and values: referral
    # ids, outcomes): an operator turning logging up must not turn personal data on.
    for name in RECORD_LOGGING_LIBRARIES:
        logging.getLogger(name).setLevel(
            max(logging.INFO, logging.getLevelName(settings.log_level))
        )
    worker.execute_from_commandline()


def worker_process(
    *,
    kafka_bootstrap_servers: str,
    database_url: str,
    consumer_group: str,
    log_path: Path,
    topic_namespace: str = "",
    extra_env: dict[str, str] | None = None,
) -> SupervisedProcess:
    """A worker as a supervised child process (``outcomes run``): the demo and the tests run
    the real command, so a SIGKILL hits exactly what production runs."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
        "DATABASE_URL": database_url,
        "CONSUMER_GROUP": consumer_group,
        "TOPIC_NAMESPACE": topic_namespace,
        **(extra_env or {}),
    }
    return SupervisedProcess(
        "worker",
        [sys.executable, "-m", "services.cli", "run"],
        log_path=log_path,
        env=env,
    )
