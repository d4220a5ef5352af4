"""Has the pipeline caught up? Decided from what was consumed *and committed* to PostgreSQL.

Broker end offsets and lag are wrong on Tansu (STREAMING.md), so the producer's own record
of the last offset it wrote per partition is compared with ``consumer_progress``, which the
worker advances in the same transaction as the facts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from services.store import facts
from services.store.pool import connect

POLL_SECONDS = 0.2


async def wait_until_reflected(
    dsn: str,
    topic: str,
    last_offsets: Mapping[int, int],
    *,
    on_progress: Callable[[int], None] | None = None,
) -> None:
    """Return once every partition's committed offset reaches ``last_offsets``.

    Waits as long as it takes: bound it with ``asyncio.timeout``.
    """
    connection = await connect(dsn)
    try:
        while True:
            done = await facts.progress(connection, topic)
            if on_progress is not None:
                on_progress(sum(done.get(partition, -1) + 1 for partition in last_offsets))
            if all(done.get(partition, -1) >= offset for partition, offset in last_offsets.items()):
                return
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await connection.close()
