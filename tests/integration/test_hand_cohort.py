"""Ten referrals built by hand; every figure of outcomes.md §4 worked out by hand below.

Quarter 2019/20 Q1 (April–June 2019). Providers RYG and RX4, CCGs 05A and 06H. Reliable
change thresholds (measures.md): HoNOSCA each of scales 1–13: 2; GBO each goal: 3; RCADS
self T-points depression 17.73, social_phobia 13.99, generalised_anxiety 14.91, panic 18.29,
separation_anxiety 22.95, ocd 16.35. Headlines (§3, added): HoNOSCA total (no threshold,
measures.md: none documented), GBO mean of the paired goals (threshold 3, P in pairing),
RCADS raw total (no threshold). No measure used here has caseness, so every recovery count
is 0 and its interval is None.

Referral by referral (c = counted contact; H(r) = HoNOSCA with every scale rated r, total 13r):

R01 RYG/05A female 12 (White): c 04-02, 04-16, 05-01; closed 06-10. HoNOSCA clinician
    H(4) 03-28 is before contact 1, so not the first (§2); first H(3) 04-02, last H(1) 05-01:
    every scale improves by 2 ≥ 2 → clinician improved; total 39 → 13 (change −26).
    GBO g1 2 → 7 (+5 ≥ 3, improved), g2 3 → 4 (+1): self improved. Headline: mean of goals
    2.5 → 5.5, change +3 ≥ 3 → reliable improvement. 12 events.
R02 RYG/05A male 15 (Asian): c 04-03 direct, 04-10 *indirect, not attended* (counts, §1;
    without it R02 has one contact and leaves the cohort); closed 06-12. HoNOSCA clinician
    first all 2 (total 26), last scales 1–12 at 0, scale 13 at 4 (total 4, change −22):
    twelve scales improve by 2, scale 13 worsens by 2 → deterioration wins (§3).
    GBO g1 1 → 6 (+5): self improved, headline 1 → 6 reliable improvement. 8 events.
R03 RYG/05A female 9 (Not stated): c 04-04, 04-18; closed 05-20. H(2) 04-04 → H(2) 05-02:
    no change (total 26 → 26). H(0) 05-28 is after closed_on: ignored (§2). 7 events.
R04 RYG/05A male 16 (Black), looked after: c 04-05, 04-12; closed 06-20. Two H(2) on 04-12
    (two assessment_ids): same scale, date and value count once (§2), so one assessment and
    no clinician pair (it would otherwise pair 26 → 26). GBO g1 5 → 2 (−3): self
    deteriorated, headline reliable deterioration. 8 events.
R05 RYG/06H other 13 (White): c 04-08, 04-22; closed 06-03. RCADS self, every item 3 on
    04-08, every item 1 on 05-27. Sex "other": no T-scores. `default`: the pair is paired but
    carries no flag (§2), so self paired without a category. `nhs`: raw change against the T
    threshold: depression 30 → 10 (20 ≥ 17.73), social_phobia 27 → 9 (18 ≥ 13.99) improve,
    generalised 18 → 6 (12), panic 27 → 9 (18 < 18.29), separation 21 → 7 (14), ocd 18 → 6
    (12) do not → self improved. Headline RCADS total 141 → 47 (−94). 6 events.
R06 RX4/06H male 7 (Mixed), LD/autism: c 04-09, 04-23; closed 05-10, reopened, closed 06-25
    (the last close decides, so the 06-05 assessments count). HoNOSCA clinician H(3) 04-09 →
    H(0) 06-05: improved (total 39 → 0, −39). HoNOSCA self all 2 on 04-09 → scale 1 at 0,
    the rest 2 on 06-05 (total 26 → 24): `default` self improved (scale 1 by 2); `nhs` counts
    self-rated scale 1 under parent (§4 Method): parent improved, self (scales 2–13) no change.
    10 events.
R07 RYG/05A aged 18: out of the cohort (§1), although closed with two contacts and a pair.
R08 RYG/05A: c 04-10, but the direct contact of 04-24 was not attended → one contact: out.
R09 RYG/05A: closed 05-31 then reopened: open, out.
R10 RYG/05A female 14: closed 2019-07-15 (Q2): not in Q1; in 2019/20 and Q2. H(2) → H(0).

In cohort for Q1: R01–R06. Percentages are one decimal half up; 0 over a zero denominator.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest

from scoring.published import derive
from scoring.suppression import suppress_figures
from services.pipeline.batch import Incoming, process_batch
from services.runtime import create_database, drop_database
from services.store.migrations import upgrade
from services.store.pool import create_pool
from tests import factories as f

Q1 = "2019/20 Q1"
YEAR = "2019/20"
_emitted = itertools.count()
EMITTED_FROM = datetime(2019, 9, 1, 9, 0, tzinfo=UTC)
"""After every date below, so no payload date is after its event was sent."""


def on(month: int, day: int) -> date:
    return date(2019, month, day)


class Referral:
    """Collects one referral's events; each event is emitted one minute after the previous."""

    def __init__(self, number: int, provider: str = "RYG") -> None:
        self.referral_id = f"REF{number:05d}"
        self.provider = provider
        self.events: list[dict[str, Any]] = []

    def envelope(self) -> dict[str, Any]:
        return {
            "referral_id": self.referral_id,
            "provider_code": self.provider,
            "patient_id": f"PAT{self.referral_id}",
            "emitted_at": EMITTED_FROM + timedelta(minutes=next(_emitted)),
        }

    def add(self, builder: Any, *args: Any, **kwargs: Any) -> Referral:
        self.events.append(builder(*args, **kwargs, **self.envelope()))
        return self

    def contacts(self, *days: date) -> Referral:
        for number, day in enumerate(days, 1):
            self.add(f.contact, f"C{number}", day)
        return self


