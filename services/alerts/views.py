"""Alerts as a table for people (``outcomes demo``, ``outcomes alerts list``)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from services.alerts.store import Alert

HEADERS = ("state", "rule", "level", "unit", "cohort", "perspective", "period", "figures")


def _unit(alert: Alert) -> str:
    key = alert.key
    return f"{key.code} referral {key.referral_id}" if key.referral_id else key.code


def _cohort(alert: Alert) -> str:
    key = alert.key
    return key.cohort if key.cohort == key.cohort_value else f"{key.cohort} = {key.cohort_value}"


def _figures(alert: Alert) -> str:
    perspective = alert.key.perspective
    paired = alert.figures.get(f"paired_{perspective}")
    if paired is None:
        return ", ".join(
            f"{name} {value:g}" for name, value in alert.figures.items() if value is not None
        )
    shown = f"{alert.figures.get(f'deteriorated_{perspective}', 0):g}/{paired:g} deteriorated"
    alarm = alert.limits.get("alarm_limit")
    warning = alert.limits.get("warning_limit")
    if alarm is not None and warning is not None:
        shown += f" (limits {warning:.1%} / {alarm:.1%})"
    return shown


def render_alerts(alerts: Sequence[Alert], *, title: str = "Alerts") -> Table:
    """A rich table with one row per alert."""
    table = Table(title=title)
    for header in HEADERS:
        table.add_column(header)
    for alert in alerts:
        key = alert.key
        table.add_row(
            alert.state,
            key.rule,
            key.level,
            _unit(alert),
            _cohort(alert),
            key.perspective if key.level != "referral" else f"{key.measure} {key.perspective}",
            key.period,
            _figures(alert),
        )
    return table
