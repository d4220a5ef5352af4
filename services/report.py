"""The commissioner table: per CCG and financial year, quarters × perspectives, suppressed.

Shaped like the quarterly outcome tables of CAMHS transformation plans: closed referrals
with ≥ 2 contacts, paired per perspective, % measurable improvement per perspective.
Suppression is applied here, on the way out (outcomes.md §5); the store keeps exact figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from scoring.suppression import suppress_figures

PERSPECTIVES: Final = ("self", "parent", "clinician")
COLUMNS: Final = (
    "closed_referrals",
    *(f"paired_{p}" for p in PERSPECTIVES),
    *(f"pct_improved_{p}" for p in PERSPECTIVES),
)
HEADERS: Final = (
    "quarter",
    "provider",
    "closed (≥2 contacts)",
    *(f"paired {p}" for p in PERSPECTIVES),
    *(f"% improved {p}" for p in PERSPECTIVES),
)
"""Human column titles of :func:`as_table_rows`, in order."""


@dataclass(frozen=True, slots=True)
class ReportRow:
    level: str
    code: str
    period: str
    figures: Mapping[str, Any]


async def commissioner_rows(
    connection: asyncpg.Connection,
    *,
    ccg: str,
    year: str | None,
    method: str,
    suppressed: bool = True,
) -> list[ReportRow]:
    """The CCG's own rows and its providers' rows (``ccg_provider`` level), by quarter."""
    rows = await connection.fetch(
        """
        SELECT level, code, period, figures FROM aggregates
        WHERE method = $1 AND cohort = 'all' AND period_kind = 'quarter'
          AND ((level = 'ccg' AND code = $2) OR (level = 'ccg_provider' AND code LIKE $3))
          AND ($4::text IS NULL OR period LIKE $4 || ' Q%')
        ORDER BY period, level, code
        """,
        method,
        ccg,
        f"{ccg}/%",
        year,
    )
    report = []
    for row in rows:
        figures = row["figures"]
        if suppressed:
            figures = suppress_figures(figures, row["level"])
        report.append(ReportRow(row["level"], row["code"], row["period"], figures))
    return report


def as_table_rows(rows: Sequence[ReportRow]) -> list[list[str]]:
    """Rows of strings for printing or CSV, in :data:`COLUMNS` order."""
    table = []
    for row in rows:
        unit = "all providers" if row.level == "ccg" else row.code.split("/", 1)[1]
        table.append([row.period, unit, *(_cell(row.figures.get(column)) for column in COLUMNS)])
    return table


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
