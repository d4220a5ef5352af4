"""The synthetic event stream: reproducible, shaped as events.md says, realistic enough.

Expected shapes and rules are written out here from events.md and measures.md, not taken
from the generator. Proportions are checked with generous bounds around the intended rates
(binomial noise at these sizes is a few percentage points).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

import scoring
from services.simulate import (
    CLEAN,
    MALFORMED_LINES,
    DeliveryNoise,
    nhs_number,
    simulate,
    write_jsonl,
)

N = 1500
SEED = 20190401
ODS = re.compile(r"^[A-Z0-9]{3}([A-Z0-9]{2})?$")
PSEUDONYM = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
LOCAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ENVELOPE = {
    "event_id", "event_type", "schema_version", "occurred_at", "emitted_at",
    "provider_code", "referral_id", "patient_id", "payload",
}  # fmt: skip
PAYLOAD_KEYS: dict[str, tuple[set[str], set[str]]] = {  # (required, optional), events.md
    "referral.opened": (
        {"ccg_code", "received_on", "age_years", "gender", "ethnicity", "looked_after",
         "ld_or_autism"},
        {"team_code"},
    ),
    "referral.closed": ({"closed_on", "reason"}, set()),
    "referral.reopened": (set(), set()),
    "contact.recorded": ({"contact_id", "contact_on", "attended"}, {"kind"}),
    "questionnaire.completed": (
        {"assessment_id", "measure", "informant", "completed_on", "items"}, set()
    ),
    "assessment.scored": ({"assessment_id", "completed_on", "scores"}, set()),
    "goal.rated": ({"goal_id", "rating", "rated_on"}, set()),
    "record.entered_in_error": ({"target", "kind"}, {"rated_on"}),
}  # fmt: skip
ETHNIC_CODES = set("ABCDEFGHJKLMNPRSZ") | {"99"}


def is_valid_nhs_number(text: str) -> bool:
    """Mod-11, written from the NHS Data Dictionary: weights 10..2 on the first nine digits,
    check = 11 - (sum mod 11); 11 -> 0; 10 -> never valid."""
    if not re.fullmatch(r"\d{10}", text):
        return False
    total = sum(
        int(digit) * weight for digit, weight in zip(text[:9], range(10, 1, -1), strict=True)
    )
    check = 11 - total % 11
    return check != 10 and (check % 11) == int(text[9])


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return list(simulate(N, SEED))


@pytest.fixture(scope="module")
def invalid_ids(events: list[dict[str, Any]]) -> set[str]:
    """The deliberately invalid events: what switching them off removes."""
    without = {
        event["event_id"] for event in simulate(N, SEED, noise=DeliveryNoise(invalid_rate=0))
    }
    return {event["event_id"] for event in events} - without


@pytest.fixture(scope="module")
def valid(events: list[dict[str, Any]], invalid_ids: set[str]) -> list[dict[str, Any]]:
    return [event for event in events if event["event_id"] not in invalid_ids]


def opened(valid: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["referral_id"]: e for e in valid if e["event_type"] == "referral.opened"}


def of_type(events: list[dict[str, Any]], event_type: str) -> Iterator[dict[str, Any]]:
    return (event for event in events if event["event_type"] == event_type)


def test_same_seed_same_bytes_other_seed_other_stream() -> None:
    first = [orjson.dumps(event) for event in simulate(200, 3)]
    assert first == [orjson.dumps(event) for event in simulate(200, 3)]
    assert first != [orjson.dumps(event) for event in simulate(200, 4)]


def test_a_referral_does_not_depend_on_how_many_are_simulated() -> None:
    # Referral i draws from its own generator: 100 referrals are a subset of 150.
    small = {orjson.dumps(event) for event in simulate(100, 5)}
    assert small <= {orjson.dumps(event) for event in simulate(150, 5)}


def test_clean_stream_is_the_clinical_truth_inside_the_realistic_one(
    valid: list[dict[str, Any]],
) -> None:
    clean = list(simulate(N, SEED, noise=CLEAN))
    clean_bytes = [orjson.dumps(event) for event in clean]
    assert len(set(clean_bytes)) == len(clean_bytes)  # no duplicates
    assert set(clean_bytes) <= {orjson.dumps(event) for event in valid}
    assert not any(True for _ in of_type(clean, "record.entered_in_error"))
    emitted = [datetime.fromisoformat(event["emitted_at"]) for event in clean[:2000]]
    assert emitted[:64] == sorted(emitted[:64])  # delivered in emitted order within a group


def test_every_event_has_the_envelope_of_events_md(valid: list[dict[str, Any]]) -> None:
    for event in valid:
        assert set(event) == ENVELOPE
        assert event["schema_version"] == 1
        assert uuid.UUID(event["event_id"]).version == 4
        assert str(uuid.UUID(event["event_id"])) == event["event_id"]
        occurred = datetime.fromisoformat(event["occurred_at"])
        emitted = datetime.fromisoformat(event["emitted_at"])
        assert occurred.utcoffset() is not None
        assert emitted >= occurred
        assert ODS.match(event["provider_code"])
        for key in ("referral_id", "patient_id"):
            assert PSEUDONYM.match(event[key])
            assert not is_valid_nhs_number(event[key])
        required, optional = PAYLOAD_KEYS[event["event_type"]]
        assert required <= set(event["payload"]) <= required | optional


def test_payload_values_follow_the_contract(valid: list[dict[str, Any]]) -> None:
    for event in of_type(valid, "referral.opened"):
        payload = event["payload"]
        assert ODS.match(payload["ccg_code"])
        assert 0 <= payload["age_years"] <= 25
        assert payload["gender"] in {"male", "female", "other", "unknown"}
        assert payload["ethnicity"] in ETHNIC_CODES
        assert date.fromisoformat(payload["received_on"]) >= date(2019, 4, 1)
    for event in of_type(valid, "contact.recorded"):
        assert LOCAL_ID.match(event["payload"]["contact_id"])
        assert event["payload"].get("kind", "direct") in {"direct", "indirect"}
    for event in of_type(valid, "referral.closed"):
        assert event["payload"]["reason"] in {
            "treatment_completed", "transferred", "disengaged", "other"
        }  # fmt: skip
        assert date(2019, 4, 1) <= date.fromisoformat(event["payload"]["closed_on"])
        assert date.fromisoformat(event["payload"]["closed_on"]) <= date(2020, 3, 31)
    for event in of_type(valid, "goal.rated"):
        assert isinstance(event["payload"]["rating"], int)
        assert 0 <= event["payload"]["rating"] <= 10
    for event in of_type(valid, "assessment.scored"):
        for score in event["payload"]["scores"]:
            coded = scoring.codes.CODES[score["snomed"]]
            assert coded.low <= score["value"] <= coded.high


def test_organisations_three_ccgs_six_providers_two_to_four_teams(
    valid: list[dict[str, Any]],
) -> None:
    profiles = [event["payload"] | {"provider": event["provider_code"]}
                for event in opened(valid).values()]  # fmt: skip
    assert {p["ccg_code"] for p in profiles} == {"05A", "13T", "99C"}
    providers = {p["provider"] for p in profiles}
    assert len(providers) == 6
    for provider in providers:
        mine = [p for p in profiles if p["provider"] == provider]
        assert 1 <= len({p["ccg_code"] for p in mine}) <= 2
        assert 2 <= len({p["team_code"] for p in mine}) <= 4


def test_demographics_in_intended_proportions(valid: list[dict[str, Any]]) -> None:
    profiles = [event["payload"] for event in opened(valid).values()]
    n = len(profiles)
    assert n == N  # exactly one referral.opened per referral (duplicates share an id)

    def share(test: Callable[[dict[str, Any]], bool]) -> float:
        return sum(1 for profile in profiles if test(profile)) / n

    assert share(lambda p: 4 <= p["age_years"] <= 17) > 0.9
    assert 0.01 < share(lambda p: p["age_years"] >= 18) < 0.1
    assert 0.03 < share(lambda p: p["looked_after"]) < 0.07  # ~5%
    assert 0.07 < share(lambda p: p["ld_or_autism"]) < 0.13  # ~10%
    assert 0.6 < share(lambda p: p["ethnicity"] == "A") < 0.8  # White British ~70%
    assert 0.5 < share(lambda p: p["gender"] == "female") < 0.6


def test_lifecycle_quarters_open_reopened_and_few_contacts(valid: list[dict[str, Any]]) -> None:
    closed = {e["referral_id"] for e in of_type(valid, "referral.closed")}
    assert 0.1 < 1 - len(closed) / N < 0.2  # ~15% still open
    quarters = Counter(
        (date.fromisoformat(e["payload"]["closed_on"]).month - 4) % 12 // 3
        for e in of_type(valid, "referral.closed")
    )
    assert set(quarters) == {0, 1, 2, 3}
    assert min(quarters.values()) > 0.15 * sum(quarters.values())
    assert any(True for _ in of_type(valid, "referral.reopened"))
    contacts = Counter(e["referral_id"] for e in of_type(valid, "contact.recorded"))
    few = sum(1 for referral in opened(valid) if contacts[referral] < 2)
    assert 0.02 < few / N < 0.1  # ~5% with fewer than two contacts
    payloads = [e["payload"] for e in of_type(valid, "contact.recorded")]
    assert any(not p["attended"] for p in payloads)
    assert any(p.get("kind") == "indirect" for p in payloads)


def test_questionnaires_respect_ages_and_informants(valid: list[dict[str, Any]]) -> None:
    ages = {referral: e["payload"]["age_years"] for referral, e in opened(valid).items()}
    allowed = {  # measures.md, and the age bands of the brief
        ("SDQ", "parent"): range(4, 18), ("SDQ", "teacher"): range(4, 18),
        ("SDQ", "self"): range(11, 18), ("RCADS", "self"): range(8, 18),
        ("RCADS", "parent"): range(8, 18), ("ORS", "self"): range(13, 26),
        ("CORS", "self"): range(6, 13), ("SRS", "self"): range(13, 26),
        ("CSRS", "self"): range(6, 13),
    }  # fmt: skip
    seen: Counter[tuple[str, str]] = Counter()
    for event in of_type(valid, "questionnaire.completed"):
        payload = event["payload"]
        pair = (payload["measure"], payload["informant"])
        seen[pair] += 1
        if pair in allowed:
            assert ages[event["referral_id"]] in allowed[pair]
    expected = {
        ("SDQ", "parent"), ("SDQ", "self"), ("SDQ", "teacher"), ("RCADS", "self"),
        ("RCADS", "parent"), ("RCADS25", "self"), ("HONOSCA", "clinician"), ("ORS", "self"),
        ("CORS", "self"), ("SRS", "self"), ("CSRS", "self"),
    }  # fmt: skip
    assert expected <= set(seen)
    assert any(True for _ in of_type(valid, "goal.rated"))
    assert any(True for _ in of_type(valid, "assessment.scored"))


@pytest.mark.parametrize(
    "measure", ["SDQ", "RCADS", "RCADS25", "HONOSCA", "ORS", "CORS", "SRS", "CSRS"]
)
def test_items_are_valid_for_their_measure(valid: list[dict[str, Any]], measure: str) -> None:
    if scoring.MEASURES[measure].code != measure:
        pytest.skip(f"scoring module for {measure} not landed yet")
    for event in of_type(valid, "questionnaire.completed"):
        payload = event["payload"]
        if payload["measure"] == measure:
            scoring.validate_items(measure, payload["informant"], payload["items"])


def test_sdq_parent_baselines_centre_near_the_clinical_range(valid: list[dict[str, Any]]) -> None:
    # Total difficulties = the 20 non-prosocial items, reverse items 7, 11, 14, 21, 25
    # scored 2 - x (measures.md); parent caseness starts at 17 ("high"), so a mean first
    # total of roughly 14-20 puts the cohort around the threshold.
    prosocial, reverse = {1, 4, 9, 17, 20}, {7, 11, 14, 21, 25}
    first: dict[str, tuple[str, int]] = {}
    for event in of_type(valid, "questionnaire.completed"):
        payload = event["payload"]
        items = payload["items"]
        if (payload["measure"], payload["informant"]) != ("SDQ", "parent"):
            continue
        if any(items[str(n)] is None for n in range(1, 26)):
            continue
        total = sum(2 - items[str(n)] if n in reverse else items[str(n)]
                    for n in range(1, 26) if n not in prosocial)  # fmt: skip
        day = payload["completed_on"]
        if event["referral_id"] not in first or day < first[event["referral_id"]][0]:
            first[event["referral_id"]] = (day, total)
    mean = sum(total for _, total in first.values()) / len(first)
    assert 14 <= mean <= 20


def ors_change_by_referral(valid: list[dict[str, Any]]) -> dict[str, float]:
    """Last minus first ORS/CORS total (sum of the four marks; higher is better)."""
    totals: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for event in of_type(valid, "questionnaire.completed"):
        payload = event["payload"]
        if payload["measure"] in ("ORS", "CORS"):
            totals[event["referral_id"]].append(
                (payload["completed_on"], sum(payload["items"].values()))
            )
    return {r: max(t)[1] - min(t)[1] for r, t in totals.items() if len({d for d, _ in t}) > 1}


def test_providers_differ_and_one_looked_after_cohort_deteriorates(
    valid: list[dict[str, Any]],
) -> None:
    profiles = opened(valid)
    change = ors_change_by_referral(valid)
    groups: dict[tuple[str, bool], list[float]] = defaultdict(list)
    for referral, delta in change.items():
        event = profiles[referral]
        groups[(event["provider_code"], event["payload"]["looked_after"])].append(delta)
    mean = {key: sum(v) / len(v) for key, v in groups.items()}
    assert mean[("RYG", False)] > mean[("RV3", False)] + 1  # the best vs the weakest provider
    assert all(mean[(p, False)] > 0 for p, _ in groups)  # everyone improves on average …
    assert mean[("RXT", True)] < -3  # … except RXT's looked-after children, clearly worse


def test_duplicates_are_the_same_bytes(events: list[dict[str, Any]]) -> None:
    by_id: dict[str, set[bytes]] = defaultdict(set)
    counts = Counter(event["event_id"] for event in events)
    for event in events:
        by_id[event["event_id"]].add(orjson.dumps(event))
    assert all(len(forms) == 1 for forms in by_id.values())
    duplicated = sum(count - 1 for count in counts.values())
    assert 0.02 < duplicated / len(counts) < 0.04  # ~3%


def test_delivery_is_out_of_order_within_referrals(valid: list[dict[str, Any]]) -> None:
    position = {event["event_id"]: index for index, event in enumerate(valid)}
    late_opening = 0
    for referral in opened(valid).values():
        same = [e for e in valid if e["referral_id"] == referral["referral_id"]][:1]
        late_opening += position[referral["event_id"]] > position[same[0]["event_id"]]
        if late_opening:
            break
    assert late_opening  # some referral's first delivered event is not its referral.opened
    emitted = [event["emitted_at"] for event in valid]
    assert emitted != sorted(emitted)


def test_corrections_and_withdrawals(valid: list[dict[str, Any]]) -> None:
    forms: dict[str, list[dict[str, Any]]] = defaultdict(list)
    unique = {event["event_id"]: event for event in valid}.values()
    for event in of_type(list(unique), "questionnaire.completed"):
        forms[event["payload"]["assessment_id"]].append(event)
    corrected = [f for f in forms.values() if len(f) > 1]
    assert len(corrected) > 0.01 * len(forms)  # ~2%
    for original, correction in (
        sorted(f, key=lambda e: datetime.fromisoformat(e["emitted_at"])) for f in corrected
    ):
        assert datetime.fromisoformat(correction["emitted_at"]) > datetime.fromisoformat(
            original["emitted_at"]
        )
        assert correction["occurred_at"] == original["occurred_at"]
        assert correction["payload"]["items"] != original["payload"]["items"]
    goals = {e["payload"]["goal_id"] for e in of_type(valid, "goal.rated")}
    scored = {e["payload"]["assessment_id"] for e in of_type(valid, "assessment.scored")}
    withdrawals = [e["payload"] for e in of_type(valid, "record.entered_in_error")]
    assert withdrawals
    for payload in withdrawals:
        if payload["kind"] == "goal_rating":
            assert payload["target"] in goals
            assert "rated_on" in payload
        else:
            assert payload["target"] in forms or payload["target"] in scored


def test_invalid_events_each_break_a_rule() -> None:
    everything = list(simulate(300, 9, noise=DeliveryNoise(invalid_rate=1.0)))
    fine = {e["event_id"] for e in simulate(300, 9, noise=DeliveryNoise(invalid_rate=0.0))}
    invalid = [event for event in everything if event["event_id"] not in fine]
    assert 250 < len(invalid) <= 300  # one per referral, duplicates aside
    nhs_numbers = [e["patient_id"] for e in invalid if is_valid_nhs_number(e["patient_id"])]
    assert nhs_numbers
    codes = set()
    for event in invalid:
        codes.add(_rule_broken(event))
    assert None not in codes
    assert len(codes) >= 8


def _rule_broken(event: dict[str, Any]) -> str | None:
    """The first rule of events.md / measures.md the event breaks, checked independently."""
    payload = event["payload"]
    if is_valid_nhs_number(event["patient_id"]):
        return "nhs_number"
    if not ODS.match(event["provider_code"]):
        return "provider_code"
    if payload.get("kind") not in (None, "direct", "indirect"):
        return "contact_kind"
    if event["event_type"] == "assessment.scored":
        score = payload["scores"][0]
        coded = scoring.codes.CODES.get(score["snomed"])
        return "unknown_snomed" if coded is None else "score_range" if not (
            coded.low <= score["value"] <= coded.high) else None  # fmt: skip
    if set(payload) - PAYLOAD_KEYS[event["event_type"]][0]:
        return "unknown_field"
    if payload["completed_on"] > "2090":
        return "future_date"
    if payload["measure"] not in scoring.MEASURES:
        return "unknown_measure"
    if payload["informant"] != "clinician":
        return "informant"
    items = payload["items"]
    if set(items) != {str(n) for n in range(1, 16)}:
        return "missing_item"
    bad = [v for v in items.values() if v not in (0, 1, 2, 3, 4, 9) or isinstance(v, float)]
    return "item_value" if bad else None


def test_nhs_number_generator_passes_mod_11() -> None:
    import random

    rng = random.Random(1)
    assert all(is_valid_nhs_number(nhs_number(rng)) for _ in range(200))
    assert is_valid_nhs_number("9434765919")  # the NHS Digital example: check digit 9
    assert not is_valid_nhs_number("9434765918")


def test_write_jsonl_one_event_per_line_then_raw_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    stream = list(simulate(20, 1))
    count = write_jsonl(stream, path, raw_lines=MALFORMED_LINES)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert count == len(stream) + len(MALFORMED_LINES) == len(lines) - 1
    assert [orjson.loads(line) for line in lines[: len(stream)]] == stream
    assert tuple(lines[len(stream) : -1]) == MALFORMED_LINES


def test_every_valid_event_parses_and_every_invalid_one_is_rejected(
    events: list[dict[str, Any]], invalid_ids: set[str]
) -> None:
    parse = pytest.importorskip("topics.parse")
    for event in events[:20_000]:
        raw = orjson.dumps(event)
        if event["event_id"] in invalid_ids:
            with pytest.raises(parse.InvalidEvent):
                parse.parse_event(raw)
        else:
            parse.parse_event(raw)
    for line in MALFORMED_LINES:
        with pytest.raises(parse.InvalidEvent):
            parse.parse_event(line)
