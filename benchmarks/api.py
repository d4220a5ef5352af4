"""``GET /v1/aggregates`` latency and throughput with a store the size 1,000,000 referrals make.

Run ``.venv/bin/python benchmarks/api.py [--rate 200] [--seconds 20]`` (embedded PostgreSQL,
or ``DATABASE_URL``'s server). The store holds the aggregate rows of 1,000,000 referral
outcomes closed in one financial year across England-sized dimensions (P): 106 CCGs, 250
providers serving 3 CCGs each (750 ``ccg_provider`` codes), 2 teams per provider; 17 periods
(12 months, 4 quarters, the year) × 19 cohort values × 2 methods: ~1.0 million rows, written
directly with SQL, each carrying the figures of a real aggregate (a small simulated cohort
through the real pipeline) with its counts varied. Aggregates are precomputed, so the API's
cost depends on the rows it serves, not on how many referrals made them.

The API runs as ``outcomes api`` in its own process (uvicorn, one worker); the load is a
commissioner token (the suppressed path) asking a fixed-seed mix of realistic queries:
1. an open-loop phase at ``--rate`` requests/s for ``--seconds`` (latency p50/p99; the
   target is p99 < 50 ms at 200 requests/s, issue 5);
2. a closed-loop phase with ``--concurrency`` clients (the most requests/s it sustains).
Results are printed and written to ``benchmarks/results/api.json`` with the git commit.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
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


async def template_figures(dsn: str) -> dict[str, Any]:
    """The figures of a real aggregate: a small simulated cohort through the pipeline."""
    connection = await connect(dsn)
    try:
        messages = [orjson.dumps(event) for event in simulate(60, 1)]
        batch = [Incoming(raw, f"bench:{index}") for index, raw in enumerate(messages)]
        await process_batch(connection, batch)
        figures: dict[str, Any] = await connection.fetchval(
            "SELECT figures FROM aggregates WHERE level = 'national' AND period_kind = 'year'"
            " AND cohort = 'all' AND method = 'default'"
        )
        await connection.execute("DELETE FROM aggregates")
        return figures
    finally:
        await connection.close()


async def fill(dsn: str) -> int:
    """Write every aggregate row with SQL, counts varied per row by a hash of its key."""
    template = await template_figures(dsn)
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
            SELECT m.method, c.level, c.code, p.period, p.kind, k.cohort, k.cohort_value, '{}',
                   ($7::jsonb || jsonb_build_object('closed_referrals',
                        abs(hashtext(c.code || p.period || k.cohort_value)) % 400,
                        'paired_self', abs(hashtext(p.period || c.code)) % 60))::json,
                   1000, 'bench'
            FROM unnest($1::text[], $2::text[]) AS c(level, code),
                 unnest($3::text[], $4::text[]) AS p(period, kind),
                 unnest($5::text[], $6::text[]) AS k(cohort, cohort_value),
                 unnest(ARRAY['default', 'nhs']) AS m(method)
            """,
            list(levels),
            list(code_values),
            list(period_values),
            list(kinds),
            list(cohorts),
            list(cohort_values),
            template,
        )
        await connection.execute("ANALYZE aggregates")
        rows: int = await connection.fetchval("SELECT count(*) FROM aggregates")
        return rows
    finally:
        await connection.close()


def queries(commissioner: str, providers: list[str], rng: random.Random, n: int) -> list[str]:
    """A commissioner's realistic mix: its providers by quarter, its CCG by month, pages."""
    mix = []
    for _ in range(n):
        choice = rng.random()
        if choice < 0.4:
            code = f"{commissioner}/{rng.choice(providers)}"
            mix.append(f"/v1/aggregates?level=ccg_provider&code={code}&period_kind=quarter")
        elif choice < 0.7:
            mix.append(f"/v1/aggregates?level=ccg&code={commissioner}&period_kind=month&cohort=all")
        elif choice < 0.9:
            mix.append(
                f"/v1/aggregates?level=ccg&code={commissioner}&period={YEAR}&cohort=age_band"
            )
        else:
            mix.append("/v1/aggregates?cohort=all&period_kind=quarter&limit=100")
    return mix


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def open_loop(
    client: httpx.AsyncClient, urls: list[str], rate: float
) -> tuple[list[float], int]:
    """Send at a fixed rate whatever the answers (no coordinated omission)."""
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()

    async def one(url: str, due: float) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        sent = time.perf_counter()
        try:
            ok = (await client.get(url)).status_code == 200
        except httpx.TransportError:
            ok = False
        latencies.append(time.perf_counter() - sent)
        errors += not ok

    await asyncio.gather(*(one(url, start + i / rate) for i, url in enumerate(urls)))
    return latencies, errors


