"""Run one Faust worker for the pipeline (``outcomes run``), in this process."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import faust

from services.app import create_app
from services.runtime.process import SupervisedProcess
from services.settings import Settings


def run_worker(settings: Settings) -> None:
    """Block until the worker is stopped (SIGINT/SIGTERM); binds no port (web disabled)."""
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, redirect_stdouts=False)
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