def honosca_items(rating: int, **overrides: int) -> dict[str, int | float | None]:
    items: dict[str, int | float | None] = {str(n): rating for n in range(1, 16)}
    items.update({key.removeprefix("s"): value for key, value in overrides.items()})
    return items


def cohort() -> list[Referral]:
    r01 = Referral(1).add(f.opened, received_on=on(3, 25), age=12, gender="female")
    r01.contacts(on(4, 2), on(4, 16), on(5, 1)).add(f.closed, on(6, 10))
    r01.add(f.honosca, "H0", on(3, 28), 4).add(f.honosca, "H1", on(4, 2), 3)
    r01.add(f.honosca, "H2", on(5, 1), 1)
    for goal_id, first, last in (("g1", 2, 7), ("g2", 3, 4)):
        r01.add(f.goal, goal_id, first, on(4, 2)).add(f.goal, goal_id, last, on(5, 1))

    r02 = Referral(2).add(f.opened, received_on=on(3, 25), age=15, gender="male", ethnicity="H")
    r02.add(f.contact, "C1", on(4, 3))
    r02.add(f.contact, "C2", on(4, 10), attended=False, kind="indirect")
    r02.add(f.closed, on(6, 12))
    r02.add(f.questionnaire, "H1", "HONOSCA", "clinician", on(4, 3), honosca_items(2))
    mixed = honosca_items(0, s13=4)
    r02.add(f.questionnaire, "H2", "HONOSCA", "clinician", on(5, 15), mixed)
    r02.add(f.goal, "g1", 1, on(4, 3)).add(f.goal, "g1", 6, on(5, 15))

    r03 = Referral(3).add(f.opened, received_on=on(3, 25), age=9, ethnicity="Z", team="T2")
    r03.contacts(on(4, 4), on(4, 18)).add(f.closed, on(5, 20))
    r03.add(f.honosca, "H1", on(4, 4), 2).add(f.honosca, "H2", on(5, 2), 2)
    r03.add(f.honosca, "H3", on(5, 28), 0)

    r04 = Referral(4).add(
        f.opened, received_on=on(3, 25), age=16, gender="male", ethnicity="M", looked_after=True
    )
    r04.contacts(on(4, 5), on(4, 12)).add(f.closed, on(6, 20))
    r04.add(f.honosca, "H1", on(4, 12), 2).add(f.honosca, "H1-copy", on(4, 12), 2)
    r04.add(f.goal, "g1", 5, on(4, 5)).add(f.goal, "g1", 2, on(5, 20))

    r05 = Referral(5).add(f.opened, received_on=on(3, 25), age=13, gender="other", ccg="06H")
    r05.contacts(on(4, 8), on(4, 22)).add(f.closed, on(6, 3))
    for assessment_id, day, rating in (("R1", on(4, 8), 3), ("R2", on(5, 27), 1)):
        items: dict[str, int | float | None] = {str(n): rating for n in range(1, 48)}
        r05.add(f.questionnaire, assessment_id, "RCADS", "self", day, items)

    r06 = Referral(6, provider="RX4").add(
        f.opened,
        received_on=on(3, 25),
        age=7,
        gender="male",
        ethnicity="D",
        ld_or_autism=True,
        ccg="06H",
        team="T9",
    )
    r06.contacts(on(4, 9), on(4, 23)).add(f.closed, on(5, 10)).add(f.reopened)
    r06.add(f.closed, on(6, 25))
    r06.add(f.honosca, "H1", on(4, 9), 3).add(f.honosca, "H2", on(6, 5), 0)
    r06.add(f.questionnaire, "S1", "HONOSCA", "self", on(4, 9), honosca_items(2))
    r06.add(f.questionnaire, "S2", "HONOSCA", "self", on(6, 5), honosca_items(2, s1=0))

    r07 = Referral(7).add(f.opened, received_on=on(3, 25), age=18)
    r07.contacts(on(4, 2), on(4, 9)).add(f.closed, on(6, 1))
    r07.add(f.honosca, "H1", on(4, 2), 3).add(f.honosca, "H2", on(5, 7), 1)

    r08 = Referral(8).add(f.opened, received_on=on(3, 25), age=10, gender="male")
    r08.add(f.contact, "C1", on(4, 10)).add(f.contact, "C2", on(4, 24), attended=False)
    r08.add(f.closed, on(6, 14))
    r08.add(f.honosca, "H1", on(4, 10), 3).add(f.honosca, "H2", on(5, 8), 1)

    r09 = Referral(9).add(f.opened, received_on=on(3, 25), age=11)
    r09.contacts(on(4, 11), on(4, 25)).add(f.closed, on(5, 31)).add(f.reopened)
    r09.add(f.honosca, "H1", on(4, 11), 2).add(f.honosca, "H2", on(5, 9), 0)

    r10 = Referral(10).add(f.opened, received_on=on(4, 20), age=14)
    r10.contacts(on(5, 1), on(5, 15)).add(f.closed, on(7, 15))
    r10.add(f.honosca, "H1", on(5, 1), 2).add(f.honosca, "H2", on(6, 20), 0)
    return [r01, r02, r03, r04, r05, r06, r07, r08, r09, r10]


