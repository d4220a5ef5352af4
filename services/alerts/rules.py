"""The alert rules of ``shared/spec/outcomes.md`` §6, as pure functions of figures and scores.

- Comparisons (§6): providers within the national picture (level ``provider``, cohort
  ``all``); teams within each provider (level ``team``); each cohort dimension within each
  provider (level ``provider``, units = the cohort's values). Per period and perspective,
  on the proportion ``deteriorated_{p} / paired_{p}`` of the §4 figures, method ``default``.
- Target p₀ = the pooled proportion over the units compared; limits from
  :mod:`scoring.funnel` (Spiegelhalter 2005), with the optional over-dispersion factor φ.
  No signal for a unit with n below the minimum (default 10).
- **Alarm**: above the 99.9% limit. **Warning**: above the 97.5% limit in this period and
  the previous period of the same kind (month, quarter, financial year).
- Lifecycle: an open alert is resolved when its unit falls back inside the warning (97.5%)
  limit at a later evaluation (fewer than the minimum n, or no data, counts as inside);
  the same data give the same states, so re-evaluating raises nothing new.
- Referral-level notices (§6, added): an SRS/CSRS whose score carries the ``alliance``
  alert (measures.md V2 O3, via :mod:`scoring.ors`), and an ORS/CORS reliable deterioration
  between two consecutive sessions (:func:`scoring.change.reliable_change` on ``total``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Any, Final, Literal, NamedTuple

import numpy as np

from scoring.change import reliable_change
from scoring.figures import NATIONAL_CODE, TEAM_CODE_SEPARATOR, AggregateKey
from scoring.funnel import (
    ALARM_QUANTILE,
    MIN_N,
    WARNING_QUANTILE,
    Signal,
    funnel_limit,
    overdispersion_phi,
)
from scoring.ors import ALLIANCE_ALERT
from scoring.published import percentage

State = Literal["open", "resolved"]

ALARM_RULE: Final = "deterioration_alarm"
WARNING_RULE: Final = "deterioration_warning"
FUNNEL_RULES: Final = (ALARM_RULE, WARNING_RULE)
ALLIANCE_RULE: Final = "weak_alliance"
SESSION_DETERIORATION_RULE: Final = "session_deterioration"

METHOD: Final = "default"
"""P: alerts compare the clinically correct figures; ``nhs`` reproduces a national quirk."""
ALL: Final = "all"
FUNNEL_MEASURE: Final = "all"
"""P: the §4 figures pool every metric measure of a perspective; the alert names none."""
REFERRAL_LEVEL: Final = "referral"
COHORT_DIMENSIONS: Final = ("looked_after", "ld_or_autism", "ethnic_group", "gender", "age_band")
ALLIANCE_MEASURES: Final = frozenset({"SRS", "CSRS"})
SESSION_OUTCOME_MEASURES: Final = frozenset({"ORS", "CORS"})
HEADLINE_SCALE: Final = "total"


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """The tunable parts of §6 (Settings ``ALERT_MIN_N`` and ``ALERT_OVERDISPERSION``)."""

    min_n: int = MIN_N
    overdispersion: bool = False
    """Widen the limits by φ estimated from the units' z-scores (Spiegelhalter 2005 §6)."""


DEFAULT_POLICY: Final = AlertPolicy()


class Comparison(NamedTuple):
    """One funnel plot: the units of ``level`` compared within ``scope`` on ``cohort``."""

    level: str
    scope: str
    """``ENG`` for providers nationally, else the provider whose teams or cohorts compare."""
    cohort: str
    period: str

    def provider_of(self, code: str) -> str:
        """The provider a unit's figures belong to (whose webhooks hear of it)."""
        return code if self.scope == NATIONAL_CODE else self.scope


class Unit(NamedTuple):
    """One unit of a comparison: its aggregate code and cohort value."""

    code: str
    cohort_value: str


@dataclass(frozen=True, slots=True)
class UnitSignal:
    """Where one unit stands in its funnel for one perspective."""

    unit: Unit
    perspective: str
    paired: int
    deteriorated: int
    p0: float
    phi: float
    warning_limit: float | None
    alarm_limit: float | None
    signal: Signal | None
    """``None`` below the minimum n."""

    def figures(self) -> dict[str, float | None]:
        p = self.perspective
        return {
            f"paired_{p}": self.paired,
            f"deteriorated_{p}": self.deteriorated,
            f"pct_deteriorated_{p}": percentage(self.deteriorated, self.paired),
        }

    def limits(self) -> dict[str, float | None]:
        return {
            "p0": self.p0,
            "phi": self.phi,
            "warning_limit": self.warning_limit,
            "alarm_limit": self.alarm_limit,
        }


def comparison_of(key: AggregateKey) -> Comparison | None:
    """The funnel plot an aggregate key is a unit of, if any (method ``default`` only)."""
    if key.method != METHOD:
        return None
    if key.level == "team":
        provider = key.code.split(TEAM_CODE_SEPARATOR, 1)[0]
        return Comparison("team", provider, ALL, key.period) if key.cohort == ALL else None
    if key.level != "provider":
        return None
    if key.cohort == ALL:
        return Comparison("provider", NATIONAL_CODE, ALL, key.period)
    if key.cohort in COHORT_DIMENSIONS:
        return Comparison("provider", key.code, key.cohort, key.period)
    return None


def unit_of(key: AggregateKey) -> Unit:
    return Unit(key.code, key.cohort_value)


