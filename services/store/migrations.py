"""Schema migrations: the numbered SQL files of ``migrations/`` (also at ``infra/migrations``).

Applied in order by ``outcomes db upgrade``, each in its own transaction, under an advisory
lock so that several workers starting at once cannot race; workers check at start-up that
nothing is pending and refuse to run against an older schema.
"""

from __future__ import annotations

from importlib import resources

import asyncpg

_LOCK_ID = 0x524F4D53  # "ROMS"


def available() -> list[tuple[str, str]]:
    """``(version, sql)`` of every migration shipped with the package, in order."""
    folder = resources.files("services.store").joinpath("migrations")
    files = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), folder.joinpath(name).read_text()) for name in files]


async def applied(connection: asyncpg.Connection) -> set[str]:
    exists = await connection.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return set()
    rows = await connection.fetch("SELECT version FROM schema_migrations")
    return {row["version"] for row in rows}


async def pending(connection: asyncpg.Connection) -> list[str]:
    done = await applied(connection)
    return [version for version, _ in available() if version not in done]


async def upgrade(connection: asyncpg.Connection) -> list[str]:
    """Apply every pending migration; returns the versions applied now."""
    await connection.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = await applied(connection)
        newly: list[str] = []
        for version, sql in available():
            if version in done:
                continue
            async with connection.transaction():
                await connection.execute(sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)", version
                )
            newly.append(version)
        return newly
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)


class SchemaOutOfDate(RuntimeError):
    """The database lacks migrations this code needs: run ``outcomes db upgrade``."""


async def require_current(connection: asyncpg.Connection) -> None:
    missing = await pending(connection)
    if missing:
        raise SchemaOutOfDate(
            f"database schema is missing migrations {', '.join(missing)}; "
            "run `outcomes db upgrade` first"
        )


async def upgrade_database(dsn: str) -> list[str]:
    """Connect to ``dsn`` and apply every pending migration."""
    connection = await asyncpg.connect(dsn)
    try:
        return await upgrade(connection)
    finally:
        await connection.close()
