"""Has the pipeline caught up? Decided from what PostgreSQL committed, never from the broker.

Broker end offsets and lag are wrong on Tansu (STREAMING.md), so the producer's own record
of the last offset it wrote per partition is compared with what the worker committed. An
offset is *reflected* (its effect is in the aggregates) once ``consumer_progress`` covers it
(the hot path stored its facts) and every referral marked pending up to then has been
derived: progress is read first, then the latest mark, so every fact counted by that
progress was marked at or below that mark (``services.store.pending``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping

import asyncpg

from services.store import facts, pending
from services.store.pool import connect

POLL_SECONDS = 0.2


class Reflection:
    """Offsets known to be reflected, learnt by polling.

    Each poll takes a snapshot (consumed offsets, latest mark); a snapshot is reflected once
    no mark at or below its own is pending. Several snapshots wait at once, so a reader
    learns of each offset within one poll of its derivation.
    """

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.reflected: dict[int, int] = {}
        self._awaiting: deque[tuple[dict[int, int], int]] = deque()

    async def poll(self, connection: asyncpg.Connection) -> dict[int, int]:
        """Advance and return the highest reflected offset per partition."""
        consumed = await facts.progress(connection, self.topic)
        self._awaiting.append((consumed, await pending.watermark(connection)))
        oldest = await pending.oldest(connection)
        while self._awaiting and (oldest is None or oldest > self._awaiting[0][1]):
            self.reflected = self._awaiting.popleft()[0]
        return self.reflected


def covers(reflected: Mapping[int, int], last_offsets: Mapping[int, int]) -> bool:
    return all(reflected.get(partition, -1) >= offset for partition, offset in last_offsets.items())


async def wait_until_reflected(
    dsn: str,
    topic: str,
    last_offsets: Mapping[int, int],
    *,
    on_progress: Callable[[int], None] | None = None,
) -> None:
    """Return once every partition's offset up to ``last_offsets`` is in the aggregates.

    Waits as long as it takes: bound it with ``asyncio.timeout``.
    """
    connection = await connect(dsn)
    reflection = Reflection(topic)
    try:
        while True:
            done = await reflection.poll(connection)
            if on_progress is not None:
                on_progress(sum(done.get(partition, -1) + 1 for partition in last_offsets))
            if covers(done, last_offsets):
                return
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await connection.close()
