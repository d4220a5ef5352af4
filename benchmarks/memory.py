"""Memory per open referral: the worker's resident memory, and PostgreSQL's bytes.

Run ``.venv/bin/python -m benchmarks.memory`` (``--referrals 1000000`` for the large case).
A worker is started and warmed up on a few referrals; its process tree's resident memory is
then the idle baseline. Then ``--referrals`` open referrals are produced — each a
``referral.opened`` and one attended ``contact.recorded`` (events.md), never closed — and
processed; the worker's resident memory is read again, and the growth divided by the
referrals is ``bytes_per_referral``. The worker keeps its state in PostgreSQL, so the growth
of the service's tables (``pg_total_relation_size``: heap, indexes, TOAST) per referral is
reported beside it. Results go to ``benchmarks/results/memory.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import orjson
from rich.console import Console
from rich.table import Table

from benchmarks.common import (
    bench_stack,
    database_bytes,
    process_tree_rss,
    run_benchmark,
    running_workers,
    worker_logs,
    write_results,
)
from benchmarks.provenance import git_commit
from services.ingest import produce
from services.progress import wait_until_reflected

CATCH_UP_TIMEOUT_SECONDS = 7200.0
"""P: two million events at a few hundred per second take over an hour."""
WARM_UP_REFERRALS = 50
SETTLE_SECONDS = 2.0
"""P: let the worker finish publishing the last batch's outbox before reading its RSS."""
PROVIDERS = (("RYG", "05A", "RYG01"), ("RX4", "13T", "RX401"), ("RXT", "05A", "RXT01"))
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
START = date(2019, 4, 1)


def _identifier(rng: random.Random) -> str:
    """16 characters of events.md's alphabet, starting with a letter: never an NHS number."""
    return rng.choice(_ID_ALPHABET[:52]) + "".join(rng.choices(_ID_ALPHABET, k=15))


def open_referrals(count: int, seed: int) -> Iterator[bytes]:
    """``referral.opened`` then one attended direct ``contact.recorded`` per referral."""
    rng = random.Random(seed)
    for _ in range(count):
        provider, ccg, team = rng.choice(PROVIDERS)
        referral_id, patient_id = _identifier(rng), _identifier(rng)
        received = START + timedelta(days=rng.randrange(365))
        contact = received + timedelta(days=rng.randrange(1, 60))
        common = {
            "schema_version": 1,
            "provider_code": provider,
            "referral_id": referral_id,
            "patient_id": patient_id,
        }
        yield orjson.dumps(
            {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "event_type": "referral.opened",
                "occurred_at": f"{received.isoformat()}T09:00:00+00:00",
                "emitted_at": f"{received.isoformat()}T17:00:00+00:00",
                **common,
                "payload": {
                    "ccg_code": ccg,
                    "team_code": team,
                    "received_on": received.isoformat(),
                    "age_years": rng.randrange(5, 18),
                    "gender": rng.choice(("male", "female")),
                    "ethnicity": rng.choice(("A", "B", "C", "D", "H", "M")),
                    "looked_after": rng.random() < 0.05,
                    "ld_or_autism": rng.random() < 0.1,
                },
            }
        )
        yield orjson.dumps(
            {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "event_type": "contact.recorded",
                "occurred_at": f"{contact.isoformat()}T10:00:00+00:00",
                "emitted_at": f"{contact.isoformat()}T18:00:00+00:00",
                **common,
                "payload": {
                    "contact_id": _identifier(rng)[:12],
                    "contact_on": contact.isoformat(),
                    "attended": True,
                },
            }
        )


async def main(arguments: argparse.Namespace) -> None:
    console = Console()
    commit = git_commit()
    warm_up = list(open_referrals(WARM_UP_REFERRALS, arguments.seed + 1))
    measured = list(open_referrals(arguments.referrals, arguments.seed))
    async with bench_stack("memory") as stack:
        with running_workers(stack, 1) as workers:
            (worker,) = workers
            assert worker.pid is not None
            try:
                console.log("warming up the worker …")
                last = await produce(
                    stack.kafka_bootstrap_servers, warm_up, namespace=stack.namespace
                )
                async with asyncio.timeout(CATCH_UP_TIMEOUT_SECONDS):
                    await wait_until_reflected(stack.database_url, stack.events_topic, last)
                await asyncio.sleep(SETTLE_SECONDS)
                idle_rss = process_tree_rss(worker.pid)
                idle_db = sum((await database_bytes(stack.database_url)).values())
                console.log(f"producing {len(measured):,} events …")
                last = await produce(
                    stack.kafka_bootstrap_servers, measured, namespace=stack.namespace
                )
                console.log("processing …")
                async with asyncio.timeout(CATCH_UP_TIMEOUT_SECONDS):
                    await wait_until_reflected(stack.database_url, stack.events_topic, last)
            except TimeoutError:
                raise TimeoutError(f"worker did not catch up:\n{worker_logs(workers)}") from None
            await asyncio.sleep(SETTLE_SECONDS)
            loaded_rss = process_tree_rss(worker.pid)
            tables = await database_bytes(stack.database_url)
    loaded_db = sum(tables.values())
    referrals = arguments.referrals
    results = {
        "bytes_per_referral": round((loaded_rss - idle_rss) / referrals, 1),
        "postgres_bytes_per_referral": round((loaded_db - idle_db) / referrals, 1),
        "referrals": referrals,
        "events": len(measured),
        "workers": 1,
        "worker_idle_rss_bytes": idle_rss,
        "worker_loaded_rss_bytes": loaded_rss,
        "postgres_idle_bytes": idle_db,
        "postgres_loaded_bytes": loaded_db,
        "postgres_table_bytes": dict(sorted(tables.items(), key=lambda item: -item[1])),
    }
    table = Table(title=f"Memory for {referrals:,} open referrals (worker process tree RSS)")
    for header in ("", "idle", "loaded", "bytes/referral"):
        table.add_column(header, justify="right")
    table.add_row(
        "worker RSS",
        f"{idle_rss / 2**20:,.1f} MiB",
        f"{loaded_rss / 2**20:,.1f} MiB",
        f"{results['bytes_per_referral']:,.0f}",
    )
    table.add_row(
        "PostgreSQL tables+indexes",
        f"{idle_db / 2**20:,.1f} MiB",
        f"{loaded_db / 2**20:,.1f} MiB",
        f"{results['postgres_bytes_per_referral']:,.0f}",
    )
    console.print(table)
    path = write_results(arguments.output, results, commit=commit)
    console.print(f"wrote {path.relative_to(path.parents[2])}")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=100_000, help="open referrals")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--output", default="memory", help="results file name under benchmarks/results/"
    )
    return parser.parse_args()


if __name__ == "__main__":
    run_benchmark(main(parse_arguments()))
