"""Child-process supervision for the embedded broker and database.

Every child runs in its own process group, so stopping it also stops anything it forked
(PostgreSQL's backends, for instance), and is registered with ``atexit`` so that an
interpreter that exits without stopping it still leaves no orphan behind. ``SIGKILL`` of
the parent cannot be caught; the children then die with their own stdin pipe closed only
if they watch it, so tests and the demo always stop them explicitly.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# Project choice (P): how long a child gets to exit after SIGTERM before it is killed.
GRACEFUL_STOP_SECONDS = 10.0
# Project choice (P): how often readiness is polled while a child starts.
READINESS_POLL_SECONDS = 0.05


class ProcessStartError(RuntimeError):
    """A supervised child exited or did not become ready in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class SupervisedProcess:
    """One child in its own process group, stopped by ``stop_signal``, a wait, then KILL."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        user: str | None = None,
        env: dict[str, str] | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self._argv = list(argv)
        self._log_path = log_path
        self._user = user
        self._env = env
        self._stop_signal = stop_signal
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - argv built by us, no shell
                self._argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=self._user,
                env=self._env,
            )
        atexit.register(self.stop)

    def wait_until(self, is_ready: Callable[[], bool], timeout: float) -> None:
        """Poll ``is_ready`` until it holds; fail fast if the child exits first."""
        deadline = time.monotonic() + timeout
        while not is_ready():
            if self._process is None or self._process.poll() is not None:
                raise ProcessStartError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise ProcessStartError(
                    f"{self.name} not ready after {timeout} s:\n{self.log_tail()}"
                )
            time.sleep(READINESS_POLL_SECONDS)

    def stop(self) -> None:
        """Stop the whole process group; safe to call more than once."""
        process, self._process = self._process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        if process.poll() is None:
            self._signal_group(process.pid, self._stop_signal)
            try:
                process.wait(GRACEFUL_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self._signal_group(process.pid, signal.SIGKILL)
                process.wait()
        # Reap stragglers the leader left in its group (it is gone, the group id lives on).
        self._signal_group(process.pid, signal.SIGKILL)

    def log_tail(self, max_chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self._log_path.read_text(errors="replace")[-max_chars:]
        return ""

    @staticmethod
    def _signal_group(group_id: int, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group_id, signum)
