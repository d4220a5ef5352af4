"""The API half of the soak: ``outcomes api`` in its own process, and an open-loop load.

The load is a commissioner's: one real token (issued in the store like ``outcomes token
create`` does) over every simulated CCG, asking a fixed-seed mix of aggregate reads and
whole commissioner tables at a steady rate; a slow answer does not slow the senders. The
requests are sent with aiohttp: httpx cost ~2 ms of CPU per request (its pool bookkeeping
took 70% of the load generator's samples in a 2,000 events/s soak), CPU taken from the
service it measures on the same 2 cores.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp

from benchmarks.common import BenchStack
from services.api.tokens import Role, create_token
from services.runtime import SupervisedProcess, free_port
from services.store.pool import connect

API_START_TIMEOUT_SECONDS = 60.0
API_TIMEOUT_SECONDS = 10.0
"""P: an answer later than this after it was due counts as a timeout (an error)."""
CONNECTIONS = 64
TICK_SECONDS = 0.005
"""P: the senders wake every 5 ms and send what is due."""
COMMISSIONER_CCGS = ("05A", "13T", "99C")
"""Every CCG of ``services.simulate``: the token reads them all, suppressed."""
AGGREGATE_QUERIES = (
    "/v1/aggregates?level=ccg&code=05A&period_kind=quarter&cohort=all",
    "/v1/aggregates?level=ccg_provider&code=05A/RYG&period_kind=month",
    "/v1/aggregates?level=ccg&code=13T&period=2019/20&cohort=age_band",
    "/v1/aggregates?level=national&period_kind=quarter&cohort=all",
    "/v1/aggregates?cohort=all&period_kind=quarter&limit=100",
)
REPORT_QUERIES = (
    "/v1/reports/outcomes?ccg=05A&year=2019/20",
    "/v1/reports/outcomes?ccg=13T&year=2019/20&format=csv",
    "/v1/reports/outcomes?ccg=99C&year=2019/20&provider=RX4",
)
REPORT_SHARE = 0.3
"""P: a commissioner's mix, mostly aggregate reads, some whole tables."""


@dataclass(slots=True)
class ApiLoad:
    """Every request's latency (answered or not) and how it ended."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    """Seconds, per endpoint (the path without its query)."""
    statuses: Counter[int] = field(default_factory=Counter)
    timeouts: int = 0
    transport_errors: int = 0

    @property
    def requests(self) -> int:
        return sum(len(seconds) for seconds in self.latencies.values())

    @property
    def errors(self) -> int:
        non_2xx = sum(n for status, n in self.statuses.items() if not 200 <= status < 300)
        return non_2xx + self.timeouts + self.transport_errors


def _api_paths(seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    while True:
        queries = REPORT_QUERIES if rng.random() < REPORT_SHARE else AGGREGATE_QUERIES
        yield rng.choice(queries)


async def _request(
    client: aiohttp.ClientSession, path: str, load: ApiLoad, connections: asyncio.Semaphore
) -> None:
    """One request, timed from when it was due (waiting for a connection included)."""
    due = time.perf_counter()
    try:
        async with (
            asyncio.timeout(API_TIMEOUT_SECONDS),
            connections,
            client.get(path) as response,
        ):
            await response.read()
            status = response.status
    except TimeoutError:
        load.timeouts += 1
    except (OSError, aiohttp.ClientError):
        load.transport_errors += 1
    else:
        load.statuses[status] += 1
    endpoint = path.partition("?")[0]
    load.latencies.setdefault(endpoint, []).append(time.perf_counter() - due)


async def load_api(
    client: aiohttp.ClientSession, seconds: float, rate: float, seed: int
) -> ApiLoad:
    """Open loop: requests at ``rate`` per second for ``seconds``, whatever the answers.

    Requests beyond the client's connections wait for one here, so that thousands queued
    (an API slower than the rate) cost the load generator nothing while they wait.
    """
    load = ApiLoad()
    paths = _api_paths(seed)
    connections = asyncio.Semaphore(CONNECTIONS)
    tasks: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    sent = 0
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(int(elapsed * rate) + 1 - sent):
            task = asyncio.create_task(_request(client, next(paths), load, connections))
            task.add_done_callback(tasks.discard)
            tasks.add(task)
            sent += 1
        await asyncio.sleep(TICK_SECONDS)
    await asyncio.gather(*tasks)
    return load


@asynccontextmanager
async def running_api(
    stack: BenchStack,
) -> AsyncIterator[tuple[SupervisedProcess, aiohttp.ClientSession]]:
    """``outcomes api`` in its own process, and a client holding a commissioner's token."""
    connection = await connect(stack.database_url)
    try:
        issued = await create_token(connection, Role.COMMISSIONER, COMMISSIONER_CCGS, "soak")
    finally:
        await connection.close()
    port = free_port()
    api = SupervisedProcess(
        "outcomes-api",
        [sys.executable, "-m", "services.cli", "api"],
        log_path=stack.workdir / "api.log",
        env={
            **os.environ,
            "DATABASE_URL": stack.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
            "TOPIC_NAMESPACE": stack.namespace,
            "API_PORT": str(port),
            "LOG_LEVEL": "WARNING",
        },
    )
    api.start()
    try:
        async with aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {issued.token}"},
            connector=aiohttp.TCPConnector(limit=CONNECTIONS),
        ) as client:
            async with asyncio.timeout(API_START_TIMEOUT_SECONDS):
                while not await _healthy(client):  # noqa: ASYNC110 (polling another process)
                    await asyncio.sleep(0.1)
            yield api, client
    finally:
        api.stop()


async def _healthy(client: aiohttp.ClientSession) -> bool:
    try:
        async with client.get("/healthz") as response:
            return response.status == 200
    except (OSError, aiohttp.ClientError):
        return False
