"""Alerts on deteriorating cohorts and referral-level notices (``shared/spec/outcomes.md`` §6).

:mod:`~services.alerts.rules` holds the pure rules; :func:`evaluate` applies them inside the
batch transaction; :mod:`~services.alerts.webhooks` registers and delivers signed webhooks;
:func:`open_alerts` / :func:`list_alerts` and :func:`render_alerts` show them.
"""

from services.alerts.evaluate import evaluate
from services.alerts.rules import AlertPolicy
from services.alerts.store import Alert, AlertKey, list_alerts, open_alerts
from services.alerts.views import render_alerts
from services.alerts.webhooks import DeliveryPolicy, add_webhook, deliver_due, delivery_loop

__all__ = [
    "Alert",
    "AlertKey",
    "AlertPolicy",
    "DeliveryPolicy",
    "add_webhook",
    "deliver_due",
    "delivery_loop",
    "evaluate",
    "list_alerts",
    "open_alerts",
    "render_alerts",
]