async def closed_loop(
    client: httpx.AsyncClient, urls: list[str], concurrency: int
) -> tuple[float, int]:
    queue = list(reversed(urls))

    async def worker() -> None:
        while queue:
            await client.get(queue.pop())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, len(urls)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    server = EmbeddedPostgres(os.environ.get("DATABASE_URL"))
    server.start()
    dsn = await create_database(server.server_dsn, prefix="roms_bench_api")
    api: SupervisedProcess | None = None
    try:
        connection = await connect(dsn)
        await upgrade(connection)
        await connection.close()
        started = time.perf_counter()
        rows = await fill(dsn)
        filled = time.perf_counter() - started
        connection = await connect(dsn)
        commissioner_ccg = ccg(5)
        token = (await create_token(connection, Role.COMMISSIONER, [commissioner_ccg])).token
        served = await connection.fetch(
            "SELECT DISTINCT split_part(code, '/', 2) AS p FROM aggregates"
            " WHERE level = 'ccg_provider' AND code LIKE $1",
            f"{commissioner_ccg}/%",
        )
        await connection.close()
        port = free_port()
        api = SupervisedProcess(
            "outcomes-api",
            [sys.executable, "-m", "services.cli", "api"],
            env={**os.environ, "DATABASE_URL": dsn, "API_PORT": str(port), "LOG_LEVEL": "WARNING"},
            log_path=Path(args.log),
        )
        api.start()
        rng = random.Random(SEED)
        providers = [row["p"] for row in served]
        headers = {"Authorization": f"Bearer {token}"}
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, limits=limits, timeout=30
        ) as client:
            for _ in range(100):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            await open_loop(client, queries(commissioner_ccg, providers, rng, 200), 100)  # warm
            urls = queries(commissioner_ccg, providers, rng, int(args.rate * args.seconds))
            latencies, errors = await open_loop(client, urls, args.rate)
            sample = (await client.get(urls[0])).content
            seconds, sent = await closed_loop(
                client, queries(commissioner_ccg, providers, rng, args.closed), args.concurrency
            )
        return {
            "benchmark": "api",
            "commit": git_commit(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "machine": platform.platform(),
            "cpus": os.cpu_count(),
            "referral_outcomes": REFERRALS,
            "aggregate_rows": rows,
            "fill_seconds": round(filled, 1),
            "response_bytes_example": len(sample),
            "open_loop": {
                "rate": args.rate,
                "requests": len(latencies),
                "errors": errors,
                "p50_ms": round(1000 * percentile(latencies, 0.50), 2),
                "p99_ms": round(1000 * percentile(latencies, 0.99), 2),
                "max_ms": round(1000 * max(latencies), 2),
            },
            "closed_loop": {
                "concurrency": args.concurrency,
                "requests": sent,
                "requests_per_second": round(sent / seconds, 1),
            },
        }
    finally:
        if api is not None:
            api.stop()
        await drop_database(server.server_dsn, dsn)
        server.stop()


def render(report: dict[str, Any]) -> Table:
    table = Table(title=f"GET /v1/aggregates, {report['aggregate_rows']:,} aggregate rows")
    for column in ("phase", "requests", "p50 ms", "p99 ms", "requests/s", "errors"):
        table.add_column(column, justify="right")
    open_, closed = report["open_loop"], report["closed_loop"]
    table.add_row(
        f"open loop {open_['rate']}/s",
        str(open_["requests"]),
        str(open_["p50_ms"]),
        str(open_["p99_ms"]),
        str(open_["rate"]),
        str(open_["errors"]),
    )
    table.add_row(
        f"closed loop ×{closed['concurrency']}",
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
    parser.add_argument("--log", default="/tmp/roms-bench-api.log")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    report = asyncio.run(run(args))
    Console().print(render(report))
    args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
