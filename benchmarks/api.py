"""``GET /v1/aggregates`` latency and throughput with a store the size 1,000,000 referrals make.

Run ``.venv/bin/python -m benchmarks.api [--rate 200] [--seconds 20]`` (embedded PostgreSQL,
or ``DATABASE_URL``'s server). The store holds the aggregate rows of 1,000,000 referral
outcomes closed in one financial year across England-sized dimensions (P): 106 CCGs, 250
providers serving 3 CCGs each (750 ``ccg_provider`` codes), 2 teams per provider; 17 periods
(12 months, 4 quarters, the year) × 19 cohort values × 2 methods: ~1.0 million rows, written
directly with SQL, each carrying the figures of a real aggregate (a small simulated cohort
through the real pipeline) with its counts varied. Aggregates are precomputed, so the API's
cost depends on the rows it serves, not on how many referrals made them.

The API runs as ``outcomes api`` in its own process (uvicorn, one worker); the load comes
from commissioner tokens (the suppressed path) asking a fixed-seed mix of realistic queries,
sent with aiohttp's client (httpx cost ~2 ms of CPU per request, more than the API it
measured, on the two cores the API and PostgreSQL share with the load):
1. an open-loop phase at ``--rate`` requests/s for ``--seconds``, one commissioner (its rows
   soon cached): latency p50/p99 from each request's due time (no coordinated omission);
   the target is p99 < 50 ms at 200 requests/s (issue 5);
2. the same over every CCG, one row seldom asked twice (mostly uncached rows);
3. a closed-loop phase with ``--concurrency`` clients, one commissioner (the most
   requests/s it sustains).
``--baseline DIR`` first measures the API of another checkout (``git archive COMMIT | tar -x
-C DIR``) on the same store, for a before/after. Results are printed and written to
``benchmarks/results/api.json`` with the git commit and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
# benchmarks/scoring.py sits in this file's folder, first on sys.path: it would shadow the package.
sys.path[0] = str(REPO)

from benchmarks.provenance import git_commit  # noqa: E402
from services.api.tokens import Role, create_token  # noqa: E402
from services.pipeline.batch import Incoming, process_batch  # noqa: E402
from services.runtime import (  # noqa: E402
    EmbeddedPostgres,
    SupervisedProcess,
    create_database,
    drop_database,
    free_port,
)
from services.simulate import simulate  # noqa: E402
from services.store.migrations import upgrade  # noqa: E402
from services.store.pool import connect  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "api.json"
SEED = 20240601
REFERRALS = 1_000_000
CCGS, PROVIDERS, CCGS_PER_PROVIDER, TEAMS_PER_PROVIDER = 106, 250, 3, 2
YEAR = "2019/20"
MONTHS = [f"{2019 + (m > 12)}-{(m - 1) % 12 + 1:02d}" for m in range(4, 16)]
QUARTERS = [f"{YEAR} Q{q}" for q in range(1, 5)]
COHORTS = [
    ("all", "all"),
    *(("age_band", band) for band in ("0-4", "5-10", "11-15", "16-17")),
    *(("gender", g) for g in ("male", "female", "other", "unknown")),
    *(
        ("ethnic_group", group)
        for group in (
            "White",
            "Mixed",
            "Asian or Asian British",
            "Black or Black British",
            "Other",
            "Not stated/known",
        )
    ),
    *(("looked_after", v) for v in ("true", "false")),
    *(("ld_or_autism", v) for v in ("true", "false")),
]


def ccg(i: int) -> str:
    return f"{i:02d}X"[-3:] if i < 100 else f"{i}"


def provider(i: int) -> str:
    return f"R{i:02d}"[-3:] if i < 100 else f"R{i - 100:02d}Z"[:5]


def codes() -> list[tuple[str, str]]:
    rows = [("national", "ENG")]
    rows += [("ccg", ccg(c)) for c in range(CCGS)]
    for p in range(PROVIDERS):
        rows.append(("provider", provider(p)))
        rows += [("team", f"{provider(p)}/T{t}") for t in range(TEAMS_PER_PROVIDER)]
        rows += [
            ("ccg_provider", f"{ccg((p * 7 + k * 31) % CCGS)}/{provider(p)}")
            for k in range(CCGS_PER_PROVIDER)
        ]
    return rows


async def template_row(dsn: str) -> tuple[dict[str, float], dict[str, Any]]:
    """The counters and stored figures of a real aggregate: a small simulated cohort through
    the pipeline."""
    connection = await connect(dsn)
    try:
        messages = [orjson.dumps(event) for event in simulate(60, 1)]
        batch = [Incoming(raw, f"bench:{index}") for index, raw in enumerate(messages)]
        await process_batch(connection, batch)
        row = await connection.fetchrow(
            "SELECT counters, figures FROM aggregates WHERE level = 'national'"
            " AND period_kind = 'year' AND cohort = 'all' AND method = 'default'"
        )
        await connection.execute("DELETE FROM aggregates")
        return row["counters"], row["figures"]
    finally:
        await connection.close()


async def fill(dsn: str) -> int:
    """Write every aggregate row with SQL, counts varied per row by a hash of its key."""
    counters, figures = await template_row(dsn)
    levels, code_values = zip(*codes(), strict=True)
    periods = [(p, "month") for p in MONTHS] + [(q, "quarter") for q in QUARTERS]
    periods.append((YEAR, "year"))
    period_values, kinds = zip(*periods, strict=True)
    cohorts, cohort_values = zip(*COHORTS, strict=True)
    connection = await connect(dsn)
    try:
        await connection.execute(
            """
            INSERT INTO aggregates (method, level, code, period, period_kind, cohort,
                                    cohort_value, counters, figures, events, scoring_version)
            SELECT m.method, c.level, c.code, p.period, p.kind, k.cohort, k.cohort_value,
                   ($8::jsonb || v.counts)::json, ($7::jsonb || v.counts)::json, 1000, 'bench'
            FROM unnest($1::text[], $2::text[]) AS c(level, code),
                 unnest($3::text[], $4::text[]) AS p(period, kind),
                 unnest($5::text[], $6::text[]) AS k(cohort, cohort_value),
                 unnest(ARRAY['default', 'nhs']) AS m(method),
                 LATERAL (SELECT jsonb_build_object(
                     'closed_referrals', abs(hashtext(c.code || p.period || k.cohort_value)) % 400,
                     'paired_self', abs(hashtext(p.period || c.code)) % 60)) AS v(counts)
            """,
            list(levels),
            list(code_values),
            list(period_values),
            list(kinds),
            list(cohorts),
            list(cohort_values),
            figures,
            counters,
        )
        await connection.execute("ANALYZE aggregates")
        rows: int = await connection.fetchval("SELECT count(*) FROM aggregates")
        return rows
    finally:
        await connection.close()


Commissioner = tuple[str, list[str]]
"""A CCG code and the providers serving it."""


def commissioners() -> list[Commissioner]:
    serving: dict[str, list[str]] = {ccg(c): [] for c in range(CCGS)}
    for level, code in codes():
        if level == "ccg_provider":
            commissioner, provider_code = code.split("/")
            serving[commissioner].append(provider_code)
    return sorted((code, providers) for code, providers in serving.items() if providers)


def queries(readers: Sequence[Commissioner], rng: random.Random, n: int) -> list[str]:
    """A commissioner's realistic mix: its providers by quarter, its CCG by month and by age
    band, the first page of everything it may read, and some per-measure detail."""
    mix = []
    for _ in range(n):
        commissioner, providers = rng.choice(readers)
        choice = rng.random()
        if choice < 0.35:
            code = f"{commissioner}/{rng.choice(providers)}"
            mix.append(f"/v1/aggregates?level=ccg_provider&code={code}&period_kind=quarter")
        elif choice < 0.65:
            mix.append(f"/v1/aggregates?level=ccg&code={commissioner}&period_kind=month&cohort=all")
        elif choice < 0.8:
            mix.append(
                f"/v1/aggregates?level=ccg&code={commissioner}&period={YEAR}&cohort=age_band"
            )
        elif choice < 0.9:
            mix.append("/v1/aggregates?cohort=all&period_kind=quarter&limit=100")
        else:
            mix.append(
                f"/v1/aggregates?level=ccg&code={commissioner}&period_kind=quarter&cohort=all"
                "&measure=SDQ"
            )
    return mix


async def fetch(client: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    """The status and body of ``GET url``."""
    async with client.get(url) as response:
        return response.status, await response.read()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def open_loop(client: aiohttp.ClientSession, urls: list[str], rate: float) -> dict[str, Any]:
    """Send at a fixed rate whatever the answers; latency counts from each request's due
    time, so a late sender or a queue for a connection is part of it."""
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter() + 0.1

    async def one(url: str, due: float) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        try:
            status, _ = await fetch(client, url)
        except (OSError, aiohttp.ClientError):
            status = 0
        latencies.append(time.perf_counter() - due)
        errors += status != 200

    await asyncio.gather(*(one(url, start + i / rate) for i, url in enumerate(urls)))
    return {
        "rate": rate,
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": round(1000 * percentile(latencies, 0.50), 2),
        "p99_ms": round(1000 * percentile(latencies, 0.99), 2),
        "max_ms": round(1000 * max(latencies), 2),
    }


async def closed_loop(
    client: aiohttp.ClientSession, urls: list[str], concurrency: int
) -> dict[str, Any]:
    queue = list(reversed(urls))

    async def worker() -> None:
        while queue:
            await fetch(client, queue.pop())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    return {
        "concurrency": concurrency,
        "requests": len(urls),
        "requests_per_second": round(len(urls) / seconds, 1),
    }


@asynccontextmanager
async def api_process(root: Path, dsn: str, log: Path) -> AsyncIterator[int]:
    """``outcomes api`` from the checkout at ``root`` (``-P``: not this one's), on a free port."""
    port = free_port()
    api = SupervisedProcess(
        "outcomes-api",
        [sys.executable, "-P", "-m", "services.cli", "api"],
        env={
            **os.environ,
            "PYTHONPATH": str(root),
            "DATABASE_URL": dsn,
            "API_PORT": str(port),
            "LOG_LEVEL": "WARNING",
        },
        log_path=log,
    )
    api.start()
    try:
        yield port
    finally:
        api.stop()


async def quiet_machine(load: float | None, patience: float) -> None:
    """Wait (at most ``patience`` s) for a 1-minute load average under ``load``: the machine is
    shared, and the load is recorded with the results either way."""
    if load is None:
        return
    deadline = time.monotonic() + patience
    for _ in range(int(patience / 5) + 1):
        if os.getloadavg()[0] < load or time.monotonic() >= deadline:
            return
        await asyncio.sleep(5)


async def measure(
    root: Path, dsn: str, tokens: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    """The three phases against the API of ``root``, started afresh (an empty cache)."""
    await quiet_machine(args.quiet_load, args.quiet_wait)
    own = [c for c in commissioners() if c[0] == ccg(5)]
    every = commissioners()
    rng = random.Random(SEED)
    async with api_process(root, dsn, Path(args.log)) as port:
        clients = {
            name: aiohttp.ClientSession(
                f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {token}"},
                connector=aiohttp.TCPConnector(limit=64),
                timeout=aiohttp.ClientTimeout(total=60),
            )
            for name, token in tokens.items()
        }
        try:
            for _ in range(600):
                try:
                    if (await fetch(clients["one"], "/healthz"))[0] == 200:
                        break
                except (OSError, aiohttp.ClientError):
                    await asyncio.sleep(0.1)
            await open_loop(clients["one"], queries(own, rng, 200), 100)  # warm-up, not reported
            sizes = [len((await fetch(clients["one"], url))[1]) for url in queries(own, rng, 100)]
            before = os.getloadavg()
            count = int(args.rate * args.seconds)
            warm = await open_loop(clients["one"], queries(own, rng, count), args.rate)
            cold = await open_loop(clients["every"], queries(every, rng, count), args.rate)
            closed = await closed_loop(
                clients["one"], queries(own, rng, args.closed), args.concurrency
            )
        finally:
            for client in clients.values():
                await client.close()
        return {
            "load_average_before": [round(x, 2) for x in before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "response_bytes": {"mean": round(sum(sizes) / len(sizes)), "max": max(sizes)},
            "open_loop": warm,
            "open_loop_every_ccg": cold,
            "closed_loop": closed,
        }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    server = EmbeddedPostgres(os.environ.get("DATABASE_URL"))
    server.start()
    dsn = await create_database(server.server_dsn, prefix="roms_bench_api")
    try:
        connection = await connect(dsn)
        await upgrade(connection)
        await connection.close()
        started = time.perf_counter()
        rows = await fill(dsn)
        filled = time.perf_counter() - started
        connection = await connect(dsn)
        tokens = {
            "one": (await create_token(connection, Role.COMMISSIONER, [ccg(5)])).token,
            "every": (
                await create_token(connection, Role.COMMISSIONER, [c for c, _ in commissioners()])
            ).token,
        }
        await connection.close()
        report: dict[str, Any] = {
            "benchmark": "api",
            "commit": git_commit(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "machine": platform.platform(),
            "cpus": os.cpu_count(),
            "referral_outcomes": REFERRALS,
            "aggregate_rows": rows,
            "fill_seconds": round(filled, 1),
        }
        if args.baseline is not None:
            report["baseline"] = {"api_from": args.baseline_label or str(args.baseline)}
            report["baseline"] |= await measure(args.baseline, dsn, tokens, args)
        report["current"] = {"api_from": "this checkout"} | await measure(REPO, dsn, tokens, args)
        return report
    finally:
        await drop_database(server.server_dsn, dsn)
        server.stop()


def render(report: dict[str, Any]) -> Table:
    table = Table(title=f"GET /v1/aggregates, {report['aggregate_rows']:,} aggregate rows")
    for column in ("API", "phase", "requests", "p50 ms", "p99 ms", "requests/s", "errors"):
        table.add_column(column, justify="right")
    for name in ("baseline", "current"):
        if name not in report:
            continue
        runs = report[name]
        for phase, label in (
            ("open_loop", "open, 1 CCG"),
            ("open_loop_every_ccg", "open, every CCG"),
        ):
            loop = runs[phase]
            table.add_row(
                runs["api_from"],
                label,
                str(loop["requests"]),
                str(loop["p50_ms"]),
                str(loop["p99_ms"]),
                str(loop["rate"]),
                str(loop["errors"]),
            )
        closed = runs["closed_loop"]
        table.add_row(
            runs["api_from"],
            f"closed ×{closed['concurrency']}",
            str(closed["requests"]),
            "",
            "",
            str(closed["requests_per_second"]),
            "",
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--closed", type=int, default=3000, help="closed-loop requests")
    parser.add_argument(
        "--baseline", type=Path, help="a checkout whose API is measured first, same store"
    )
    parser.add_argument("--baseline-label", help="what --baseline is (its commit)")
    parser.add_argument("--quiet-load", type=float, help="first wait for a lower load average")
    parser.add_argument("--quiet-wait", type=float, default=900.0, help="for at most seconds")
    parser.add_argument("--log", default="/tmp/roms-bench-api.log")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    report = asyncio.run(run(args))
    Console().print(render(report))
    args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