# --- expected figures, by hand ---

PERSPECTIVE_FIGURES = ("with_assessment", "paired", "improved", "deteriorated", "no_change")


def counts(
    closed: int,
    any_: tuple[int, int],
    clinician: tuple[int, int, int, int, int],
    self_: tuple[int, int, int, int, int],
    parent: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0),
) -> dict[str, float | int | None]:
    """Hand counts: ``any_`` = (with_assessment, paired); each perspective = (with_assessment,
    paired, improved, deteriorated, no_change)."""
    figures: dict[str, float | int | None] = {
        "closed_referrals": closed,
        "with_assessment": any_[0],
        "paired": any_[1],
    }
    for perspective, values in (("clinician", clinician), ("self", self_), ("parent", parent)):
        figures.update(
            {
                f"{name}_{perspective}": value
                for name, value in zip(PERSPECTIVE_FIGURES, values, strict=True)
            }
        )
    return figures


def measure(
    prefix: str,
    n: int,
    first: float,
    last: float,
    sd_change: float | None = None,
    effect_size: float | None = None,
    t: float | None = None,
    p: float | None = None,
    reliable: tuple[int, int, int] = (0, 0, 0),
    percentages: tuple[float, float] = (0.0, 0.0),
    intervals: tuple[tuple[float, float] | None, tuple[float, float] | None] = (None, None),
) -> dict[str, float | int | None]:
    """One measure × informant's figures from hand values; ``reliable`` = (with_threshold,
    reliable improvements, reliable deteriorations). No caseness here: recovery is 0/0."""
    with_threshold, improved, deteriorated = reliable
    figures: dict[str, float | int | None] = {
        "n_paired": n,
        "mean_first": first,
        "mean_last": last,
        "mean_change": last - first,
        "sd_change": sd_change,
        "effect_size": effect_size,
        "t_statistic": t,
        "p_value": p,
        "with_threshold": with_threshold,
        "clinical_first": 0,
    }
    proportions = (
        ("reliable_improvement", improved, percentages[0], intervals[0]),
        ("reliable_deterioration", deteriorated, percentages[1], intervals[1]),
        ("recovered", 0, 0.0, None),
        ("reliably_recovered", 0, 0.0, None),
    )
    for name, count, share, interval in proportions:
        low, high = interval or (None, None)
        figures[name] = count
        figures[f"pct_{name}"] = share
        figures[f"pct_{name}_ci_low"], figures[f"pct_{name}_ci_high"] = low, high
    return {f"{prefix}.{name}": value for name, value in figures.items()}


