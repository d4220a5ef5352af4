"""HoNOSCA: Health of the Nation Outcome Scales for Children and Adolescents.

Rules (``shared/spec/measures.md`` § HoNOSCA):
- 15 scales rated 0 (no problem) … 4 (severe); 9 = not known, excluded (V H1, H2).
- ``total`` = sum of scales 1–13, 0–52; scales 14–15 are reported, never in the total (V H2).
- the total needs at least ``MIN_RATED_FOR_TOTAL`` of scales 1–13 rated; no prorating (P).
- each of scales 1–13 is also a result (``scale_1`` … ``scale_13``): the national metric
  pairs them one by one (N1).
Higher is worse throughout.

Sources: H1 Anna Freud Centre AMBIT HoNOSCA manual; H2 NOCC/METeOR HoNOSCA metadata;
N1 NHS Digital mental-health-monthly-statistics (menh_bbrb CYP outcomes).
"""

from __future__ import annotations

from typing import Final

import numpy as np

from scoring.types import (
    BatchScores,
    FloatArray,
    MeasureDefinition,
    ResponseRange,
    no_interpretation,
)

NOT_KNOWN: Final = 9.0
N_SCALES: Final = 15
TOTAL_SCALES: Final = 13
MIN_RATED_FOR_TOTAL: Final = 10
"""P: project choice, measures.md — a total from fewer than 10 of 13 ratings is not reported."""

ITEMS: Final = tuple(str(number) for number in range(1, N_SCALES + 1))
RATING: Final = ResponseRange(0, 4, extra=frozenset({NOT_KNOWN}))
SCALES: Final = (*(f"scale_{number}" for number in range(1, N_SCALES + 1)), "total")


def _score_batch(
    informant: str, responses: FloatArray, ages: FloatArray | None, sexes: object
) -> BatchScores:
    ratings = RATING.answered(responses)
    scales = {f"scale_{number}": ratings[:, number - 1] for number in range(1, N_SCALES + 1)}
    core = ratings[:, :TOTAL_SCALES]
    rated = (~np.isnan(core)).sum(axis=1)
    scales["total"] = np.where(rated >= MIN_RATED_FOR_TOTAL, np.nansum(core, axis=1), np.nan)
    return BatchScores(scales=scales)


HONOSCA: Final = MeasureDefinition(
    code="HONOSCA",
    informants=frozenset({"clinician", "parent", "self"}),
    columns={informant: ITEMS for informant in ("clinician", "parent", "self")},
    responses=dict.fromkeys(ITEMS, RATING),
    required={informant: frozenset(ITEMS) for informant in ("clinician", "parent", "self")},
    score_batch=_score_batch,
    interpret=no_interpretation,  # no published cut-off: no bands, caseness unknown
    scales=SCALES,
    source="H1 AMBIT HoNOSCA manual; H2 NOCC/METeOR HoNOSCA metadata",
)
