"""Synthetic, reproducible CYPMHS event streams in the shape of ``shared/spec/events.md``.

A year of activity from ``start``: 3 CCGs, 6 providers (ODS-shaped codes) with 2–4 teams
each; referrals with demographics, contacts (some missed, some indirect, a few referrals
with fewer than two), closes spread over the four financial quarters (some left open, a few
reopened); questionnaires by age and informant as ``measures.md`` allows them, GBO goals
and a few MHSDS coded scores. Baselines sit near the clinical range and improve over the
episode at a provider-specific rate; one provider's looked-after children deteriorate
clearly, so that the alert of ``outcomes.md`` §6 has something to find.

Delivery realism on top (:class:`DeliveryNoise`): exact duplicates, local disorder (and a
few referrals delivered as one scrambled batch), corrections (same ``assessment_id``, later
``emitted_at``, changed items), ``record.entered_in_error`` withdrawals and a few invalid
events, each about a fresh thing so that accepting one by mistake changes the figures.
:data:`MALFORMED_LINES` holds raw lines that are not events at all.

Each referral draws from its own generator seeded by ``(seed, index)``, clinical facts first,
then delivery, then the invalid event: so the stream is a pure function of its arguments, a
referral's events do not depend on how many referrals are simulated, :data:`CLEAN` yields
the same clinical events as :data:`REALISTIC`, and ``invalid_rate=0`` leaves every other
event byte-for-byte unchanged. Every rate and distribution here is a project choice (P).
"""

from __future__ import annotations

import base64
import functools
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate
from operator import itemgetter
from pathlib import Path
from typing import Any, Final

import orjson

from scoring.codes import CODES

Event = dict[str, Any]
Timed = tuple[int, Event]
"""An event and its ``emitted_at`` as whole seconds since 0001-01-01 (local wall time)."""
Items = dict[str, int | float | None]

DAY: Final = 86_400


@dataclass(frozen=True, slots=True)
class Provider:
    """A provider, the CCGs it serves, its teams and how well its patients do."""

    code: str
    ccgs: tuple[str, ...]
    teams: tuple[str, ...]
    improvement: float
    """Mean share of baseline severity gone by discharge (P)."""
    weight: float = 1.0
    looked_after_deteriorate: bool = False


PROVIDERS: Final = (
    Provider("RYG", ("05A",), ("RYG01", "RYG02", "RYG03"), 0.55, 1.2),
    Provider("RX4", ("13T", "99C"), ("RX401", "RX402", "RX403", "RX404"), 0.45, 1.3),
    Provider("RXT", ("05A",), ("RXT01", "RXT02"), 0.35, looked_after_deteriorate=True),
    Provider("RWK", ("13T",), ("RWK01", "RWK02", "RWK03"), 0.30, 0.9),
    Provider("RV3", ("99C", "13T"), ("RV301", "RV302"), 0.25, 0.8),
    Provider("RQY", ("05A", "99C"), ("RQY01", "RQY02", "RQY03"), 0.40, 0.9),
)
DETERIORATION: Final = -0.8
"""Mean 'improvement' of the deteriorating cohort: severity rises by 80% over the episode."""
IMPROVEMENT_SD: Final = 0.35
"""Spread of improvement between referrals: some deteriorate at every provider (P)."""


@dataclass(frozen=True, slots=True)
class DeliveryNoise:
    """How untidily events arrive (P). :data:`CLEAN` is the clinical truth in emitted order."""

    duplicate_rate: float = 0.03
    correction_rate: float = 0.02
    withdrawal_rate: float = 0.01
    invalid_rate: float = 0.006
    jitter_days: float = 5.0
    """Delivery delays spread over ± this many days: swaps events a few days apart."""
    scramble_rate: float = 0.03
    """Share of referrals delivered as one batch, in random order, after everything else."""


