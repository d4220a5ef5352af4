"""ORS / CORS (outcome) and SRS / CSRS (session alliance): four visual-analogue marks.

Rules (``shared/spec/measures.md`` § ORS / CORS and § SRS / CSRS):
- four items ``"1"``…``"4"``, each 0–10 to one decimal, all four required and answered;
  ``total`` = their sum, 0–40; higher is better (V O1).
- ORS (13+, informant ``self``) and CORS (6–12, ``self`` or ``parent`` for a
  parent-completed CORS): a total *below* the clinical cut-off is in the clinical range,
  which is caseness: ORS adult 25 (V2 O2), ORS age 13–17 28 (P, unverified), CORS 32
  (V2 O2).
- SRS and CSRS (informant ``self``): a total below 36 raises the ``alliance`` alert for the
  clinician (V2 O3; sources differ between < and ≤, a named parameter here, P). Alliance is
  not an outcome: no caseness, never paired.

Sources: O1 CORC ORS/CORS and SRS pages; O2 OpenFIT knowledge base (ORS cut-offs);
O3 SRS secondary descriptions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

import numpy as np

from scoring.types import (
    BatchScores,
    FloatArray,
    Interpretation,
    Interpreter,
    MeasureDefinition,
    ResponseRange,
)

ITEMS: Final = ("1", "2", "3", "4")
MARK: Final = ResponseRange(0, 10, step=0.1)
SCALES: Final = ("total",)
TOTAL_DECIMALS: Final = 1
"""Marks have one decimal, so their sum does too; rounding removes binary error
(7.3 + 8.1 + 6.4 + 9.0 = 30.799999999999997) that would otherwise move a total of exactly
a cut-off (28.0) to the clinical side."""

ORS_ADULT_CUT_OFF: Final = 25.0
"""V2 O2: ORS total below 25 = clinical range for adults (18+)."""
ORS_ADOLESCENT_CUT_OFF: Final = 28.0
"""P (unverified, O2 secondary): ORS total below 28 = clinical range at ages 13–17."""
ADULT_AGE: Final = 18.0
ORS_UNKNOWN_AGE_CUT_OFF: Final = ORS_ADOLESCENT_CUT_OFF
"""P: with no age, the adolescent cut-off — the service is for under-18s."""
CORS_CUT_OFF: Final = 32.0
"""V2 O2: CORS total below 32 = clinical range (self or parent completed)."""

ALLIANCE_CUT_OFF: Final = 36.0
"""V2 O3: an SRS/CSRS total below 36 signals a weak alliance."""
ALLIANCE_ALERT_AT_CUT_OFF: Final = False
"""P: sources differ between < 36 and ≤ 36; by default a total of exactly 36 is no alert."""
ALLIANCE_ALERT: Final = "alliance"

CLINICAL: Final = "clinical"
NON_CLINICAL: Final = "non-clinical"


def _score_batch(
    informant: str, responses: FloatArray, ages: FloatArray | None, sexes: object
) -> BatchScores:
    total = np.round(responses.sum(axis=1), TOTAL_DECIMALS)
    return BatchScores(scales={"total": total})


def ors_cut_off(age: float | None) -> float:
    """The ORS clinical cut-off at ``age``: adult 25 from 18, otherwise the adolescent 28."""
    if age is None:
        return ORS_UNKNOWN_AGE_CUT_OFF
    return ORS_ADULT_CUT_OFF if age >= ADULT_AGE else ORS_ADOLESCENT_CUT_OFF


def cors_cut_off(age: float | None) -> float:
    """The CORS clinical cut-off: 32 at every age, whoever completes it."""
    return CORS_CUT_OFF


def _outcome_interpreter(cut_off: Callable[[float | None], float]) -> Interpreter:
    """Outcome reading: a total below ``cut_off(age)`` is clinical, which is caseness."""

    def interpret(
        informant: str,
        scales: Mapping[str, float | None],
        t_scores: Mapping[str, float | None],
        age: float | None,
    ) -> Interpretation:
        total = scales.get("total")
        if total is None:
            return Interpretation(bands={"total": None})
        clinical = total < cut_off(age)
        return Interpretation(
            bands={"total": CLINICAL if clinical else NON_CLINICAL}, caseness=clinical
        )

    return interpret


def alliance_alert(total: float | None, *, at_cut_off: bool = ALLIANCE_ALERT_AT_CUT_OFF) -> bool:
    """Whether an SRS/CSRS total signals a weak alliance (``at_cut_off``: ≤ 36, else < 36)."""
    if total is None:
        return False
    return total <= ALLIANCE_CUT_OFF if at_cut_off else total < ALLIANCE_CUT_OFF


def _interpret_alliance(
    informant: str,
    scales: Mapping[str, float | None],
    t_scores: Mapping[str, float | None],
    age: float | None,
) -> Interpretation:
    """Alliance: an alert when weak; no bands, no caseness (not an outcome measure)."""
    alert = alliance_alert(scales.get("total"))
    return Interpretation(alerts=frozenset({ALLIANCE_ALERT}) if alert else frozenset())


def _four_mark_measure(
    code: str, informants: frozenset[str], interpret: Interpreter, source: str
) -> MeasureDefinition:
    return MeasureDefinition(
        code=code,
        informants=informants,
        columns=dict.fromkeys(informants, ITEMS),
        responses=dict.fromkeys(ITEMS, MARK),
        required=dict.fromkeys(informants, frozenset(ITEMS)),
        score_batch=_score_batch,
        interpret=interpret,
        scales=SCALES,
        higher_is_better=frozenset(SCALES),
        answer_required=True,
        source=source,
    )


ORS: Final = _four_mark_measure(
    "ORS",
    frozenset({"self"}),
    _outcome_interpreter(ors_cut_off),
    "O1 CORC ORS pages; O2 OpenFIT knowledge base (cut-offs)",
)
CORS: Final = _four_mark_measure(
    "CORS",
    frozenset({"self", "parent"}),
    _outcome_interpreter(cors_cut_off),
    "O1 CORC CORS pages; O2 OpenFIT knowledge base (cut-off)",
)
SRS: Final = _four_mark_measure(
    "SRS", frozenset({"self"}), _interpret_alliance, "O1 CORC SRS pages; O3 SRS descriptions"
)
CSRS: Final = _four_mark_measure(
    "CSRS", frozenset({"self"}), _interpret_alliance, "O1 CORC CSRS pages; O3 SRS descriptions"
)
