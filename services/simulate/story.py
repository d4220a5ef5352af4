"""One referral's clinical story, and the questionnaire responses it produces."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date
from typing import Any

from scoring.codes import CODES
from services.simulate.encoding import iso_day, mark, timestamp, token, uuid4
from services.simulate.parameters import (
    AGE_CUM,
    AGE_WEIGHTS,
    ALLIANCE,
    ALLIANCE_CENTRE,
    ALLIANCE_OFFSET_SPREAD,
    ATTENDED_RATE,
    CLOSE_REASON_WEIGHTS,
    CLOSE_REASONS,
    CODED_RATE,
    CODED_SCALES,
    DAY,
    DETERIORATION,
    DISENGAGED_FOLLOW_UP_RATE,
    ETHNICITIES,
    ETHNICITY_WEIGHTS,
    FEW_CONTACTS_RATE,
    FOLLOW_UP_RATE,
    GBO_RATE,
    GENDER_WEIGHTS,
    GENDERS,
    GOAL_RERATING_RATE,
    HONOSCA_NOT_KNOWN,
    IMPROVEMENT_SD,
    INDIRECT_RATE,
    ITEM_COUNTS,
    ITEM_KEYS,
    ITEM_OFFSET_SPREAD,
    ITEM_SCALE,
    ITEM_TOP,
    LATE_ENTRY_RATE,
    LD_OR_AUTISM_RATE,
    LOOKED_AFTER_RATE,
    MEAN_EPISODE_DAYS,
    MEAN_EXTRA_CONTACTS,
    MID_REVIEW_RATE,
    MIN_EPISODE_DAYS,
    OCCASION_SPREAD,
    OPEN_RATE,
    PRE_CONTACT_BASELINE_RATE,
    PROVIDER_CUM,
    PROVIDERS,
    QUESTIONNAIRE,
    REOPEN_RATE,
    SDQ_IMPACT,
    SDQ_IMPACT_RATE,
    SDQ_PROSOCIAL,
    SDQ_REVERSED,
    SESSION_COMPLETION_RATE,
    SEVERITY_MEAN,
    SEVERITY_SD,
    SKIPPED_ITEM_RATE,
    USES,
    VISUAL_ANALOGUE,
    Items,
    Timed,
)


class Story:
    """One referral's clinical story, told event by event from one seeded generator."""

    def __init__(self, rng: random.Random, start: date) -> None:
        self.rng = rng
        first_day = start.toordinal()
        self.horizon = start.replace(year=start.year + 1).toordinal() - 1
        self.provider = rng.choices(PROVIDERS, cum_weights=PROVIDER_CUM)[0]
        self.referral_id = token(rng, 12)
        self.patient_id = token(rng, 12)
        self.age = rng.choices(range(len(AGE_WEIGHTS)), cum_weights=AGE_CUM)[0]
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
            "received_on": iso_day(self.received),
            "age_years": self.age,
            "gender": rng.choices(GENDERS, weights=GENDER_WEIGHTS)[0],
            "ethnicity": rng.choices(ETHNICITIES, weights=ETHNICITY_WEIGHTS)[0],
            "looked_after": self.looked_after,
            "ld_or_autism": rng.random() < LD_OR_AUTISM_RATE,
        }

    def _close(self, day: int) -> Timed:
        return self._event(
            "referral.closed", day, {"closed_on": iso_day(day), "reason": self.reason}
        )

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
            payload = {
                "contact_id": token(rng, 9),
                "contact_on": iso_day(day),
                "attended": attended,
            }
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
            tracks = [(measure, item_rows(rng, measure, informant, levels))]
            alliance = ALLIANCE.get(measure)
            if alliance is not None and informant == "self":
                tracks.append((alliance, item_rows(rng, alliance, informant, levels)))
            for name, rows in tracks:
                for day, items in zip(days, rows, strict=True):
                    timed.append(self._questionnaire(name, informant, day, items))
        return timed

    def _questionnaire(self, measure: str, informant: str, day: int, items: Items) -> Timed:
        payload = {
            "assessment_id": token(self.rng, 9),
            "measure": measure,
            "informant": informant,
            "completed_on": iso_day(day),
            "items": items,
        }
        return self._event(QUESTIONNAIRE, day, payload)

    def _goals(self) -> list[Timed]:
        rng, sessions = self.rng, self.sessions
        timed: list[Timed] = []
        if not sessions or rng.random() >= GBO_RATE:
            return timed
        for _ in range(rng.choices((1, 2, 3), weights=(3, 4, 3))[0]):
            goal_id, offset = token(rng, 9), rng.gauss(0, 1)
            later = sessions[1:] if len(sessions) > 1 and rng.random() < 0.2 else sessions
            days = [later[0]] + [day for day in later[1:] if rng.random() < GOAL_RERATING_RATE]
            for day in days:
                progress = self.severity - self.level(day, self.severity)
                rating = min(10, max(0, round(2.5 + 15 * progress + offset)))
                payload = {"goal_id": goal_id, "rating": rating, "rated_on": iso_day(day)}
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
            payload = {
                "assessment_id": token(rng, 9),
                "completed_on": iso_day(day),
                "scores": scores,
            }
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
            "event_id": uuid4(self.rng),
            "event_type": event_type,
            "schema_version": 1,
            "occurred_at": timestamp(occurred),
            "emitted_at": timestamp(emitted),
            "provider_code": self.provider.code,
            "referral_id": self.referral_id,
            "patient_id": self.patient_id,
            "payload": payload,
        }


def item_rows(
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
            {key: mark(10 * ((ALLIANCE_CENTRE if alliance else 0.95 - level) + offset)
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
