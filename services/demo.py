"""``outcomes demo``: the whole service on the embedded broker and database, end to end.

Starts Tansu and PostgreSQL (or uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL), applies the
migrations, produces a simulated cohort, runs real worker processes (``outcomes run``, two
by default: one per core, sharing the partitions of one consumer group), waits until the
workers have committed every produced offset, and prints the commissioner
table for every CCG, suppressed as published.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.alerts import open_alerts, render_alerts
from services.ingest import produce, read_jsonl
from services.progress import wait_until_reflected
from services.report import HEADERS, as_table_rows, commissioner_rows
from services.runtime.stack import embedded_stack
from services.runtime.topics import create_topics
from services.settings import Settings
from services.simulate import MALFORMED_LINES, simulate
from services.store.migrations import upgrade_database
from services.store.pool import connect
from services.worker import worker_process
from topics.registry import EVENTS, TOPICS

CATCH_UP_TIMEOUT_SECONDS = 600.0
"""P: a demo that has not caught up in 10 minutes is broken, not slow."""


async def run_demo(
    settings: Settings,
    *,
    referrals: int,
    seed: int,
    events_file: Path | None,
    method: str,
    json_out: Path | None,
    keep_running: bool,
    workers: int = 2,
) -> None:
    console = Console(width=None if Console().is_terminal else 140)
    console.print("[bold]ROMs demo[/bold]: starting the embedded broker and database …")
    async with embedded_stack(
        kafka_bootstrap_servers=settings.kafka_bootstrap_servers,
        database_url=settings.database_url,
        isolated_database=settings.database_url is not None,
    ) as stack:
        await upgrade_database(stack.database_url)
        await create_topics(
            stack.kafka_bootstrap_servers, {spec.name: spec.partitions for spec in TOPICS.values()}
        )
        messages = (
            read_jsonl(events_file)
            if events_file is not None
            else [*(orjson.dumps(event) for event in simulate(referrals, seed)), *MALFORMED_LINES]
        )
        with tempfile.TemporaryDirectory(prefix="roms-demo-") as workdir:
            group = f"roms-demo-{uuid.uuid4().hex[:8]}"
            pool = [
                worker_process(
                    kafka_bootstrap_servers=stack.kafka_bootstrap_servers,
                    database_url=stack.database_url,
                    consumer_group=group,
                    log_path=Path(workdir) / f"worker-{number}.log",
                )
                for number in range(1, workers + 1)
            ]
            for worker in pool:
                worker.start()
            try:
                last_offsets = await _produce_with_progress(stack.kafka_bootstrap_servers, messages)
                try:
                    await _wait_with_progress(stack.database_url, last_offsets, len(messages))
                except TimeoutError:
                    for worker in pool:
                        console.print(f"[red]{worker.name} log (last lines):[/red]")
                        console.print(worker.log_tail(), markup=False)
                    raise
                await _print_tables(console, stack.database_url, method)
                if json_out is not None:
                    count = await _write_json(stack.database_url, json_out)
                    console.print(f"wrote {count} aggregates (unsuppressed) to {json_out}")
                if keep_running:
                    console.print(
                        f"Stack up: KAFKA_BOOTSTRAP_SERVERS={stack.kafka_bootstrap_servers} "
                        f"DATABASE_URL={stack.database_url} — Ctrl-C to stop."
                    )
                    await asyncio.Event().wait()
            finally:
                for worker in pool:
                    worker.stop()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )


async def _produce_with_progress(bootstrap: str, messages: Sequence[bytes]) -> dict[int, int]:
    with _progress() as progress:
        task = progress.add_task("producing events", total=len(messages))
        return await produce(
            bootstrap, messages, on_sent=lambda count: progress.advance(task, count)
        )


async def _wait_with_progress(dsn: str, last_offsets: dict[int, int], total: int) -> None:
    with _progress() as progress:
        task = progress.add_task("processing", total=total)
        try:
            async with asyncio.timeout(CATCH_UP_TIMEOUT_SECONDS):
                await wait_until_reflected(
                    dsn,
                    EVENTS.name,
                    last_offsets,
                    on_progress=lambda done: progress.update(task, completed=min(done, total)),
                )
        except TimeoutError:
            raise TimeoutError(
                f"the worker did not process every event within {CATCH_UP_TIMEOUT_SECONDS:g} s; "
                "its log is printed above."
            ) from None


async def _print_tables(console: Console, dsn: str, method: str) -> None:
    connection = await connect(dsn)
    try:
        ccgs = [
            row["code"]
            for row in await connection.fetch(
                "SELECT DISTINCT code FROM aggregates WHERE level = 'ccg' ORDER BY code"
            )
        ]
        for ccg in ccgs:
            rows = await commissioner_rows(connection, ccg=ccg, year=None, method=method)
            table = Table(title=f"CCG {ccg} — outcomes by quarter (method {method}, suppressed)")
            for index, header in enumerate(HEADERS):
                table.add_column(header, justify="left" if index < 2 else "right")
            for cells in as_table_rows(rows):
                table.add_row(*cells)
            console.print(table)
        letters = await connection.fetchval("SELECT count(*) FROM dead_letters")
        events = await connection.fetchval("SELECT count(*) FROM events")
        console.print(f"{events} unique valid events reflected; {letters} dead letters recorded.")
        await _print_alerts(console, connection)
    finally:
        await connection.close()


async def _print_alerts(console: Console, connection: asyncpg.Connection) -> None:
    raised = await open_alerts(connection)
    funnel = [alert for alert in raised if not alert.key.referral_id]
    console.print(render_alerts(funnel, title="Open alerts on deteriorating cohorts (§6)"))
    console.print(
        f"{len(raised) - len(funnel)} open referral-level notices for providers "
        "(weak alliance, ORS/CORS session deterioration): `outcomes alerts list`."
    )


async def _write_json(dsn: str, path: Path) -> int:
    connection = await connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT method, level, code, period, cohort, cohort_value, figures, events, "
            "scoring_version, computed_at FROM aggregates ORDER BY 1, 2, 3, 4, 5, 6"
        )
    finally:
        await connection.close()
    records = [{**dict(row), **row["figures"]} for row in rows]
    for record in records:
        del record["figures"]
    await asyncio.to_thread(path.write_bytes, orjson.dumps(records, option=orjson.OPT_INDENT_2))
    return len(records)