def _shift_period(period: str, step: int) -> str:
    """The period ``step`` periods of the same kind later (earlier when negative)."""
    if " Q" in period:
        financial_year, quarter = period.split(" Q")
        start, index = divmod(int(financial_year[:4]) * 4 + int(quarter) - 1 + step, 4)
        return f"{start:04d}/{(start + 1) % 100:02d} Q{index + 1}"
    if "/" in period:
        start = int(period[:4]) + step
        return f"{start:04d}/{(start + 1) % 100:02d}"
    year, month = divmod(int(period[:4]) * 12 + int(period[5:7]) - 1 + step, 12)
    return f"{year:04d}-{month + 1:02d}"


def previous_period(period: str) -> str:
    """``2019-04`` → ``2019-03``; ``2019/20 Q1`` → ``2018/19 Q4``; ``2019/20`` → ``2018/19``."""
    return _shift_period(period, -1)


def next_period(period: str) -> str:
    return _shift_period(period, +1)


def funnel_signals(
    units: Mapping[Unit, Mapping[str, Any]], perspective: str, policy: AlertPolicy
) -> dict[Unit, UnitSignal]:
    """Each unit's standing for ``perspective``, from its §4 figures (pooled p₀, §6)."""
    present = list(units.items())
    n = np.array([int(f.get(f"paired_{perspective}") or 0) for _, f in present], dtype=np.int64)
    d = np.array(
        [int(f.get(f"deteriorated_{perspective}") or 0) for _, f in present], dtype=np.int64
    )
    if n.sum() == 0:
        return {}
    p0 = float(d.sum() / n.sum())
    compared = n > 0
    phi = overdispersion_phi(d[compared], n[compared], p0) if policy.overdispersion else 1.0
    warning = funnel_limit(p0, n, WARNING_QUANTILE, phi=phi)
    alarm = funnel_limit(p0, n, ALARM_QUANTILE, phi=phi)
    with np.errstate(divide="ignore", invalid="ignore"):
        proportion = d / n
    signals: list[Signal | None] = [
        None
        if size < max(policy.min_n, 1)
        else "alarm"
        if share > high
        else "warning"
        if share > low
        else "in_control"
        for size, share, low, high in zip(n, proportion, warning, alarm, strict=True)
    ]
    return {
        unit: UnitSignal(
            unit,
            perspective,
            int(size),
            int(count),
            p0,
            phi,
            None if np.isnan(low) else float(low),
            None if np.isnan(high) else float(high),
            signal,
        )
        for (unit, _), size, count, low, high, signal in zip(
            present, n, d, warning, alarm, signals, strict=True
        )
        if size > 0
    }


def _above_warning(signal: Signal | None) -> bool:
    return signal in ("warning", "alarm")


def desired_state(
    rule: str, now: Signal | None, previous: Signal | None, state: State | None
) -> State | None:
    """The state an alert of ``rule`` should have after this evaluation (``None``: no alert).

    Raised by its rule (alarm now; or warning now after a warning or alarm in the previous
    period — an alarm now is the alarm's, not also a warning); kept open while above the
    warning limit; resolved otherwise. A resolved alert stays resolved until raised again.
    """
    if rule == ALARM_RULE:
        raised = now == "alarm"
    elif rule == WARNING_RULE:
        raised = now == "warning" and _above_warning(previous)
    else:
        raise ValueError(f"not a funnel rule: {rule!r}")
    if raised or (state == "open" and _above_warning(now)):
        return "open"
    return None if state is None else "resolved"


class Notice(NamedTuple):
    """A referral-level notice to the provider (§6, individual feedback)."""

    rule: str
    measure: str
    informant: str
    session: date
    figures: dict[str, float | None]


def _session(record: Mapping[str, Any]) -> date:
    completed = record["completed_on"]
    return completed if isinstance(completed, date) else date.fromisoformat(completed)


def referral_notices(scored: Iterable[Mapping[str, Any]]) -> list[Notice]:
    """The notices one referral's current scored assessments (``ScoredAssessment`` JSON) call
    for: weak alliance per SRS/CSRS session; reliable deterioration of an ORS/CORS total from
    one session to the next of the same measure and informant."""
    notices: list[Notice] = []
    sessions: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for record in scored:
        measure = record["measure"]
        if measure in ALLIANCE_MEASURES and ALLIANCE_ALERT in record.get("alerts", ()):
            total = record["scales"].get(HEADLINE_SCALE)
            notices.append(
                Notice(
                    ALLIANCE_RULE,
                    measure,
                    record["informant"],
                    _session(record),
                    {HEADLINE_SCALE: total},
                )
            )
        elif (
            measure in SESSION_OUTCOME_MEASURES and record["scales"].get(HEADLINE_SCALE) is not None
        ):
            sessions.setdefault((measure, record["informant"]), []).append(record)
    for (measure, informant), records in sessions.items():
        ordered = sorted(records, key=lambda r: (_session(r), str(r.get("emitted_at", ""))))
        notices.extend(_deteriorations(measure, informant, ordered))
    return notices


def _deteriorations(
    measure: str, informant: str, ordered: Sequence[Mapping[str, Any]]
) -> Iterable[Notice]:
    for before, after in pairwise(ordered):
        first = float(before["scales"][HEADLINE_SCALE])
        last = float(after["scales"][HEADLINE_SCALE])
        change = reliable_change(measure, informant, HEADLINE_SCALE, first, last)
        if change.category == "reliable_deterioration":
            yield Notice(
                SESSION_DETERIORATION_RULE,
                measure,
                informant,
                _session(after),
                {
                    "first": first,
                    "last": last,
                    "change": change.change,
                    "threshold": change.threshold,
                },
            )