def p_df1(t: float) -> float:
    """Two-sided p of Student's t with 1 df (Cauchy): 1 − (2/π)·atan|t|."""
    return 1 - 2 / math.pi * math.atan(abs(t))


def p_df2(t: float) -> float:
    """Two-sided p with 2 df: 1 − |t|/√(2 + t²)."""
    return 1 - abs(t) / math.sqrt(2 + t * t)


def p_df3(t: float) -> float:
    """Two-sided p with 3 df: 1 − (2/π)·(atan(a) + a/(1 + a²)), a = |t|/√3."""
    a = abs(t) / math.sqrt(3)
    return 1 - 2 / math.pi * (math.atan(a) + a / (1 + a * a))


# Wilson 95% bounds (z = 1.959964, z² = 3.841459), as percentages to one decimal half up:
# 2/3: centre (0.6667 + 0.6402)/2.2805 = 0.5731, half 0.8596·√(0.0741 + 0.1067) = 0.3655
#      -> 20.77 … 93.85 -> (20.8, 93.9)
# 1/3: centre (0.3333 + 0.6402)/2.2805 = 0.4269, half 0.3655 -> 6.15 … 79.23 -> (6.1, 79.2)
# 1/2: centre 0.5, half 0.4055 -> 9.45 … 90.55 -> (9.5, 90.5)
WILSON_2_OF_3 = (20.8, 93.9)
WILSON_1_OF_3 = (6.1, 79.2)
WILSON_1_OF_2 = (9.5, 90.5)

# HONOSCA.clinician, national Q1: pairs (first, last, change) R01 (39, 13, −26),
# R02 (26, 4, −22), R03 (26, 26, 0), R06 (39, 0, −39); R04 has no pair.
# mean first 130/4 = 32.5, mean last 43/4 = 10.75, mean change −87/4 = −21.75.
# change deviations −4.25, −0.25, 21.75, −17.25; squares 18.0625 + 0.0625 + 473.0625 +
# 297.5625 = 788.75; SD = √(788.75/3) = √262.9167 = 16.2147.
# first deviations ±6.5: Σ = 169, SD = √(169/3) = 7.5056; effect −21.75/7.5056 = −2.8979.
# t = −21.75 / (16.2147/√4) = −2.6827, 3 df.
# No threshold on HoNOSCA total: with_threshold 0, reliable counts 0, percentages 0.0.
HONOSCA_NATIONAL = measure(
    "HONOSCA.clinician",
    4,
    130 / 4,
    43 / 4,
    math.sqrt(788.75 / 3),
    -21.75 / math.sqrt(169 / 3),
    -21.75 / (math.sqrt(788.75 / 3) / 2),
    p_df3(-21.75 / (math.sqrt(788.75 / 3) / 2)),
)
# HONOSCA.clinician at RYG and 05A/RYG (R01–R03): first 39, 26, 26 (mean 91/3 = 30.333);
# last 13, 4, 26 (43/3 = 14.333); changes −26, −22, 0 (mean −16): deviations −10, −6, 16,
# squares 100 + 36 + 256 = 392, SD = √(392/2) = 14. first deviations 8.667, −4.333, −4.333,
# Σ² = 112.667, SD = √56.333 = 7.5056; effect −16/7.5056 = −2.1318; t = −16/(14/√3) = −1.9795.
HONOSCA_RYG = measure(
    "HONOSCA.clinician",
    3,
    91 / 3,
    43 / 3,
    14.0,
    -16 / math.sqrt(338 / 6),
    -16 / (14 / math.sqrt(3)),
    p_df2(-16 / (14 / math.sqrt(3))),
)
# GBO.self (R01, R02, R04 wherever the three are): headlines (first, last, change)
# (2.5, 5.5, +3), (1, 6, +5), (5, 2, −3). mean first 8.5/3 = 2.8333, last 13.5/3 = 4.5,
# change 5/3 = 1.6667. change deviations 4/3, 10/3, −14/3: Σ² = 312/9, SD = √(312/18) =
# √(52/3) = 4.1633. first deviations −1/3, −11/6, 13/6: Σ² = 294/36, SD = √(49/12) = 2.0207;
# effect (5/3)/2.0207 = 0.8248; t = (5/3)/(√(52/3)/√3) = 5/√52 = 0.6934, 2 df.
# Threshold 3 for all three: 2 reliable improvements (66.7%), 1 deterioration (33.3%).
GBO_SELF = measure(
    "GBO.self",
    3,
    8.5 / 3,
    13.5 / 3,
    math.sqrt(52 / 3),
    (5 / 3) / math.sqrt(49 / 12),
    5 / math.sqrt(52),
    p_df2(5 / math.sqrt(52)),
    reliable=(3, 2, 1),
    percentages=(66.7, 33.3),
    intervals=(WILSON_2_OF_3, WILSON_1_OF_3),
)
RCADS_SELF = measure("RCADS.self", 1, 141.0, 47.0)  # R05; one pair: no SD, no test
HONOSCA_SELF = measure("HONOSCA.self", 1, 26.0, 24.0)  # R06

