"""GBO — Goal Based Outcomes: one goal's rating at a time (event ``goal.rated``).

Rules (``shared/spec/measures.md`` § GBO; ``events.md`` ``goal.rated``):
- each rating is an integer 0–10, higher is better (V G1, N1); the event carries one rating,
  so the definition has one item, ``rating``, required and answered, scored as the scale
  ``goal``. Each goal is its own series (first rating = baseline): pairing keys it by
  ``goal_id``, not by this scale name.
- informant ``self`` unless the event says otherwise (measures.md); ``goal.rated`` has no
  informant field today, so ``parent`` is accepted for goals set with a parent (P).
- GBO has no clinical cut-off: no bands, no caseness.

Sources: G1 CORC goal-progress guidance; N1 NHS Digital mental-health-monthly-statistics.
"""

from __future__ import annotations

from typing import Final

from scoring.types import (
    BatchScores,
    FloatArray,
    MeasureDefinition,
    ResponseRange,
    no_interpretation,
)

ITEM: Final = "rating"
SCALE: Final = "goal"
RATING: Final = ResponseRange(0, 10)
INFORMANTS: Final = frozenset({"self", "parent"})
"""P: ``self`` by default (measures.md), ``parent`` when the event says so."""


def _score_batch(
    informant: str, responses: FloatArray, ages: FloatArray | None, sexes: object
) -> BatchScores:
    return BatchScores(scales={SCALE: responses[:, 0].copy()})


GBO: Final = MeasureDefinition(
    code="GBO",
    informants=INFORMANTS,
    columns=dict.fromkeys(INFORMANTS, (ITEM,)),
    responses={ITEM: RATING},
    required=dict.fromkeys(INFORMANTS, frozenset({ITEM})),
    score_batch=_score_batch,
    interpret=no_interpretation,  # no published cut-off: no bands, caseness unknown
    scales=(SCALE,),
    higher_is_better=frozenset({SCALE}),
    answer_required=True,
    source="G1 CORC goal-progress guidance; N1 NHS Digital CYP outcomes",
)
