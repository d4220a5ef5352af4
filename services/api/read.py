"""Read endpoints: precomputed aggregates (outcomes.md §4) and a provider's own referral.

Aggregates are answered from the ``aggregates`` table, never by rescanning outcomes (issue 5,
query speed), in primary-key order with keyset pagination, so every page is one indexed
range scan whatever its depth. The caller's scope is part of the WHERE clause (and a cursor
is only a position), so no filter, range or cursor can reach a row outside it; every value
is a bound parameter. Suppression happens once, on the way out (:mod:`services.api.published`).

A page is read in two steps: the rows' keys and versions, then the figures of only those rows
whose published form is not cached: the stored headline figures, or the counters from which
a detailed view's figures are derived (~2 KB a row; everything else ~100 bytes).
Each item is one version of its row; a row emptied between the steps is left out.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import Annotated, Any, Final

import asyncpg
import orjson
from fastapi import APIRouter, Depends, Path, Query, Request

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
    Detail,
    ErrorBody,
    Level,
    Method,
    PeriodKind,
    Perspective,
    ReferralOutcomes,
)
from services.api.published import (
    VERSION_COLUMNS,
    PublishedCache,
    RowVersion,
    View,
    publish_item,
    view_of,
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


@router.get(
    "/aggregates",
    response_model=AggregatePage,
    responses=REFUSALS,
    summary="Outcome aggregates in the caller's scope, filtered and paginated",
)
async def aggregates(
    request: Request,
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
    detail: Annotated[
        Detail | None,
        Query(
            description="headline: the MHS110-115 figures (the default unless measure= or"
            " perspective= is given); all: every figure, per measure x informant too"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> JsonResponse:
    """Precomputed aggregates; ``period`` is one period, ``period_from``/``period_to`` an
    inclusive range of one kind (month, quarter or year). Figures are the headline ones
    (MHS110-115, names without a dot) unless ``detail=all`` asks for every figure, ``measure``
    for one measure's (``SDQ.parent.mean_change``) or ``perspective`` for one informant's
    (headline and per measure)."""
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
    view = view_of(
        suppressed=suppressed_for(principal),
        detail=detail,
        measure=measure,
        perspective=perspective,
    )

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
        f"SELECT {', '.join(VERSION_COLUMNS)} FROM aggregates"  # noqa: S608 (fixed text; values are parameters)
        f" WHERE {' AND '.join(conditions)}"
        f" ORDER BY {', '.join(_KEY_COLUMNS)} LIMIT ${len(arguments)}",
        *arguments,
    )
    page, more = rows[:limit], len(rows) > limit
    items = await published_items(db, published_cache(request), page, view)
    next_cursor = encode_cursor(page[-1]) if more else None
    return JsonResponse({"items": items, "next_cursor": next_cursor})


def published_cache(request: Request) -> PublishedCache:
    """The app's cache (one per app: tests run several apps on their own databases)."""
    state = request.app.state
    if not hasattr(state, "published"):
        state.published = PublishedCache()
    cache: PublishedCache = state.published
    return cache


def _current_rows(figures: str) -> str:
    return (
        f"SELECT {', '.join(f'a.{c}' for c in VERSION_COLUMNS)}, a.period_kind, a.events,"  # noqa: S608 (fixed text; values are parameters)
        f" a.scoring_version, a.{figures}::text AS {figures}"
        " FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])"
        f" AS k({', '.join(_KEY_COLUMNS)}) JOIN aggregates a ON a.method = $1"
        f" AND ({', '.join(f'a.{c}' for c in _KEY_COLUMNS)})"
        f" = ({', '.join(f'k.{c}' for c in _KEY_COLUMNS)})"
    )


_CURRENT_HEADLINES: Final = _current_rows("figures")
"""The current rows of a method's keys with their stored headline figures (one page's keys)."""
_CURRENT_COUNTERS: Final = _current_rows("counters")
"""The same with the counters, from which a detailed view derives its figures."""


async def published_items(
    db: asyncpg.Connection, cache: PublishedCache, page: Sequence[asyncpg.Record], view: View
) -> list[orjson.Fragment]:
    """The page's items as ``view`` shows them: cached by row version (``page`` holds
    :data:`VERSION_COLUMNS`), the rest made from the rows as they are now and cached."""
    shown = [cache.get((tuple(row), view)) for row in page]
    missing = [row for row, item in zip(page, shown, strict=True) if item is None]
    current: dict[RowVersion, bytes] = {}
    if missing:
        keys = ([row[column] for row in missing] for column in _KEY_COLUMNS)
        query = _CURRENT_HEADLINES if view.headline else _CURRENT_COUNTERS
        for record in await db.fetch(query, missing[0]["method"], *keys):
            version = tuple(record[column] for column in VERSION_COLUMNS)
            current[version[1:-1]] = published = publish_item(record, view)
            cache.put((version, view), published)
    items = []
    for row, item in zip(page, shown, strict=True):
        if item is None and (item := current.get(tuple(row)[1:-1])) is None:
            continue  # emptied (deleted) since the page was read
        items.append(orjson.Fragment(item))
    return items


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