# National Q1, `default`: closed R01–R06 = 6; with an assessment: all 6; paired: all 6.
# clinician: assessed R01 R02 R03 R04 R06 = 5; paired R01 R02 R03 R06 = 4 (R04's duplicate);
#   improved R01 R06 = 2, deteriorated R02 = 1, no change R03 = 1.
# self: assessed R01 R02 R04 R05 R06 = 5; paired the same 5; improved R01 R02 R06 = 3,
#   deteriorated R04 = 1, no change 0 (R05's RCADS pair carries no flag).
# parent: nothing.
NATIONAL_DEFAULT = {
    **counts(6, (6, 6), clinician=(5, 4, 2, 1, 1), self_=(5, 5, 3, 1, 0)),
    # 6/6 = 100.0; 5/6 = 83.33 -> 83.3; 4/6 = 66.67 -> 66.7; over paired_clinician 4:
    # 2/4 = 50.0, 1/4 = 25.0; over paired_self 5: 3/5 = 60.0, 1/5 = 20.0; parent 0 over 0.
    "pct_with_assessment": 100.0,
    "pct_paired": 100.0,
    "pct_with_assessment_clinician": 83.3,
    "pct_paired_clinician": 66.7,
    "pct_improved_clinician": 50.0,
    "pct_deteriorated_clinician": 25.0,
    "pct_no_change_clinician": 25.0,
    "pct_with_assessment_self": 83.3,
    "pct_paired_self": 83.3,
    "pct_improved_self": 60.0,
    "pct_deteriorated_self": 20.0,
    "pct_no_change_self": 0.0,
    "pct_with_assessment_parent": 0.0,
    "pct_paired_parent": 0.0,
    "pct_improved_parent": 0.0,
    "pct_deteriorated_parent": 0.0,
    "pct_no_change_parent": 0.0,
    **HONOSCA_NATIONAL,
    **GBO_SELF,
    **RCADS_SELF,
    **HONOSCA_SELF,
}
# National Q1, `nhs`: R05's RCADS raw change improves and R06's self-rated scale 1 moves
# to parent: self improved R01 R02 R05 = 3, no change R06 = 1,
# deteriorated R04 = 1 (of paired_self 5: 60.0, 20.0, 20.0); parent assessed, paired and
# improved R06 = 1: 1/6 = 16.67 -> 16.7, 1/1 = 100.0. Clinician and the measure blocks as
# `default` (nothing differs for HoNOSCA clinician, GBO or the headline totals).
NATIONAL_NHS = {
    **NATIONAL_DEFAULT,
    **counts(6, (6, 6), clinician=(5, 4, 2, 1, 1), self_=(5, 5, 3, 1, 1), parent=(1, 1, 1, 0, 0)),
    "pct_no_change_self": 20.0,
    "pct_with_assessment_parent": 16.7,
    "pct_paired_parent": 16.7,
    "pct_improved_parent": 100.0,
}

