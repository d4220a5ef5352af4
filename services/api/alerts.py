"""``GET /v1/alerts``: alerts on deteriorating cohorts and referral-level notices (outcomes.md §6).

Who reads what mirrors the webhook routing of :mod:`services.alerts.evaluate` (issue 5,
Access control; issue 6, Delivery):
- provider and quality tokens: every alert of their own provider — funnel alerts on the
  provider, its teams and its cohorts, and its referral-level notices — unsuppressed;
- commissioner tokens: funnel (cohort-level) alerts of the providers that served one of
  their CCGs in the alert's period (the ``ccg_provider`` aggregates), figures suppressed
  (§5); never a referral-level notice;
- admin: everything, unsuppressed.
An ``org`` filter outside the token's organisations is refused with 403 from the request
alone, before any lookup, so the answer never reveals whether that organisation has alerts.
Rows come from :func:`services.alerts.list_alerts` (bound parameters only).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Final

import asyncpg
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from scoring.suppression import suppress_figures
from services.alerts import Alert, list_alerts
from services.alerts.rules import State
from services.api.auth import Authenticated, forbidden, suppressed_for
from services.api.database import connection
from services.api.errors import JsonResponse
from services.api.models import ANY_PERIOD_PATTERN, ORG_PATTERN, ErrorBody, Figure
from services.api.tokens import Principal, Role

router = APIRouter(prefix="/v1")
Db = Annotated[asyncpg.Connection, Depends(connection)]

DATE_PATTERN: Final = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
"""The period of a referral-level notice: the session's date (``2019-06-10``)."""
ALERT_PERIOD_PATTERN: Final = f"{ANY_PERIOD_PATTERN}|({DATE_PATTERN})"


class AlertItem(BaseModel):
    rule: str = Field(examples=["deterioration_alarm"])
    level: str = Field(description="provider, team, or referral for a referral-level notice.")
    code: str = Field(description="The unit: a provider code or PROVIDER/TEAM.")
    cohort: str
    cohort_value: str
    measure: str
    perspective: str
    period: str = Field(description="A month, quarter or year; a notice's session date.")
    referral_id: str = Field(description="The referral of a notice; empty for funnel alerts.")
    provider_code: str
    state: State
    figures: dict[str, Figure]
    limits: dict[str, float | None] = Field(description="p0, phi and the funnel limits.")
    raised_at: datetime
    resolved_at: datetime | None
    suppressed: bool = Field(description="True when figures were suppressed per outcomes.md §5.")


class AlertList(BaseModel):
    items: list[AlertItem] = Field(description="Newest first.")


def _orgs_to_list(principal: Principal, org: str | None) -> Sequence[str | None]:
    """The ``org`` arguments of :func:`list_alerts` that cover the request; 403 for an
    ``org`` outside the token's organisations."""
    if principal.role is Role.ADMIN:
        return [org]
    if org is not None:
        if org not in principal.orgs:
            raise forbidden()
        return [org]
    return sorted(principal.orgs)


def _visible(principal: Principal, alert: Alert) -> bool:
    """The role's rule, applied to every row whatever the query that found it."""
    if principal.role is Role.ADMIN:
        return True
    if principal.role is Role.COMMISSIONER:
        return not alert.key.referral_id
    return alert.provider_code in principal.orgs


def _newest_first(alerts: Iterable[Alert]) -> list[Alert]:
    """One list in :func:`list_alerts`' order, each alert once (several orgs may share one)."""
    unique = {alert.key: alert for alert in alerts}
    by_key = sorted(unique.values(), key=lambda alert: alert.key)
    return sorted(by_key, key=lambda alert: alert.raised_at, reverse=True)


@router.get(
    "/alerts",
    response_model=AlertList,
    responses={status: {"model": ErrorBody} for status in (401, 403, 503)},
    summary="Alerts on deteriorating units and referral-level notices in the caller's scope",
)
async def alerts(
    principal: Authenticated,
    db: Db,
    state: State | None = None,
    org: Annotated[
        str | None,
        Query(
            pattern=ORG_PATTERN,
            description="A provider (its alerts) or a CCG (alerts of the providers serving "
            "it in the alert's period); one of the token's organisations except for admin.",
        ),
    ] = None,
    period: Annotated[str | None, Query(pattern=ALERT_PERIOD_PATTERN)] = None,
) -> JsonResponse:
    """Alerts filtered by state, organisation and period (exact), newest first."""
    found: list[Alert] = []
    for code in _orgs_to_list(principal, org):
        found += await list_alerts(db, state=state, org=code, period=period)
    suppressed = suppressed_for(principal)
    items = [
        {
            **alert.payload(),
            "figures": suppress_figures(alert.figures, alert.key.level)
            if suppressed
            else alert.figures,
            "suppressed": suppressed,
        }
        for alert in _newest_first(found)
        if _visible(principal, alert)
    ]
    return JsonResponse({"items": items})
