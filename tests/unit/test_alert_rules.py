"""The pure rules of outcomes.md §6, against numbers worked out by hand."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.figures import AggregateKey
from scoring.funnel import Signal
from services.alerts.rules import (
    ALARM_RULE,
    ALLIANCE_RULE,
    SESSION_DETERIORATION_RULE,
    WARNING_RULE,
    AlertPolicy,
    Comparison,
    State,
    Unit,
    comparison_of,
    desired_state,
    funnel_signals,
    next_period,
    previous_period,
    referral_notices,
)
from services.alerts.store import Alert, AlertKey
from services.alerts.webhooks import check_url, retry_delay, sign


def figures(n: int, d: int, perspective: str = "clinician") -> dict[str, Any]:
    return {f"paired_{perspective}": n, f"deteriorated_{perspective}": d}


# p0 = (7 + 5 + 0 + 0) / (20 + 20 + 20 + 60) = 12/120 = 0.1. At n = 20 (test_funnel's hand
# values for Bin(20, 0.1)): warning limit 0.2285, alarm limit 0.3352.
#   A 7/20 = 0.35 > 0.3352 -> alarm;  B 5/20 = 0.25 in (0.2285, 0.3352] -> warning;
#   C 0/20 and D 0/60 -> in control.
UNITS = {
    Unit("A", "all"): figures(20, 7),
    Unit("B", "all"): figures(20, 5),
    Unit("C", "all"): figures(20, 0),
    Unit("D", "all"): figures(60, 0),
}


def test_funnel_signals_hand_worked() -> None:
    signals = funnel_signals(UNITS, "clinician", AlertPolicy())
    assert {unit.code: s.signal for unit, s in signals.items()} == {
        "A": "alarm",
        "B": "warning",
        "C": "in_control",
        "D": "in_control",
    }
    a = signals[Unit("A", "all")]
    assert a.p0 == pytest.approx(0.1)
    assert a.warning_limit == pytest.approx(0.2285, abs=1e-4)
    assert a.alarm_limit == pytest.approx(0.3352, abs=1e-4)
    assert a.phi == 1.0
    # 7/20 = 35.0%
    assert a.figures() == {
        "paired_clinician": 20,
        "deteriorated_clinician": 7,
        "pct_deteriorated_clinician": 35.0,
    }


def test_minimum_n_withholds_the_signal_but_the_unit_still_counts_in_p0() -> None:
    signals = funnel_signals(UNITS, "clinician", AlertPolicy(min_n=21))
    # n = 20 < 21: no signal; D (n = 60) still in control against p0 = 0.1.
    assert [signals[Unit(c, "all")].signal for c in "ABCD"] == [None, None, None, "in_control"]
    assert signals[Unit("D", "all")].p0 == pytest.approx(0.1)


def test_other_perspectives_and_empty_units_are_left_out() -> None:
    units = {**UNITS, Unit("E", "all"): figures(0, 0)}
    assert Unit("E", "all") not in funnel_signals(units, "clinician", AlertPolicy())
    assert funnel_signals(units, "self", AlertPolicy()) == {}


def test_overdispersion_widens_the_limits() -> None:
    # z_i = (y_i - 0.1) / sqrt(0.09 / n_i): A (0.35 - 0.1)/0.06708 = 3.727, B 2.236,
    # C -1.491, D -0.1/0.03873 = -2.582. With 4 units floor(0.1 * 4) = 0 are winsorised:
    # phi = (13.889 + 5.0 + 2.222 + 6.667) / 4 = 6.944. Warning at n = 20, normal form:
    # 0.1 + 1.95996 * sqrt(6.944 * 0.09 / 20) = 0.1 + 1.95996 * 0.17678 = 0.4465.
    signals = funnel_signals(UNITS, "clinician", AlertPolicy(overdispersion=True))
    a = signals[Unit("A", "all")]
    assert a.phi == pytest.approx(6.944, abs=1e-3)
    assert a.warning_limit == pytest.approx(0.4465, abs=1e-3)
    assert {s.signal for s in signals.values()} == {"in_control"}


@pytest.mark.parametrize(
    ("period", "before", "after"),
    [
        ("2019-04", "2019-03", "2019-05"),
        ("2019-01", "2018-12", "2019-02"),
        ("2019-12", "2019-11", "2020-01"),
        ("2019/20 Q1", "2018/19 Q4", "2019/20 Q2"),
        ("2019/20 Q4", "2019/20 Q3", "2020/21 Q1"),
        ("2019/20", "2018/19", "2020/21"),
        ("1999/00", "1998/99", "2000/01"),
    ],
)
def test_previous_and_next_periods_of_the_same_kind(period: str, before: str, after: str) -> None:
    assert previous_period(period) == before
    assert next_period(period) == after


def test_comparisons_an_aggregate_key_belongs_to() -> None:
    def key(level: str, code: str, cohort: str = "all", value: str = "all") -> AggregateKey:
        return AggregateKey("default", level, code, "2019-04", cohort, value)

    assert comparison_of(key("provider", "RXT")) == Comparison("provider", "ENG", "all", "2019-04")
    assert comparison_of(key("team", "RXT/RXT01")) == Comparison("team", "RXT", "all", "2019-04")
    assert comparison_of(key("provider", "RXT", "looked_after", "true")) == Comparison(
        "provider", "RXT", "looked_after", "2019-04"
    )
    assert comparison_of(key("team", "RXT/RXT01", "gender", "male")) is None
    assert comparison_of(key("national", "ENG")) is None
    assert comparison_of(key("ccg", "05A")) is None
    assert comparison_of(key("ccg_provider", "05A/RXT")) is None
    assert comparison_of(key("provider", "RXT")._replace(method="nhs")) is None
    assert Comparison("provider", "ENG", "all", "2019-04").provider_of("RXT") == "RXT"
    assert Comparison("team", "RXT", "all", "2019-04").provider_of("RXT/RXT01") == "RXT"


@pytest.mark.parametrize(
    ("rule", "now", "previous", "state", "expected"),
    [
        # raised
        (ALARM_RULE, "alarm", None, None, "open"),
        (WARNING_RULE, "warning", "warning", None, "open"),
        (WARNING_RULE, "warning", "alarm", None, "open"),
        # not raised: one period only, an alarm is not also a warning, below the minimum n
        (WARNING_RULE, "warning", "in_control", None, None),
        (WARNING_RULE, "warning", None, None, None),
        (WARNING_RULE, "alarm", "warning", None, None),
        (ALARM_RULE, "warning", "alarm", None, None),
        (ALARM_RULE, None, "alarm", None, None),
        # kept open while above the warning limit (same data: no transition)
        (ALARM_RULE, "alarm", None, "open", "open"),
        (ALARM_RULE, "warning", None, "open", "open"),
        (WARNING_RULE, "warning", "in_control", "open", "open"),
        # resolved inside the warning limit, below the minimum n or without data
        (ALARM_RULE, "in_control", None, "open", "resolved"),
        (ALARM_RULE, None, None, "open", "resolved"),
        (WARNING_RULE, "in_control", "warning", "open", "resolved"),
        # a resolved alert stays resolved until raised again
        (ALARM_RULE, "warning", None, "resolved", "resolved"),
        (ALARM_RULE, "alarm", None, "resolved", "open"),
    ],
)
def test_alert_lifecycle(
    rule: str,
    now: Signal | None,
    previous: Signal | None,
    state: State | None,
    expected: State | None,
) -> None:
    assert desired_state(rule, now, previous, state) == expected


signals = st.sampled_from([None, "in_control", "warning", "alarm"])
states = st.sampled_from([None, "open", "resolved"])


@given(st.sampled_from([ALARM_RULE, WARNING_RULE]), signals, signals, states)
def test_re_evaluating_the_same_data_is_a_fixed_point(
    rule: str, now: Signal | None, previous: Signal | None, state: State | None
) -> None:
    once = desired_state(rule, now, previous, state)
    assert desired_state(rule, now, previous, once) == once


def scored(
    measure: str,
    on: date,
    total: float,
    *,
    alerts: list[str] | None = None,
    informant: str = "self",
) -> dict[str, Any]:
    return {
        "measure": measure,
        "informant": informant,
        "completed_on": on.isoformat(),
        "emitted_at": f"{on.isoformat()}T12:00:00+00:00",
        "scales": {"total": total},
        "alerts": alerts or [],
    }


def test_notices_weak_alliance_and_session_deterioration() -> None:
    records = [
        scored("SRS", date(2019, 4, 2), 30.0, alerts=["alliance"]),
        scored("SRS", date(2019, 4, 9), 38.0),
        # ORS self threshold 6.6 (measures.md): 30 -> 23.4 is -6.6, reached -> deterioration;
        # 23.4 -> 20 is -3.4, no; 20 -> 28 is +8, an improvement. Out of order on purpose.
        scored("ORS", date(2019, 4, 23), 28.0),
        scored("ORS", date(2019, 4, 2), 30.0),
        scored("ORS", date(2019, 4, 16), 20.0),
        scored("ORS", date(2019, 4, 9), 23.4),
        # CORS self threshold 10: 30 -> 20.5 is -9.5, not reached.
        scored("CORS", date(2019, 4, 2), 30.0),
        scored("CORS", date(2019, 4, 9), 20.5),
        # CORS parent: no threshold documented, so never a deterioration.
        scored("CORS", date(2019, 4, 2), 30.0, informant="parent"),
        scored("CORS", date(2019, 4, 9), 0.0, informant="parent"),
    ]
    notices = referral_notices(records)
    assert [(n.rule, n.measure, n.session) for n in notices] == [
        (ALLIANCE_RULE, "SRS", date(2019, 4, 2)),
        (SESSION_DETERIORATION_RULE, "ORS", date(2019, 4, 9)),
    ]
    assert notices[0].figures == {"total": 30.0}
    assert notices[1].figures["first"] == 30.0
    assert notices[1].figures["last"] == 23.4
    assert notices[1].figures["threshold"] == 6.6


def test_alert_keys_and_transitions() -> None:
    key = AlertKey(
        ALARM_RULE, "provider", "RXT", "looked_after", "true", "all", "clinician", "2019/20 Q1"
    )
    raised = datetime(2019, 7, 1, tzinfo=UTC)
    alert = Alert(key, "RXT", "open", {}, {}, 1, raised)
    assert alert.idempotency_key == (
        "deterioration_alarm/provider/RXT/looked_after/true/all/clinician/2019/20 Q1//open/1"
    )
    later = datetime(2019, 8, 1, tzinfo=UTC)
    resolved = alert.moved_to("resolved", later)
    assert (resolved.state, resolved.sequence, resolved.raised_at, resolved.resolved_at) == (
        "resolved",
        2,
        raised,
        later,
    )
    reopened = resolved.moved_to("open", later)
    assert (reopened.sequence, reopened.resolved_at) == (3, None)
    assert reopened.idempotency_key != alert.idempotency_key


def test_signature_is_hmac_sha256_of_the_body() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    assert sign(b"what do ya want for nothing?", "Jefe") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_retry_delays_double_with_bounded_jitter() -> None:
    rng = random.Random(3)
    for attempts, step in [(1, 2.0), (2, 4.0), (3, 8.0), (6, 64.0)]:
        delay = retry_delay(attempts, 2.0, rng)
        assert step / 2 <= delay <= step


def test_webhook_urls_must_be_https_except_on_this_machine() -> None:
    assert check_url("https://example.org/hook") == "https://example.org/hook"
    assert check_url("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080/x"
    for bad in ("http://example.org/hook", "ftp://example.org", "https:///nohost"):
        with pytest.raises(ValueError, match="https"):
            check_url(bad)