# Provider RYG Q1 (R01–R05; R06 is RX4's), `default`: closed 5, assessed 5, paired 5;
# clinician assessed R01–R04 = 4 (80.0), paired R01–R03 = 3 (60.0), improved R01,
# deteriorated R02, no change R03: 1/3 = 33.33 -> 33.3 each; self assessed and paired
# R01 R02 R04 R05 = 4 (80.0), improved R01 R02 = 2/4 = 50.0, deteriorated R04 = 25.0.
PROVIDER_DEFAULT = {
    **counts(5, (5, 5), clinician=(4, 3, 1, 1, 1), self_=(4, 4, 2, 1, 0)),
    "pct_with_assessment": 100.0,
    "pct_paired": 100.0,
    "pct_with_assessment_clinician": 80.0,
    "pct_paired_clinician": 60.0,
    "pct_improved_clinician": 33.3,
    "pct_deteriorated_clinician": 33.3,
    "pct_no_change_clinician": 33.3,
    "pct_with_assessment_self": 80.0,
    "pct_paired_self": 80.0,
    "pct_improved_self": 50.0,
    "pct_deteriorated_self": 25.0,
    "pct_no_change_self": 0.0,
    "pct_with_assessment_parent": 0.0,
    "pct_paired_parent": 0.0,
    "pct_improved_parent": 0.0,
    "pct_deteriorated_parent": 0.0,
    "pct_no_change_parent": 0.0,
    **HONOSCA_RYG,
    **GBO_SELF,
    **RCADS_SELF,
}
# `nhs` at RYG: R05 improves too: self improved 3/4 = 75.0 (R06 and its parent view are RX4's).
PROVIDER_NHS = {**PROVIDER_DEFAULT, "improved_self": 3, "pct_improved_self": 75.0}

# 05A/RYG Q1 (R01–R04), both methods: closed 4, assessed 4, paired 4 (100.0 each);
# clinician assessed 4 (100.0), paired R01–R03 = 3 (75.0), 1 each way: 33.3;
# self assessed and paired R01 R02 R04 = 3 (75.0), improved 2/3 = 66.7, deteriorated 33.3.
CCG_PROVIDER = {
    **counts(4, (4, 4), clinician=(4, 3, 1, 1, 1), self_=(3, 3, 2, 1, 0)),
    "pct_with_assessment": 100.0,
    "pct_paired": 100.0,
    "pct_with_assessment_clinician": 100.0,
    "pct_paired_clinician": 75.0,
    "pct_improved_clinician": 33.3,
    "pct_deteriorated_clinician": 33.3,
    "pct_no_change_clinician": 33.3,
    "pct_with_assessment_self": 75.0,
    "pct_paired_self": 75.0,
    "pct_improved_self": 66.7,
    "pct_deteriorated_self": 33.3,
    "pct_no_change_self": 0.0,
    "pct_with_assessment_parent": 0.0,
    "pct_paired_parent": 0.0,
    "pct_improved_parent": 0.0,
    "pct_deteriorated_parent": 0.0,
    "pct_no_change_parent": 0.0,
    **HONOSCA_RYG,
    **GBO_SELF,
}

