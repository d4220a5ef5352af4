"""The ``outcomes`` command line: demo, worker, ingest, synthetic data, schemas, database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from services.settings import Settings

app = typer.Typer(
    help="ROMs: routine outcome measurement for CYP mental health services. "
    "Settings come from environment variables (see the README).",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
app.add_typer(db_app, name="db")

MethodOption = Annotated[
    str,
    typer.Option(
        "--method", help="default (clinically correct) or nhs (reproduces the national code)."
    ),
]


@app.command()
def demo(
    referrals: Annotated[int, typer.Option(help="Simulated referrals to stream.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the simulated cohort.")] = 7,
    events: Annotated[
        Path | None, typer.Option("--events", help="Stream this JSONL file instead.")
    ] = None,
    method: MethodOption = "default",
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write every aggregate, unsuppressed, to this file."),
    ] = None,
    keep_running: Annotated[
        bool, typer.Option(help="Leave the stack up after printing (Ctrl-C stops it).")
    ] = False,
) -> None:
    """Start the embedded broker and database, stream a cohort through the pipeline and print
    the commissioner tables (suppressed as published)."""
    from services.demo import run_demo

    asyncio.run(
        run_demo(
            Settings(),
            referrals=referrals,
            seed=seed,
            events_file=events,
            method=method,
            json_out=json_out,
            keep_running=keep_running,
        )
    )


@app.command()
def run() -> None:
    """Run one pipeline worker against KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL.

    Start as many as you like: they share the partitions of one consumer group."""
    from services.worker import run_worker

    run_worker(Settings())


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="JSONL file, one event per line.", exists=True)],
) -> None:
    """Produce events from a JSONL file to roms.events.v1 on the configured broker."""
    from services.ingest import ingest_file

    settings = Settings()
    if settings.kafka_bootstrap_servers is None:
        raise typer.BadParameter("set KAFKA_BOOTSTRAP_SERVERS to the broker to produce to")
    produced = asyncio.run(
        ingest_file(settings.kafka_bootstrap_servers, file, namespace=settings.topic_namespace)
    )
    typer.echo(f"produced {produced} events to roms.events.v1")


@app.command()
def simulate(
    referrals: Annotated[int, typer.Option(help="How many referrals.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same file.")] = 7,
    out: Annotated[Path, typer.Option(help="Where to write the JSONL events.")] = Path(
        "events.jsonl"
    ),
) -> None:
    """Write a realistic, reproducible synthetic event stream (with duplicates, disorder,
    corrections, withdrawals and a few invalid events)."""
    from services.simulate import MALFORMED_LINES, write_jsonl
    from services.simulate import simulate as generate

    count = write_jsonl(generate(referrals, seed), out, raw_lines=MALFORMED_LINES)
    typer.echo(f"wrote {count} events to {out}")


@app.command()
def schema(
    out: Annotated[Path, typer.Option(help="Directory for the JSON Schema files.")] = Path(
        "schemas"
    ),
) -> None:
    """Write the JSON Schema of every input event and output record, for integrators."""
    from topics.schema import write_schemas

    for path in write_schemas(out):
        typer.echo(str(path))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending SQL migrations to DATABASE_URL."""
    from services.store.migrations import upgrade_database

    settings = Settings()
    if settings.database_url is None:
        raise typer.BadParameter("set DATABASE_URL to the database to upgrade")
    applied = asyncio.run(upgrade_database(settings.database_url))
    typer.echo(f"applied {', '.join(applied)}" if applied else "schema is up to date")


if __name__ == "__main__":
    app()