REALISTIC: Final = DeliveryNoise()
CLEAN: Final = DeliveryNoise(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
DELIVERY_GROUP: Final = 64
"""Referrals whose events interleave in delivery order (bounds memory; P)."""

# Demographics (P, roughly CYPMHS caseload shapes): weights by age 0..19, then categories.
AGE_WEIGHTS: Final = (0.5,) * 4 + (3.0,) * 7 + (10.0,) * 7 + (3.0, 1.5)
GENDERS: Final = ("female", "male", "other", "unknown")
GENDER_WEIGHTS: Final = (55.0, 42.0, 1.5, 1.5)
ETHNICITIES: Final = (*"ABCDEFGHJKLMNPRSZ", "99")
ETHNICITY_WEIGHTS: Final = (70, 0.5, 5, 1.5, 0.7, 1, 1.5, 2, 2.5, 1, 1, 1, 2, 0.5, 0.3, 1.5, 5, 3)
LOOKED_AFTER_RATE: Final = 0.05
LD_OR_AUTISM_RATE: Final = 0.10

# Episodes (P): how long, how many contacts, how they end.
OPEN_RATE: Final = 0.15
REOPEN_RATE: Final = 0.02
FEW_CONTACTS_RATE: Final = 0.05
"""Referrals with 0 or 1 contacts: outside the metric's denominators."""
MIN_EPISODE_DAYS: Final = 14
MEAN_EPISODE_DAYS: Final = 90.0
MEAN_EXTRA_CONTACTS: Final = 9.0
ATTENDED_RATE: Final = 0.88
INDIRECT_RATE: Final = 0.07
LATE_ENTRY_RATE: Final = 0.03
"""Events typed in weeks after the fact."""
CLOSE_REASONS: Final = ("treatment_completed", "disengaged", "transferred", "other")
CLOSE_REASON_WEIGHTS: Final = (65.0, 15.0, 10.0, 10.0)

# Questionnaire use (P): (measure, informant, ages, share of referrals, every session?).
USES: Final = (
    ("SDQ", "parent", range(4, 18), 0.55, False),
    ("SDQ", "self", range(11, 18), 0.45, False),
    ("SDQ", "teacher", range(4, 18), 0.10, False),
    ("RCADS", "self", range(8, 18), 0.30, False),
    ("RCADS", "parent", range(8, 18), 0.20, False),
    ("RCADS25", "self", range(8, 18), 0.06, False),
    ("RCADS25", "parent", range(8, 18), 0.04, False),
    ("HONOSCA", "clinician", range(26), 0.50, False),
    ("HONOSCA", "self", range(13, 18), 0.05, False),
    ("HONOSCA", "parent", range(4, 18), 0.05, False),
    ("ORS", "self", range(13, 26), 0.40, True),
    ("CORS", "self", range(6, 13), 0.40, True),
    ("CORS", "parent", range(6, 13), 0.05, True),
)
ALLIANCE: Final = {"ORS": "SRS", "CORS": "CSRS"}
"""Session-by-session outcome measure → its alliance measure, completed at the same session."""
FOLLOW_UP_RATE: Final = 0.65
DISENGAGED_FOLLOW_UP_RATE: Final = 0.2
MID_REVIEW_RATE: Final = 0.1
SESSION_COMPLETION_RATE: Final = 0.9
PRE_CONTACT_BASELINE_RATE: Final = 0.08
"""Baselines completed at referral, before contact 1: never a 'first' (outcomes.md §2)."""
SKIPPED_ITEM_RATE: Final = 0.05
"""Questionnaires with one item left unanswered (HoNOSCA: rated 9, not known)."""
GBO_RATE: Final = 0.35
GOAL_RERATING_RATE: Final = 0.7
CODED_RATE: Final = 0.03

# Items sit at ``top × (share × severity + item offset)``, stochastically rounded (P).
SEVERITY_MEAN, SEVERITY_SD = 0.45, 0.1
ITEM_OFFSET_SPREAD: Final = 0.3
"""Item offsets are uniform on ± this share of the item range."""
ALLIANCE_OFFSET_SPREAD: Final = 0.07
ALLIANCE_CENTRE: Final = 0.93
"""SRS/CSRS marks centre on 9.3 of 10: a total below 36 (an alliance alert) is a minority."""
OCCASION_SPREAD: Final = 0.1
"""Day-to-day wobble of severity: triangular on ± this (SD 0.04)."""
ITEM_KEYS: Final = tuple(str(number) for number in range(1, 48))
ITEM_COUNTS: Final = {"SDQ": 25, "RCADS": 47, "RCADS25": 25, "HONOSCA": 15}
"""Every other measure (ORS, CORS, SRS, CSRS) has 4 visual-analogue items."""
VISUAL_ANALOGUE: Final = frozenset({"ORS", "CORS", "SRS", "CSRS"})
ITEM_TOP: Final = {"SDQ": 2, "RCADS": 3, "RCADS25": 3, "HONOSCA": 4}
ITEM_SCALE: Final = {"SDQ": 1.0, "RCADS": 0.6, "RCADS25": 0.6, "HONOSCA": 0.7}
"""How much of the shared severity each measure's items show."""
SDQ_REVERSED: Final = tuple(n in (7, 11, 14, 21, 25) for n in range(1, 26))
SDQ_PROSOCIAL: Final = tuple(n in (1, 4, 9, 17, 20) for n in range(1, 26))
SDQ_IMPACT: Final = {
    "parent": (
        "impact_distress",
        "impact_home",
        "impact_friendships",
        "impact_classroom",
        "impact_leisure",
    ),
    "teacher": ("impact_distress", "impact_peers", "impact_classroom"),
}
SDQ_IMPACT_RATE: Final = 0.8
HONOSCA_NOT_KNOWN: Final = 9
CODED_SCALES: Final = {
    "PHQ9": (("720433000", 0.8),),
    "RCADS": tuple(
        (code, 0.6)
        for code in ("718655001", "718656000", "718657009", "718658004", "718659007", "718660002")
    ),
}
"""SNOMED CT codes (scoring/data/mhsds_codes.json) and the severity share their values show."""

FUTURE_DAY: Final = date(2099, 12, 31)
"""The completion date of the deliberately future-dated invalid event."""
MALFORMED_LINES: Final[tuple[bytes, ...]] = (
    b'{"event_id": "6f1c2a9e-0b7d-4c55-9a47-3d8e5b1f2c60", "event_type": "contact.rec',
    b"not json at all",
    b'\xff\xfe{"event_type": "referral.opened"}',
    b"[1, 2, 3]",
    b"{}",
    b'"referral.opened"',
)
"""Raw lines a broker may carry that are not events at all (``json.malformed`` and kin)."""


QUESTIONNAIRE: Final = "questionnaire.completed"
WITHDRAWABLE: Final = frozenset({QUESTIONNAIRE, "assessment.scored", "goal.rated"})
INVALID_KINDS: Final = (
    "out_of_range",
    "non_integer",
    "missing_item",
    "unknown_measure",
    "bad_informant",
    "future_date",
    "nhs_number",
    "unknown_field",
    "bad_provider_code",
    "bad_contact_kind",
    "unknown_snomed",
    "out_of_range_score",
)
"""What the deliberately invalid events get wrong (events.md: all must be dead-lettered)."""

_PROVIDER_CUM: Final = tuple(accumulate(provider.weight for provider in PROVIDERS))
_AGE_CUM: Final = tuple(accumulate(AGE_WEIGHTS))


class _Referral:
    """One referral's clinical story, told event by event from one seeded generator."""

    def __init__(self, rng: random.Random, start: date) -> None:
        self.rng = rng
        first_day = start.toordinal()
        self.horizon = start.replace(year=start.year + 1).toordinal() - 1
        self.provider = rng.choices(PROVIDERS, cum_weights=_PROVIDER_CUM)[0]
        self.referral_id = _token(rng, 12)
        self.patient_id = _token(rng, 12)
        self.age = rng.choices(range(len(AGE_WEIGHTS)), cum_weights=_AGE_CUM)[0]
        self.looked_after = rng.random() < LOOKED_AFTER_RATE
        self.reason = rng.choices(CLOSE_REASONS, weights=CLOSE_REASON_WEIGHTS)[0]
        length = MIN_EPISODE_DAYS + int(rng.expovariate(1 / MEAN_EPISODE_DAYS))
        self.closed: int | None = None
        if rng.random() < OPEN_RATE:
            self.received = rng.randint(first_day, self.horizon)
        else:  # closes evenly over the year's four quarters
            self.closed = rng.randint(first_day + MIN_EPISODE_DAYS, self.horizon)
            if self.closed - length < first_day:
                length = rng.randint(MIN_EPISODE_DAYS, self.closed - first_day)
            self.received = self.closed - length
        self.episode_end = self.received + length
        if self.provider.looked_after_deteriorate and self.looked_after:
            self.improvement = rng.gauss(DETERIORATION, 0.15)
        else:
            self.improvement = rng.gauss(self.provider.improvement, IMPROVEMENT_SD)
        if self.reason == "disengaged":
            self.improvement /= 2
        self.severity = min(0.95, max(0.05, rng.gauss(SEVERITY_MEAN, SEVERITY_SD)))
        self.sessions: list[int] = []

    def events(self) -> list[Timed]:
        rng = self.rng
        timed = [self._event("referral.opened", self.received, self._profile())]
        timed += self._contacts()
        self.start_day = self.sessions[0] if self.sessions else self.received
        timed += self._questionnaires() + self._goals() + self._coded()
        if self.closed is not None:
            timed.append(self._close(self.closed))
            reopened = self.closed + rng.randint(3, 30)
            if rng.random() < REOPEN_RATE and reopened <= self.horizon:
                timed.append(self._event("referral.reopened", reopened, {}))
                closed_again = reopened + rng.randint(7, 60)
                if rng.random() < 0.5 and closed_again <= self.horizon:
                    timed.append(self._close(closed_again))
        return timed

    def _profile(self) -> dict[str, Any]:
        rng = self.rng
        return {
            "ccg_code": rng.choice(self.provider.ccgs),
            "team_code": rng.choice(self.provider.teams),
            "received_on": _day(self.received),
            "age_years": self.age,
            "gender": rng.choices(GENDERS, weights=GENDER_WEIGHTS)[0],
            "ethnicity": rng.choices(ETHNICITIES, weights=ETHNICITY_WEIGHTS)[0],
            "looked_after": self.looked_after,
            "ld_or_autism": rng.random() < LD_OR_AUTISM_RATE,
        }

    def _close(self, day: int) -> Timed:
        return self._event("referral.closed", day, {"closed_on": _day(day), "reason": self.reason})

    def _contacts(self) -> list[Timed]:
        rng = self.rng
        if rng.random() < FEW_CONTACTS_RATE:
            count = rng.randint(0, 1)
        else:
            count = 2 + min(int(rng.expovariate(1 / MEAN_EXTRA_CONTACTS)), 20)
        end = min(self.episode_end, self.horizon)
        first = min(self.received + rng.randint(3, 42), self.received + (end - self.received) // 3)
        days = sorted([first] + [rng.randint(first, end) for _ in range(count - 1)])[:count]
        timed = []
        for day in days:
            indirect = rng.random() < INDIRECT_RATE
            attended = indirect or rng.random() < ATTENDED_RATE
            if attended and not indirect:
                self.sessions.append(day)
            payload = {"contact_id": _token(rng, 9), "contact_on": _day(day), "attended": attended}
            timed.append(
                self._event(
                    "contact.recorded", day, payload | {"kind": "indirect"} if indirect else payload
                )
            )
        return timed

    def level(self, day: int, base: float) -> float:
        """Severity on ``day``: ``base`` moving linearly by ``improvement`` over the episode."""
        span = max(1, self.episode_end - self.start_day)
        progress = min(1.0, max(0.0, (day - self.start_day) / span))
        noise = (self.rng.random() - self.rng.random()) * OCCASION_SPREAD  # triangular
        return base * (1 - self.improvement * progress) + noise

    def _occasions(self, every_session: bool) -> list[int]:
        rng, sessions = self.rng, self.sessions
        if every_session:
            return [day for day in sessions if rng.random() < SESSION_COMPLETION_RATE]
        days = [self.received] if rng.random() < PRE_CONTACT_BASELINE_RATE else []
        if sessions:
            days.append(sessions[0])
            days += [day for day in sessions[1:-1] if rng.random() < MID_REVIEW_RATE]
            disengaged = self.reason == "disengaged"
            follow_up = DISENGAGED_FOLLOW_UP_RATE if disengaged else FOLLOW_UP_RATE
            if len(sessions) > 1 and rng.random() < follow_up:
                days.append(sessions[-1])
        return days

    def _questionnaires(self) -> list[Timed]:
        rng, timed = self.rng, []
        for measure, informant, ages, share, every_session in USES:
            if self.age not in ages or rng.random() >= share:
                continue
            days = self._occasions(every_session)
            base = self.severity + rng.gauss(0, 0.08)
            levels = [self.level(day, base) for day in days]
            tracks = [(measure, _item_rows(rng, measure, informant, levels))]
            alliance = ALLIANCE.get(measure)
            if alliance is not None and informant == "self":
                tracks.append((alliance, _item_rows(rng, alliance, informant, levels)))
            for name, rows in tracks:
                for day, items in zip(days, rows, strict=True):
                    timed.append(self._questionnaire(name, informant, day, items))
        return timed

    def _questionnaire(self, measure: str, informant: str, day: int, items: Items) -> Timed:
        payload = {
            "assessment_id": _token(self.rng, 9),
            "measure": measure,
            "informant": informant,
            "completed_on": _day(day),
            "items": items,
        }
        return self._event(QUESTIONNAIRE, day, payload)

    def _goals(self) -> list[Timed]:
        rng, sessions = self.rng, self.sessions
        timed: list[Timed] = []
        if not sessions or rng.random() >= GBO_RATE:
            return timed
        for _ in range(rng.choices((1, 2, 3), weights=(3, 4, 3))[0]):
            goal_id, offset = _token(rng, 9), rng.gauss(0, 1)
            later = sessions[1:] if len(sessions) > 1 and rng.random() < 0.2 else sessions
            days = [later[0]] + [day for day in later[1:] if rng.random() < GOAL_RERATING_RATE]
            for day in days:
                progress = self.severity - self.level(day, self.severity)
                rating = min(10, max(0, round(2.5 + 15 * progress + offset)))
                payload = {"goal_id": goal_id, "rating": rating, "rated_on": _day(day)}
                timed.append(self._event("goal.rated", day, payload))
        return timed

    def _coded(self) -> list[Timed]:
        """A few EPRs send MHSDS coded scores (assessment.scored): PHQ-9 or RCADS subscales."""
        rng, sessions = self.rng, self.sessions
        instrument = "PHQ9" if self.age >= 12 else "RCADS"
        if not sessions or self.age < 8 or rng.random() >= CODED_RATE:
            return []
        timed = []
        for day in sorted({sessions[0], sessions[-1]}):
            level = self.level(day, self.severity)
            scores = []
            for snomed, share in CODED_SCALES[instrument]:
                coded = CODES[snomed]
                value = round(coded.high * share * level + rng.gauss(0, 1))
                scores.append({"snomed": snomed, "value": min(coded.high, max(coded.low, value))})
            payload = {"assessment_id": _token(rng, 9), "completed_on": _day(day), "scores": scores}
            timed.append(self._event("assessment.scored", day, payload))
        return timed

    def _event(
        self, event_type: str, day: int, payload: dict[str, Any], *, emitted: int | None = None
    ) -> Timed:
        """An envelope around ``payload``; occurred in working hours on ``day`` unless
        ``emitted`` is given (then it occurred when it was emitted: an administrative act)."""
        uniform = self.rng.random
        if emitted is None:  # working hours, then typed in minutes to hours later, or weeks
            occurred = day * DAY + 30_600 + int(uniform() * 34_200)
            delay = 45 * DAY if uniform() < LATE_ENTRY_RATE else 28_800
            emitted = occurred + 60 + int(uniform() * delay)
        else:
            occurred = emitted
        return emitted, {
            "event_id": _uuid4(self.rng),
            "event_type": event_type,
            "schema_version": 1,
            "occurred_at": _timestamp(occurred),
            "emitted_at": _timestamp(emitted),
            "provider_code": self.provider.code,
            "referral_id": self.referral_id,
            "patient_id": self.patient_id,
            "payload": payload,
        }


def simulate(
    referrals: int, seed: int, *, start: date = date(2019, 4, 1), noise: DeliveryNoise = REALISTIC
) -> Iterator[Event]:
    """Yield the events of ``referrals`` referrals over the year from ``start``, as delivered.

    A duplicate is the *same* dict yielded twice (same bytes when serialised): treat the
    events as read-only.
    """
    for first in range(0, referrals, DELIVERY_GROUP):
        delivery: list[tuple[float, Event]] = []
        for index in range(first, min(referrals, first + DELIVERY_GROUP)):
            rng = random.Random(f"{seed}:{index}")  # noqa: S311 (reproducible, not secret)
            delivery.extend(_referral(rng, start, noise))
        delivery.sort(key=itemgetter(0))
        for _, event in delivery:
            yield event


def write_jsonl(events: Iterable[Event], path: Path, *, raw_lines: Iterable[bytes] = ()) -> int:
    """Write one JSON object per line, then ``raw_lines`` verbatim; return the line count."""
    count = 0
    with path.open("wb") as out:
        for event in events:
            out.write(orjson.dumps(event) + b"\n")
            count += 1
        for line in raw_lines:
            out.write(line + b"\n")
            count += 1
    return count


def _referral(rng: random.Random, start: date, noise: DeliveryNoise) -> list[tuple[float, Event]]:
    """One referral's events keyed by delivery time: its story, then noise, then perhaps an
    invalid event (drawn last, so that it never changes anything else)."""
    referral = _Referral(rng, start)
    timed = referral.events()
    for emitted, event in list(timed):
        if event["event_type"] == QUESTIONNAIRE and rng.random() < noise.correction_rate:
            timed.append(_correction(referral, emitted, event))
        if event["event_type"] in WITHDRAWABLE and rng.random() < noise.withdrawal_rate:
            timed.append(_withdrawal(referral, emitted, event))
    if rng.random() < noise.scramble_rate:
        batch = max(emitted for emitted, _ in timed) + DAY
        delivery = [(batch + rng.random() * 3600, event) for _, event in timed]
    else:
        spread = noise.jitter_days * DAY  # triangular delays: a few days' local disorder
        delivery = [
            (emitted + (rng.random() - rng.random()) * spread, event) for emitted, event in timed
        ]
    delivery += [
        (key + rng.expovariate(1 / DAY), event)
        for key, event in delivery
        if rng.random() < noise.duplicate_rate
    ]
    if rng.random() < noise.invalid_rate:
        emitted, event = _invalid(referral, rng.choice(INVALID_KINDS))
        delivery.append((emitted + rng.gauss(0, DAY), event))
    return delivery


def _correction(referral: _Referral, emitted: int, original: Event) -> Timed:
    """The same assessment re-sent later with one to three items changed."""
    rng, payload = referral.rng, original["payload"]
    items = dict(payload["items"])
    top = ITEM_TOP.get(payload["measure"])
    for key in rng.sample([key for key in items if key.isdigit()], rng.randint(1, 3)):
        was = items[key]
        while items[key] == was:
            items[key] = rng.randint(0, top) if top else round(rng.uniform(0, 10), 1)
    corrected_at = emitted + rng.randint(3600, 10 * DAY)
    event = original | {
        "event_id": _uuid4(rng),
        "emitted_at": _timestamp(corrected_at),
        "payload": payload | {"items": items},
    }
    return corrected_at, event


def _withdrawal(referral: _Referral, emitted: int, original: Event) -> Timed:
    payload = original["payload"]
    if original["event_type"] == "goal.rated":
        target = {
            "target": payload["goal_id"],
            "kind": "goal_rating",
            "rated_on": payload["rated_on"],
        }
    else:
        target = {"target": payload["assessment_id"], "kind": "assessment"}
    withdrawn_at = emitted + referral.rng.randint(DAY, 30 * DAY)
    return referral._event("record.entered_in_error", 0, target, emitted=withdrawn_at)


def _invalid(referral: _Referral, kind: str) -> Timed:
    """A fresh event (new assessment or contact) that breaks one rule of events.md."""
    rng = referral.rng
    day = rng.randint(referral.received, referral.horizon)
    if kind == "bad_contact_kind":
        payload = {
            "contact_id": _token(rng, 9),
            "contact_on": _day(day),
            "attended": True,
            "kind": "video",
        }
        return referral._event("contact.recorded", day, payload)
    if kind in ("unknown_snomed", "out_of_range_score"):
        score = (
            {"snomed": "123456789", "value": 3}
            if kind == "unknown_snomed"
            else {"snomed": "720433000", "value": 30}
        )
        payload = {"assessment_id": _token(rng, 9), "completed_on": _day(day), "scores": [score]}
        return referral._event("assessment.scored", day, payload)
    items = _item_rows(rng, "HONOSCA", "clinician", [referral.severity])[0]
    emitted, event = referral._questionnaire("HONOSCA", "clinician", day, items)
    payload = event["payload"]
    if kind == "out_of_range":
        items["3"] = 5
    elif kind == "non_integer":
        items["1"] = 1.5
    elif kind == "missing_item":
        del items["15"]
    elif kind == "unknown_measure":
        payload["measure"] = "K10"
    elif kind == "bad_informant":
        payload["informant"] = "teacher"
    elif kind == "future_date":
        payload["completed_on"] = FUTURE_DAY.isoformat()
    elif kind == "nhs_number":
        event["patient_id"] = nhs_number(rng)
    elif kind == "unknown_field":
        payload["comment"] = "free text, which the contract forbids"
    else:
        event["provider_code"] = referral.provider.code.lower()
    return emitted, event


def _item_rows(
    rng: random.Random, measure: str, informant: str, levels: Sequence[float]
) -> list[Items]:
    """One questionnaire per severity level (0 none … 1 the worst).

    Each item has its own offset, fixed for the referral, so that change follows the
    trajectory rather than the noise; responses are ``floor(x + U)``, an integer with mean x
    (pure Python: for a few dozen items it beats numpy's per-call overhead).
    """
    uniform = rng.random
    n_items = ITEM_COUNTS.get(measure, 4)
    spread = ALLIANCE_OFFSET_SPREAD if measure in ALLIANCE.values() else ITEM_OFFSET_SPREAD
    offsets = [(2 * uniform() - 1) * spread for _ in range(n_items)]
    if measure in VISUAL_ANALOGUE:  # ORS/CORS: higher is better; SRS/CSRS: mostly high
        alliance = measure in ALLIANCE.values()
        return [
            {key: _mark(10 * ((ALLIANCE_CENTRE if alliance else 0.95 - level) + offset)
                        + uniform() - 0.5)
             for key, offset in zip(ITEM_KEYS, offsets, strict=False)}
            for level in levels
        ]  # fmt: skip
    top = ITEM_TOP[measure]
    keys = ITEM_KEYS[:n_items]
    scaled = [top * offset for offset in offsets]
    rows: list[Items] = []
    for level in levels:
        if measure == "SDQ":
            strength = top * (0.8 - 0.3 * level)  # prosocial items: higher is better
            centres = [strength if prosocial else top * level for prosocial in SDQ_PROSOCIAL]
        else:
            centres = [top * ITEM_SCALE[measure] * level] * n_items
        values = [int(c + o + uniform()) for c, o in zip(centres, scaled, strict=True)]
        values = [0 if v < 0 else top if v > top else v for v in values]
        if measure == "SDQ":
            values = [top - v if rev else v for v, rev in zip(values, SDQ_REVERSED, strict=True)]
        items: Items = dict(zip(keys, values, strict=True))
        if uniform() < SKIPPED_ITEM_RATE:
            items[rng.choice(keys)] = HONOSCA_NOT_KNOWN if measure == "HONOSCA" else None
        if measure == "SDQ" and uniform() < SDQ_IMPACT_RATE:
            impact = 3 * level
            items["impact_difficulties"] = min(3, max(0, int(impact + 0.5 + uniform())))
            for key in SDQ_IMPACT.get(informant, SDQ_IMPACT["parent"]):
                items[key] = min(3, max(0, int(impact + uniform())))
        rows.append(items)
    return rows


def _mark(value: float) -> float:
    """A visual-analogue mark: 0–10 to one decimal."""
    return round(min(10.0, max(0.0, value)), 1)


def nhs_number(rng: random.Random) -> str:
    """A 10-digit number that passes the NHS mod-11 check: only ever used to test the guard."""
    while True:
        digits = [rng.randrange(10) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check != 10:  # 10 is never issued; 11 means 0
            return "".join(map(str, digits)) + str(check % 11)


def _uuid4(rng: random.Random) -> str:
    """``str(uuid.UUID(int=rng.getrandbits(128), version=4))``, formatted three times faster."""
    bits = f"{rng.getrandbits(128):032x}"
    variant = "89ab"[int(bits[16], 16) & 3]
    return f"{bits[:8]}-{bits[8:12]}-4{bits[13:16]}-{variant}{bits[17:20]}-{bits[20:]}"


def _token(rng: random.Random, n_bytes: int) -> str:
    """A random-looking pseudonymous identifier of [A-Za-z0-9_-]; its length (16 or 12
    characters) can never be that of a 10-digit NHS number."""
    return base64.urlsafe_b64encode(rng.getrandbits(8 * n_bytes).to_bytes(n_bytes)).decode()


@functools.lru_cache(maxsize=2048)
def _day_and_offset(ordinal: int) -> tuple[str, str]:
    """ISO date and the UK offset in force on that day (BST: last Sunday of March to last
    Sunday of October)."""
    day = date.fromordinal(ordinal)
    march, october = date(day.year, 3, 31), date(day.year, 10, 31)
    bst_from = march - timedelta(days=(march.weekday() + 1) % 7)
    bst_until = october - timedelta(days=(october.weekday() + 1) % 7)
    return day.isoformat(), "+01:00" if bst_from <= day < bst_until else "+00:00"


def _day(ordinal: int) -> str:
    return _day_and_offset(ordinal)[0]


def _timestamp(seconds: int) -> str:
    ordinal, second = divmod(seconds, DAY)
    day, offset = _day_and_offset(ordinal)
    return f"{day}T{_clock(second)}{offset}"


@functools.cache
def _clock(second: int) -> str:
    hour, rest = divmod(second, 3600)
    return f"{hour:02d}:{rest // 60:02d}:{rest % 60:02d}"