# National Q1, gender male (R02, R04, R06), `default`: closed 3, assessed 3, paired 3.
# clinician assessed R02 R04 R06 = 3 (100.0), paired R02 R06 = 2 (66.7): improved R06,
# deteriorated R02: 1/2 = 50.0 each. self assessed and paired 3 (100.0): improved R02 R06
# = 2/3 = 66.7, deteriorated R04 = 33.3.
# HONOSCA.clinician: R02 (26, 4, −22), R06 (39, 0, −39): means 32.5, 2, −30.5; SD of change
# |−22 − (−39)|/√2 = 17/√2 = 12.0208; SD of first 13/√2 = 9.1924; effect −30.5/9.1924 =
# −3.3180; t = −30.5/(12.0208/√2) = −30.5/8.5 = −3.5882, 1 df.
# GBO.self: R02 (1, 6, +5), R04 (5, 2, −3): means 3, 4, 1; SD of change 8/√2 = 5.6569, SD of
# first 4/√2 = 2.8284, effect 0.3536, t = 1/(5.6569/√2) = 0.25, 1 df; one reliable
# improvement and one deterioration of 2: 50.0% each, Wilson 1/2.
MALE_DEFAULT = {
    **counts(3, (3, 3), clinician=(3, 2, 1, 1, 0), self_=(3, 3, 2, 1, 0)),
    "pct_with_assessment": 100.0,
    "pct_paired": 100.0,
    "pct_with_assessment_clinician": 100.0,
    "pct_paired_clinician": 66.7,
    "pct_improved_clinician": 50.0,
    "pct_deteriorated_clinician": 50.0,
    "pct_no_change_clinician": 0.0,
    "pct_with_assessment_self": 100.0,
    "pct_paired_self": 100.0,
    "pct_improved_self": 66.7,
    "pct_deteriorated_self": 33.3,
    "pct_no_change_self": 0.0,
    "pct_with_assessment_parent": 0.0,
    "pct_paired_parent": 0.0,
    "pct_improved_parent": 0.0,
    "pct_deteriorated_parent": 0.0,
    "pct_no_change_parent": 0.0,
    **measure(
        "HONOSCA.clinician",
        2,
        32.5,
        2.0,
        17 / math.sqrt(2),
        -30.5 / (13 / math.sqrt(2)),
        -30.5 / 8.5,
        p_df1(-30.5 / 8.5),
    ),
    **measure(
        "GBO.self",
        2,
        3.0,
        4.0,
        8 / math.sqrt(2),
        1 / (4 / math.sqrt(2)),
        0.25,
        p_df1(0.25),
        reliable=(2, 1, 1),
        percentages=(50.0, 50.0),
        intervals=(WILSON_1_OF_2, WILSON_1_OF_2),
    ),
    **HONOSCA_SELF,
}
# `nhs`, male: R06 self no change and parent improved: self improved R02 = 1/3 = 33.3, no
# change R06 = 33.3; parent assessed, paired, improved 1: 1/3 = 33.3, 1/3, 1/1 = 100.0.
MALE_NHS = {
    **MALE_DEFAULT,
    **counts(3, (3, 3), clinician=(3, 2, 1, 1, 0), self_=(3, 3, 1, 1, 1), parent=(1, 1, 1, 0, 0)),
    "pct_improved_self": 33.3,
    "pct_no_change_self": 33.3,
    "pct_with_assessment_parent": 33.3,
    "pct_paired_parent": 33.3,
    "pct_improved_parent": 100.0,
}

# Events each aggregate reflects: R01 12, R02 8, R03 7, R04 8, R05 6, R06 10.
EVENTS_NATIONAL_Q1 = 12 + 8 + 7 + 8 + 6 + 10
EVENTS_RYG_Q1 = 12 + 8 + 7 + 8 + 6
EVENTS_MALE_Q1 = 8 + 8 + 10


# --- the test ---


@pytest.fixture(scope="module")
async def stored(postgres_server: str) -> AsyncIterator[dict[tuple[str, ...], dict[str, Any]]]:
    """The cohort through one batch of the pipeline; every aggregate row by key."""
    dsn = await create_database(postgres_server, prefix="roms_hand")
    pool = await create_pool(dsn)
    try:
        async with pool.acquire() as connection:
            await upgrade(connection)
            events = [event for referral in cohort() for event in referral.events]
            batch = [Incoming(orjson.dumps(e), f"hand:{i}") for i, e in enumerate(events)]
            report = await process_batch(connection, batch)
        assert (report.valid, report.rejected) == (len(events), 0)
        rows = await pool.fetch("SELECT * FROM aggregates")
        keys = ("method", "level", "code", "period", "cohort", "cohort_value")
        # A row stores its headline; the per-measure figures are derived from its counters.
        yield {
            tuple(row[column] for column in keys): {
                **row,
                "figures": derive(row["counters"]),
                "stored_figures": row["figures"],
            }
            for row in rows
        }
    finally:
        await pool.close()
        await drop_database(postgres_server, dsn)


