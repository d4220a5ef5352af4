"""The ``outcomes`` command line: demo, worker, ingest, synthetic data, schemas, database."""

from __future__ import annotations

import asyncio
import signal
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
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes sharing the partitions.")
    ] = 2,
) -> None:
    """Start the embedded broker and database, stream a cohort through the pipeline and print
    the commissioner tables (suppressed as published)."""
    from services.demo import run_demo

    # `kill` and `timeout` stop the demo like Ctrl-C does, so the embedded broker, database
    # and worker are shut down instead of orphaned.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    asyncio.run(
        run_demo(
            Settings(),
            referrals=referrals,
            seed=seed,
            events_file=events,
            method=method,
            json_out=json_out,
            keep_running=keep_running,
            workers=workers,
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


token_app = typer.Typer(help="Bearer tokens of the HTTP API.", no_args_is_help=True)
app.add_typer(token_app, name="token")


def _database_url() -> str:
    settings = Settings()
    if settings.database_url is None:
        raise typer.BadParameter("set DATABASE_URL to the database")
    return settings.database_url


@app.command()
def api() -> None:
    """Serve the HTTP API and ingest gateway on API_HOST:API_PORT (needs DATABASE_URL;
    POST /v1/events also needs KAFKA_BOOTSTRAP_SERVERS)."""
    import uvicorn

    from services.api import create_app

    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
    )


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="provider, commissioner, quality or admin.")],
    org: Annotated[
        list[str] | None,
        typer.Option("--org", help="ODS code the token is for (repeat for several)."),
    ] = None,
    label: Annotated[str, typer.Option(help="Who or what holds the token.")] = "",
) -> None:
    """Issue a token and print it once: only its hash is stored."""
    from services.api.tokens import Role, create_token
    from services.store.pool import connect

    try:
        chosen = Role(role)
    except ValueError:
        raise typer.BadParameter(f"--role must be one of {', '.join(Role)}") from None

    async def issue() -> str:
        connection = await connect(_database_url())
        try:
            issued = await create_token(connection, chosen, org or [], label)
        finally:
            await connection.close()
        return f"token id: {issued.token_id}\ntoken:    {issued.token}"

    try:
        typer.echo(asyncio.run(issue()))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    typer.echo("Store the token now: it cannot be shown again.", err=True)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The token id to revoke.")]) -> None:
    """Revoke a token: requests with it are refused (401) from now on."""
    from services.api.tokens import revoke_token
    from services.store.pool import connect

    async def revoke() -> bool:
        connection = await connect(_database_url())
        try:
            return await revoke_token(connection, token_id)
        finally:
            await connection.close()

    if not asyncio.run(revoke()):
        typer.echo(f"no live token {token_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {token_id}")


@app.command()
def report(
    ccg: Annotated[str, typer.Option(help="Commissioner (CCG / sub-ICB) code, e.g. 05A.")],
    year: Annotated[
        str | None, typer.Option(help="Financial year, e.g. 2019/20 (all years if omitted).")
    ] = None,
    output: Annotated[
        str, typer.Option("--format", help="table, csv or json.", case_sensitive=False)
    ] = "table",
    method: MethodOption = "default",
) -> None:
    """Print the commissioner table of GET /v1/reports/outcomes from the store, suppressed."""
    import orjson
    from rich.console import Console
    from rich.table import Table

    from services.api.reports import OutcomesTable, outcomes_table
    from services.report import HEADERS, as_table_rows
    from services.store.pool import connect

    if output not in {"table", "csv", "json"}:
        raise typer.BadParameter("--format must be table, csv or json")

    async def load() -> OutcomesTable:
        connection = await connect(_database_url())
        try:
            return await outcomes_table(
                connection, ccg=ccg, year=year, method=method, suppressed=True
            )
        finally:
            await connection.close()

    loaded = asyncio.run(load())
    if output == "csv":
        typer.echo(loaded.as_csv(), nl=False)
    elif output == "json":
        typer.echo(orjson.dumps(loaded.as_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        table = Table(*HEADERS, title=f"CCG {ccg} {year or ''} ({method})")
        for cells in as_table_rows(loaded.rows):
            table.add_row(*cells)
        Console().print(table)


webhook_app = typer.Typer(
    help="Webhooks that receive alerts (outcomes.md §6).", no_args_is_help=True
)
app.add_typer(webhook_app, name="webhook")
alerts_app = typer.Typer(help="Alerts on deteriorating cohorts and notices.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@webhook_app.command("add")
def webhook_add(
    org: Annotated[str, typer.Option(help="Provider or CCG code whose alerts are sent.")],
    url: Annotated[str, typer.Option(help="https:// endpoint receiving the POSTs.")],
    secret_file: Annotated[
        Path, typer.Option(help="File holding the HMAC-SHA256 signing secret.", exists=True)
    ],
) -> None:
    """Register a webhook: a provider code gets its own alerts and referral notices; a CCG
    code gets the suppressed alerts of the providers serving it."""
    from services.alerts import add_webhook
    from services.store.pool import connect

    secret = secret_file.read_text().strip()

    async def add() -> int:
        connection = await connect(_database_url())
        try:
            return await add_webhook(connection, org, url, secret)
        finally:
            await connection.close()

    try:
        webhook_id = asyncio.run(add())
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    typer.echo(f"webhook {webhook_id} registered for {org}")


@alerts_app.command("list")
def alerts_list(
    state: Annotated[str | None, typer.Option(help="open or resolved.")] = None,
    org: Annotated[str | None, typer.Option(help="Provider, or CCG served, code.")] = None,
    period: Annotated[str | None, typer.Option(help="e.g. 2019-06, '2019/20 Q1'.")] = None,
) -> None:
    """Print alerts, newest first."""
    from rich.console import Console

    from services.alerts import Alert, list_alerts, render_alerts
    from services.store.pool import connect

    if state not in {None, "open", "resolved"}:
        raise typer.BadParameter("--state must be open or resolved")

    async def load() -> list[Alert]:
        connection = await connect(_database_url())
        try:
            return await list_alerts(
                connection,
                state="open" if state == "open" else "resolved" if state else None,
                org=org,
                period=period,
            )
        finally:
            await connection.close()

    Console().print(render_alerts(asyncio.run(load())))


if __name__ == "__main__":
    app()
