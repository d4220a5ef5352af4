"""The commissioner table (providers × quarters × perspectives) as JSON or CSV.

One builder, :func:`outcomes_table`, serves ``GET /v1/reports/outcomes`` and
``outcomes report``; it reads :func:`services.report.commissioner_rows`, so the endpoint,
the CLI and the demo print the same figures, suppressed in the same one place.
A provider or quality token sees only its own rows of the CCG, unsuppressed; the CCG's
"all providers" row mixes other providers' referrals, so it is left out for them (P).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.api.auth import Authenticated, forbidden, suppressed_for
from services.api.database import connection
from services.api.errors import JsonResponse
from services.api.models import ORG_PATTERN, YEAR_PATTERN, ErrorBody, Method, OutcomesReport
from services.api.tokens import Role
from services.report import COLUMNS, HEADERS, ReportRow, as_table_rows, commissioner_rows

router = APIRouter(prefix="/v1")
CSV_MEDIA_TYPE = "text/csv"


def _provider_of(row: ReportRow) -> str | None:
    return row.code.split("/", 1)[1] if row.level == "ccg_provider" else None


@dataclass(frozen=True, slots=True)
class OutcomesTable:
    ccg: str
    year: str | None
    method: str
    suppressed: bool
    rows: list[ReportRow]

    def as_json(self) -> dict[str, Any]:
        return {
            "ccg": self.ccg,
            "year": self.year,
            "method": self.method,
            "suppressed": self.suppressed,
            "columns": list(COLUMNS),
            "headers": list(HEADERS),
            "rows": [
                {
                    "quarter": cells[0],
                    "provider": cells[1],
                    "figures": {column: row.figures.get(column) for column in COLUMNS},
                }
                for row, cells in zip(self.rows, as_table_rows(self.rows), strict=True)
            ],
        }

    def as_csv(self) -> str:
        """:data:`HEADERS`, then one line per row (``*`` where suppressed)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(HEADERS)
        writer.writerows(as_table_rows(self.rows))
        return buffer.getvalue()


async def outcomes_table(
    db: asyncpg.Connection,
    *,
    ccg: str,
    year: str | None,
    method: str,
    suppressed: bool,
    providers: Collection[str] | None = None,
) -> OutcomesTable:
    """The table of ``ccg``; ``providers`` keeps only those providers' rows (and drops the
    CCG's all-providers row)."""
    rows = await commissioner_rows(db, ccg=ccg, year=year, method=method, suppressed=suppressed)
    if providers is not None:
        rows = [row for row in rows if _provider_of(row) in providers]
    return OutcomesTable(ccg, year, method, suppressed, rows)


@router.get(
    "/reports/outcomes",
    response_model=OutcomesReport,
    responses={
        200: {"content": {CSV_MEDIA_TYPE: {}}},
        **{status: {"model": ErrorBody} for status in (401, 403, 503)},
    },
    summary="The commissioner table of one CCG and year, as JSON or CSV",
)
async def outcomes(
    request: Request,
    principal: Authenticated,
    db: Annotated[asyncpg.Connection, Depends(connection)],
    ccg: Annotated[str, Query(pattern=ORG_PATTERN)],
    year: Annotated[str | None, Query(pattern=YEAR_PATTERN)] = None,
    provider: Annotated[str | None, Query(pattern=ORG_PATTERN)] = None,
    method: Method = "default",
    format: Annotated[str | None, Query(pattern="^(json|csv)$")] = None,
) -> Response:
    """Quarters × providers of ``ccg`` (``year`` like ``2019/20``); CSV with ``Accept:
    text/csv`` or ``?format=csv``."""
    providers: set[str] | None = None if provider is None else {provider}
    if principal.role is Role.COMMISSIONER and ccg not in principal.orgs:
        raise forbidden()
    if principal.role in {Role.PROVIDER, Role.QUALITY}:
        if provider is not None and provider not in principal.orgs:
            raise forbidden()
        providers = providers or set(principal.orgs)
    table = await outcomes_table(
        db,
        ccg=ccg,
        year=year,
        method=method,
        suppressed=suppressed_for(principal),
        providers=providers,
    )
    wants_csv = format == "csv" or (
        format is None and CSV_MEDIA_TYPE in request.headers.get("accept", "")
    )
    if wants_csv:
        name = f"outcomes-{ccg}-{(year or 'all').replace('/', '-')}.csv"
        return Response(
            table.as_csv(),
            media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return JsonResponse(table.as_json())