def assert_figures(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    assert sorted(actual) == sorted(expected)
    for name, value in expected.items():
        if value is None or isinstance(value, int):
            assert actual[name] == value, name
        else:
            assert actual[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


CASES = [
    ("national", "ENG", "all", "all", NATIONAL_DEFAULT, NATIONAL_NHS, EVENTS_NATIONAL_Q1),
    ("provider", "RYG", "all", "all", PROVIDER_DEFAULT, PROVIDER_NHS, EVENTS_RYG_Q1),
    ("ccg_provider", "05A/RYG", "all", "all", CCG_PROVIDER, CCG_PROVIDER, 12 + 8 + 7 + 8),
    ("national", "ENG", "gender", "male", MALE_DEFAULT, MALE_NHS, EVENTS_MALE_Q1),
]


@pytest.mark.parametrize(("level", "code", "cohort", "value", "default", "nhs", "events"), CASES)
async def test_quarter_figures_match_the_hand_worked_ones(
    stored: dict[tuple[str, ...], dict[str, Any]],
    level: str,
    code: str,
    cohort: str,
    value: str,
    default: dict[str, Any],
    nhs: dict[str, Any],
    events: int,
) -> None:
    for method, expected in (("default", default), ("nhs", nhs)):
        row = stored[(method, level, code, Q1, cohort, value)]
        assert_figures(row["figures"], expected)
        headline = {name: figure for name, figure in expected.items() if "." not in name}
        assert_figures(row["stored_figures"], headline)
        assert row["events"] == events


async def test_honosca_clinician_and_gbo_agree_across_methods(
    stored: dict[tuple[str, ...], dict[str, Any]],
) -> None:
    """Nothing of the `nhs` quirks touches HoNOSCA clinician or GBO: the blocks are equal."""
    for level, code in (("national", "ENG"), ("provider", "RYG"), ("ccg_provider", "05A/RYG")):
        default = stored[("default", level, code, Q1, "all", "all")]["figures"]
        nhs = stored[("nhs", level, code, Q1, "all", "all")]["figures"]
        for name, figure in default.items():
            if name.startswith(("HONOSCA.clinician.", "GBO.self.")) or "clinician" in name:
                assert nhs[name] == figure, name


async def test_excluded_referrals_reach_no_quarter_one_key(
    stored: dict[tuple[str, ...], dict[str, Any]],
) -> None:
    # R06 alone at RX4; R07–R09 out of the cohort; R10 closed in Q2 only.
    assert stored[("default", "provider", "RX4", Q1, "all", "all")]["figures"]["paired"] == 1
    assert ("default", "national", "ENG", Q1, "age_band", "18+") not in stored
    national_bands = {
        key[5] for key in stored if key[:5] == ("default", "national", "ENG", Q1, "age_band")
    }
    # R06 7 → 5-10; R03 9 → 5-10; R01 12, R05 13, R02 15 → 11-15; R04 16 → 16-17.
    assert national_bands == {"5-10", "11-15", "16-17"}
    quarter_two = stored[("default", "national", "ENG", "2019/20 Q2", "all", "all")]["figures"]
    # R10: closed 07-15, H(2) → H(0): clinician improved; nobody else closed in Q2.
    assert (quarter_two["closed_referrals"], quarter_two["improved_clinician"]) == (1, 1)
    june = stored[("default", "national", "ENG", "2019-06", "all", "all")]["figures"]
    # closed in June: R01 06-10, R02 06-12, R04 06-20, R05 06-03, R06 06-25 (not R03, May).
    assert june["closed_referrals"] == 5
    may = stored[("default", "national", "ENG", "2019-05", "all", "all")]["figures"]
    assert may["closed_referrals"] == 1  # R03 only: R06's first close (05-10) was undone


async def test_ccg_provider_figures_are_suppressed_on_the_way_out(
    stored: dict[tuple[str, ...], dict[str, Any]],
) -> None:
    quarter = stored[("default", "ccg_provider", "05A/RYG", Q1, "all", "all")]["figures"]
    shown = suppress_figures(quarter, "ccg_provider")
    # At 05A/RYG every count of the quarter is 1–4 (→ *) or 0 (→ 0); so is the numerator of
    # every percentage and interval bound (0 → 0, bounds of 0/0 stay None), and every mean,
    # SD and test rests on 3 pairs (< 5 → *). Hence: None stays None, 0 stays 0, all else *.
    assert shown == {
        name: figure if figure is None or figure == 0 else "*"
        for name, figure in CCG_PROVIDER.items()
    }
    national = stored[("default", "national", "ENG", Q1, "all", "all")]["figures"]
    assert suppress_figures(national, "national") == national  # never suppressed
    # Over the financial year 05A/RYG also has R10 (Q2): closed 5 → 5, assessed 5 → 5, both
    # 100%; clinician paired R01 R02 R03 R10 = 4 → *; improved R01 R10 = 2 → *.
    year = suppress_figures(
        stored[("default", "ccg_provider", "05A/RYG", YEAR, "all", "all")]["figures"],
        "ccg_provider",
    )
    assert (year["closed_referrals"], year["with_assessment"], year["pct_with_assessment"]) == (
        5,
        5,
        100,
    )
    assert (year["with_assessment_clinician"], year["pct_with_assessment_clinician"]) == (5, 100)
    assert (year["paired_clinician"], year["improved_clinician"]) == ("*", "*")
    assert year["HONOSCA.clinician.n_paired"] == "*"
