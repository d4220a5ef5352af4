"""Read endpoints: precomputed aggregates (outcomes.md §4) and a provider's own referral.

Aggregates are answered from the ``aggregates`` table, never by rescanning outcomes (issue 5,
query speed), in primary-key order with keyset pagination, so every page is one indexed
range scan whatever its depth. The caller's scope is part of the WHERE clause (and a cursor
is only a position), so no filter, range or cursor can reach a row outside it; every value
is a bound parameter. Suppression happens once, on the way out (:func:`suppress_figures`).
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Final, NamedTuple

import asyncpg
import orjson
from fastapi import APIRouter, Depends, Path, Query

from scoring.suppression import suppress_figures
from services.api.auth import (
    Authenticated,
    forbidden,
    may_read,
    own_provider,
    readable_levels,
    scope_sql,
    suppressed_for,
)
from services.api.database import connection
from services.api.errors import ApiError, JsonResponse
from services.api.models import (
    ANY_PERIOD_PATTERN,
    CODE_PATTERN,
    COHORT_VALUE_PATTERN,
    ORG_PATTERN,
    PERIOD_PATTERNS,
    REFERRAL_ID_PATTERN,
    AggregatePage,
    Cohort,
    ErrorBody,
    Level,
    Method,
    PeriodKind,
    Perspective,
    ReferralOutcomes,
)

router = APIRouter(prefix="/v1")
Db = Annotated[asyncpg.Connection, Depends(connection)]

DEFAULT_PAGE: Final = 100
MAX_PAGE: Final = 1_000
_KEY_COLUMNS: Final = ("level", "code", "period", "cohort", "cohort_value")
"""The primary key after ``method`` (fixed per request): the page order and the cursor."""
REFUSALS: Final[dict[int | str, dict[str, Any]]] = {
    status: {"model": ErrorBody} for status in (401, 403, 503)
}


def period_kind_of(period: str) -> str:
    return next(kind for kind, pattern in PERIOD_PATTERNS.items() if re.fullmatch(pattern, period))


def encode_cursor(row: asyncpg.Record) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([row[c] for c in _KEY_COLUMNS])).decode()


def decode_cursor(cursor: str) -> list[str]:
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (binascii.Error, orjson.JSONDecodeError, UnicodeEncodeError, ValueError):
        key = None
    if not (isinstance(key, list) and len(key) == len(_KEY_COLUMNS)):
        raise ApiError(400, "request.bad_cursor", "cursor is not one this API returned")
    if not all(isinstance(part, str) and "\x00" not in part for part in key):
        raise ApiError(400, "request.bad_cursor", "cursor is not one this API returned")
    return key


def _select_figures(
    figures: dict[str, Any], measure: str | None, perspective: str | None
) -> dict[str, Any]:
    """The figures of one measure (``SDQ.parent.n_paired``) and/or one perspective
    (``paired_self``, ``RCADS.self.mean_change``)."""
    if measure is None and perspective is None:
        return figures
    kept = {}
    for name, value in figures.items():
        scope, dot, figure = name.rpartition(".")
        head, _, informant = scope.partition(".")
        if dot:
            wanted = (measure in (None, head)) and (perspective in (None, informant))
        else:
            wanted = measure is None and figure.endswith(f"_{perspective}")
        if wanted:
            kept[name] = value
    return kept


class _RowIdentity(NamedTuple):
    """An aggregate row as of one computation: its figures cannot change without
    ``computed_at`` changing, so what is published from them can be cached by it."""

    method: str
    level: str
    code: str
    period: str
    cohort: str
    cohort_value: str
    computed_at: datetime


_PUBLISHED_CACHE_ROWS: Final = 50_000
"""P: rows whose published form is kept (about 100 MB at the largest figure maps)."""


def published_figures(
    row: _RowIdentity,
    figures_json: str,
    *,
    suppressed: bool,
    measure: str | None,
    perspective: str | None,
) -> orjson.Fragment:
    """The row's figures as the caller may see them, as ready JSON.

    Unfiltered, unsuppressed figures pass through as stored; suppressed or filtered ones are
    derived once per row version and cached, since commissioners read the same rows often.
    """
    if not suppressed and measure is None and perspective is None:
        return orjson.Fragment(figures_json)
    return _published(row, figures_json, suppressed, measure, perspective)


@lru_cache(maxsize=_PUBLISHED_CACHE_ROWS)
def _published(
    row: _RowIdentity,
    figures_json: str,
    suppressed: bool,
    measure: str | None,
    perspective: str | None,
) -> orjson.Fragment:
    figures = orjson.loads(figures_json)
    if suppressed:
        figures = suppress_figures(figures, row.level)
    return orjson.Fragment(orjson.dumps(_select_figures(figures, measure, perspective)))


@router.get(
    "/aggregates",
    response_model=AggregatePage,
    responses=REFUSALS,
    summary="Outcome aggregates in the caller's scope, filtered and paginated",
)
async def aggregates(
    principal: Authenticated,
    db: Db,
    level: Level | None = None,
    code: Annotated[str | None, Query(pattern=CODE_PATTERN)] = None,
    period: Annotated[str | None, Query(pattern=ANY_PERIOD_PATTERN)] = None,
    period_from: Annotated[str | None, Query(pattern=ANY_PERIOD_PATTERN)] = None,
    period_to: Annotated[str | None, Query(pattern=ANY_PERIOD_PATTERN)] = None,
    period_kind: PeriodKind | None = None,
    cohort: Cohort | None = None,
    cohort_value: Annotated[str | None, Query(pattern=COHORT_VALUE_PATTERN)] = None,
    method: Method = "default",
    measure: Annotated[str | None, Query(pattern=r"^[A-Z0-9]{2,10}$")] = None,
    perspective: Perspective | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> JsonResponse:
    """Precomputed aggregates; ``period`` is one period, ``period_from``/``period_to`` an
    inclusive range of one kind (month, quarter or year)."""
    if level is not None and level not in readable_levels(principal):
        raise forbidden()
    if code is not None and not any(
        may_read(principal, candidate, code)
        for candidate in ([level] if level else readable_levels(principal))
    ):
        raise forbidden()
    kinds = {period_kind_of(p) for p in (period, period_from, period_to) if p is not None}
    if period_kind is not None:
        kinds.add(period_kind)
    if len(kinds) > 1:
        raise ApiError(422, "request.period_kinds", "periods of different kinds cannot mix")

    conditions = ["method = $1"]
    arguments: list[Any] = [method]

    def where(template: str, *values: Any) -> None:
        placeholders = range(len(arguments) + 1, len(arguments) + 1 + len(values))
        conditions.append(template.format(*(f"${n}" for n in placeholders)))
        arguments.extend(values)

    for column, value in (("level", level), ("code", code), ("period", period)):
        if value is not None:
            where(f"{column} = {{}}", value)
    if kinds:
        where("period_kind = {}", kinds.pop())
    if period_from is not None:
        where("period >= {}", period_from)
    if period_to is not None:
        where("period <= {}", period_to)
    if cohort is not None:
        where("cohort = {}", cohort)
    if cohort_value is not None:
        where("cohort_value = {}", cohort_value)
    if cursor is not None:
        where(
            "(level, code, period, cohort, cohort_value) > ({}, {}, {}, {}, {})",
            *decode_cursor(cursor),
        )
    scope = scope_sql(principal, len(arguments) + 1)
    conditions.append(scope.condition)
    arguments.extend(scope.arguments)
    arguments.append(limit + 1)
    rows = await db.fetch(
        f"SELECT method, {', '.join(_KEY_COLUMNS)}, period_kind, figures::text AS figures,"  # noqa: S608 (fixed text; values are parameters)
        " events,"
        f" scoring_version, computed_at FROM aggregates WHERE {' AND '.join(conditions)}"
        f" ORDER BY {', '.join(_KEY_COLUMNS)} LIMIT ${len(arguments)}",
        *arguments,
    )
    page, more = rows[:limit], len(rows) > limit
    suppressed = suppressed_for(principal)
    items = [
        {
            **{column: row[column] for column in ("method", *_KEY_COLUMNS, "period_kind")},
            "figures": published_figures(
                _RowIdentity._make(row[c] for c in _RowIdentity._fields),
                row["figures"],
                suppressed=suppressed,
                measure=measure,
                perspective=perspective,
            ),
            "suppressed": suppressed and row["level"] != "national",
            "events": row["events"],
            "scoring_version": row["scoring_version"],
            "computed_at": row["computed_at"],
        }
        for row in page
    ]
    next_cursor = encode_cursor(page[-1]) if more else None
    return JsonResponse({"items": items, "next_cursor": next_cursor})


@router.get(
    "/referrals/{referral_id}/outcomes",
    response_model=ReferralOutcomes,
    responses={**REFUSALS, 404: {"model": ErrorBody}},
    summary="A provider's own referral: first and last scores, change and categories",
)
async def referral_outcomes(
    principal: Authenticated,
    db: Db,
    referral_id: Annotated[str, Path(pattern=REFERRAL_ID_PATTERN)],
    provider: Annotated[str | None, Query(pattern=ORG_PATTERN)] = None,
    method: Method = "default",
) -> JsonResponse:
    """Provider tokens read their own referrals (``provider`` defaults to the token's one
    provider code); a referral of another provider is indistinguishable from none."""
    provider_code = own_provider(principal, provider)
    row = await db.fetchrow(
        "SELECT provider_code, referral_id, method, in_cohort, closed_on, events, record,"
        " scoring_version, updated_at FROM referral_outcomes"
        " WHERE provider_code = $1 AND referral_id = $2 AND method = $3",
        provider_code,
        referral_id,
        method,
    )
    if row is None:
        raise ApiError(404, "referral.not_found", "no such referral for this provider")
    record = row["record"]
    body = {key: value for key, value in row.items() if key != "record"}
    return JsonResponse({**body, "profile": record["profile"], "outcome": record["outcome"]})
