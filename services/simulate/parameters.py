"""Every rate, distribution and code the simulation draws from: each a project choice (P)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from itertools import accumulate
from typing import Any, Final

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

PROVIDER_CUM: Final = tuple(accumulate(provider.weight for provider in PROVIDERS))
AGE_CUM: Final = tuple(accumulate(AGE_WEIGHTS))
