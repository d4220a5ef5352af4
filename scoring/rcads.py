"""RCADS-47 and RCADS-25: Revised Child Anxiety and Depression Scale (self and parent).

Rules (``shared/spec/measures.md`` § RCADS, § RCADS-25):
- items answered 0 never … 3 always, no reverse items, higher is worse (V R2).
- RCADS-47 subscales and their items (V2 R3); ``total_anxiety`` = the five anxiety
  subscales, ``total`` = all six. RCADS-25 ``depression`` items 1, 4, 8, 10, 13, 15, 16, 19,
  21, 24, ``anxiety`` the other 15, ``total`` both (V2 R4).
- a subscale with a few items unanswered is prorated: mean of the answered items × item
  count, rounded half up (P, allowances in :data:`RCADS_SUBSCALES` and
  :data:`RCADS25_SUBSCALES`); with more missing it is missing.
- totals are the sums of their (possibly prorated) subscales and are missing when any
  subscale is (P: measures.md says only "missing if any part is missing"; summing the
  prorated parts keeps ``total`` = ``total_anxiety`` + ``depression`` exactly). A total is
  flagged prorated when one of its parts is.
- T = 10 × (raw − mean) / SD + 50 for the six RCADS-47 subscales only, with the mean and SD
  of the national table for the version (self → child, parent → parent), sex and whole-year
  age 8–17 (V N1, ``data/rcads_t_transform.json``); no T outside the table. T is kept at full
  precision (P: the national code does not round it, and rounding would move scores across
  the 65/70 bands and the reliable-change thresholds).
- bands on T: ≥ 65 borderline, ≥ 70 clinical (V R1); caseness = any subscale T ≥ 70.
- RCADS-25 has no T-scores and no national threshold: no bands, caseness unknown.

Sources: R1 rcads.ucla.edu scoring and FAQ; R2 RCADS User's Guide (Chorpita, Ebesutani,
Spence); R3, R4 secondary item lists and NDA-derived RCADS-25 dictionaries; N1 NHS Digital
mental-health-monthly-statistics (menh_bbrb ``rcads_transform_score``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Final

import numpy as np
from numpy.typing import NDArray

from scoring.types import (
    BatchScorer,
    BatchScores,
    BoolArray,
    FloatArray,
    Interpretation,
    Interpreter,
    MeasureDefinition,
    ResponseRange,
    band,
    no_interpretation,
    prorated_sum,
)

RESPONSE: Final = ResponseRange(0, 3)
INFORMANTS: Final = frozenset({"self", "parent"})
SOURCES: Final = "R1 rcads.ucla.edu; R2 RCADS User's Guide; R3, R4 item lists; N1 NHS Digital"


@dataclass(frozen=True, slots=True)
class Subscale:
    """Items (as printed, from 1) of one subscale and how many may be left unanswered."""

    items: tuple[int, ...]
    allowed_missing: int

    @property
    def columns(self) -> list[int]:
        return [item - 1 for item in self.items]

    @property
    def min_answered(self) -> int:
        return len(self.items) - self.allowed_missing


RCADS_SUBSCALES: Final[Mapping[str, Subscale]] = {
    # P: one missing item allowed, two for the 9- and 10-item subscales (measures.md § RCADS).
    "separation_anxiety": Subscale((5, 9, 17, 18, 33, 45, 46), allowed_missing=1),
    "social_phobia": Subscale((4, 7, 8, 12, 20, 30, 32, 38, 43), allowed_missing=2),
    "generalised_anxiety": Subscale((1, 13, 22, 27, 35, 37), allowed_missing=1),
    "panic": Subscale((3, 14, 24, 26, 28, 34, 36, 39, 41), allowed_missing=2),
    "ocd": Subscale((10, 16, 23, 31, 42, 44), allowed_missing=1),
    "depression": Subscale((2, 6, 11, 15, 19, 21, 25, 29, 40, 47), allowed_missing=2),
}
RCADS_TOTALS: Final[Mapping[str, tuple[str, ...]]] = {
    "total_anxiety": tuple(name for name in RCADS_SUBSCALES if name != "depression"),
    "total": tuple(RCADS_SUBSCALES),
}

RCADS25_DEPRESSION_ITEMS: Final = (1, 4, 8, 10, 13, 15, 16, 19, 21, 24)
RCADS25_SUBSCALES: Final[Mapping[str, Subscale]] = {
    # P: one missing item allowed, two for the 15-item anxiety scale (measures.md § RCADS-25).
    "depression": Subscale(RCADS25_DEPRESSION_ITEMS, allowed_missing=1),
    "anxiety": Subscale(
        tuple(item for item in range(1, 26) if item not in RCADS25_DEPRESSION_ITEMS),
        allowed_missing=2,
    ),
}
RCADS25_TOTALS: Final[Mapping[str, tuple[str, ...]]] = {"total": tuple(RCADS25_SUBSCALES)}

BORDERLINE_T: Final = 65.0
CLINICAL_T: Final = 70.0
T_BAND_LABELS: Final = ("clinical", "borderline", "normal")

# --- The national T-score table, as arrays indexed [version, subscale, sex, age - 8] ---

VERSIONS: Final = ("child", "parent")
VERSION_OF_INFORMANT: Final[Mapping[str, int]] = {"self": 0, "parent": 1}
T_SUBSCALES: Final = tuple(RCADS_SUBSCALES)
SEXES: Final = ("female", "male")
TABLE_SEX_CODES: Final = ("F", "M")
YOUNGEST: Final = 8
OLDEST: Final = 17


def _load_table() -> tuple[FloatArray, FloatArray]:
    """Means and SDs from the bundled national table; fails loudly if any cell is absent."""
    text = resources.files("scoring").joinpath("data/rcads_t_transform.json").read_text()
    shape = (len(VERSIONS), len(T_SUBSCALES), len(SEXES), OLDEST - YOUNGEST + 1)
    means = np.full(shape, np.nan)
    sds = np.full(shape, np.nan)
    for row in json.loads(text)["table"]:
        for age in row["ages"]:
            cell = (
                VERSIONS.index(row["version"]),
                T_SUBSCALES.index(row["subscale"]),
                TABLE_SEX_CODES.index(row["sex"]),
                age - YOUNGEST,
            )
            means[cell] = row["mean"]
            sds[cell] = row["sd"]
    if np.isnan(means).any() or np.isnan(sds).any():
        raise ValueError("rcads_t_transform.json does not cover every version, sex and age")
    return means, sds


T_MEANS, T_SDS = _load_table()


def _table_cells(
    ages: FloatArray, sexes: NDArray[np.str_]
) -> tuple[NDArray[np.intp], NDArray[np.intp], BoolArray]:
    """Sex and age indices into the table, with a mask of the rows the table covers.

    Age counts in whole years (floored), as the national lookup uses age in years.
    """
    whole_years = np.floor(ages)
    sex_index = np.where(sexes == SEXES[1], 1, 0)
    covered = np.isin(sexes, SEXES) & (whole_years >= YOUNGEST) & (whole_years <= OLDEST)
    age_index = np.where(covered, whole_years - YOUNGEST, 0).astype(np.intp)
    return sex_index.astype(np.intp), age_index, covered


def _transform(
    version: int,
    subscale: int,
    raw: FloatArray,
    cells: tuple[NDArray[np.intp], NDArray[np.intp], BoolArray],
) -> FloatArray:
    sex_index, age_index, covered = cells
    mean = T_MEANS[version, subscale, sex_index, age_index]
    sd = T_SDS[version, subscale, sex_index, age_index]
    return np.where(covered, 10.0 * (raw - mean) / sd + 50.0, np.nan)


def t_score(
    informant: str, subscale: str, raw: FloatArray, ages: FloatArray, sexes: NDArray[np.str_]
) -> FloatArray:
    """RCADS-47 T-scores of ``raw`` subscale scores (element-wise with ``ages`` and ``sexes``).

    NaN where the table has no entry: an informant other than self/parent, a scale other
    than the six subscales (totals are not transformed), sex not "male"/"female", an age
    outside 8–17, or a NaN raw score. For coded scores (``assessment.scored``) as well as
    scored questionnaires.
    """
    raw, ages, sexes = np.broadcast_arrays(
        np.asarray(raw, dtype=np.float64),
        np.asarray(ages, dtype=np.float64),
        np.asarray(sexes, dtype=np.str_),
    )
    if informant not in VERSION_OF_INFORMANT or subscale not in T_SUBSCALES:
        return np.full(raw.shape, np.nan)
    cells = _table_cells(ages, sexes)
    return _transform(VERSION_OF_INFORMANT[informant], T_SUBSCALES.index(subscale), raw, cells)


# --- Scoring ---


def _subscales_and_totals(
    responses: FloatArray,
    subscales: Mapping[str, Subscale],
    totals: Mapping[str, tuple[str, ...]],
) -> tuple[dict[str, FloatArray], dict[str, BoolArray]]:
    """Prorated subscales, then totals as sums of their parts (NaN if any part is NaN)."""
    scales: dict[str, FloatArray] = {}
    prorated: dict[str, BoolArray] = {}
    for name, subscale in subscales.items():
        scales[name], prorated[name] = prorated_sum(
            responses, subscale.columns, min_answered=subscale.min_answered
        )
    for name, parts in totals.items():
        scales[name] = np.sum([scales[part] for part in parts], axis=0)
        any_prorated = np.any([prorated[part] for part in parts], axis=0)
        prorated[name] = any_prorated & ~np.isnan(scales[name])
    return scales, prorated


def _score_rcads(
    informant: str,
    responses: FloatArray,
    ages: FloatArray | None,
    sexes: NDArray[np.str_] | None,
) -> BatchScores:
    scales, prorated = _subscales_and_totals(responses, RCADS_SUBSCALES, RCADS_TOTALS)
    n_rows = responses.shape[0]
    if ages is None or sexes is None:
        no_t = np.full(n_rows, np.nan)
        t_scores = {name: no_t for name in T_SUBSCALES}
    else:
        cells = _table_cells(*np.broadcast_arrays(ages, sexes))
        version = VERSION_OF_INFORMANT[informant]
        t_scores = {
            name: _transform(version, index, scales[name], cells)
            for index, name in enumerate(T_SUBSCALES)
        }
    return BatchScores(scales=scales, t_scores=t_scores, prorated=prorated)


def t_band(t: float | None) -> str | None:
    """ "normal" below 65, "borderline" from 65, "clinical" from 70 (V R1).

    ``band`` takes inclusive upper bounds; negating T turns "T ≥ 70" into "−T ≤ −70".
    """
    return band(None if t is None else -t, (-CLINICAL_T, -BORDERLINE_T), T_BAND_LABELS)


def _interpret_rcads(
    informant: str,
    scales: Mapping[str, float | None],
    t_scores: Mapping[str, float | None],
    age: float | None,
) -> Interpretation:
    """Bands per subscale T; caseness unknown when no subscale has a T-score."""
    known = [t for t in t_scores.values() if t is not None]
    caseness = any(t >= CLINICAL_T for t in known) if known else None
    return Interpretation(
        bands={name: t_band(t_scores.get(name)) for name in T_SUBSCALES}, caseness=caseness
    )


def _score_rcads25(
    informant: str,
    responses: FloatArray,
    ages: FloatArray | None,
    sexes: NDArray[np.str_] | None,
) -> BatchScores:
    scales, prorated = _subscales_and_totals(responses, RCADS25_SUBSCALES, RCADS25_TOTALS)
    return BatchScores(scales=scales, prorated=prorated)


def _definition(
    code: str,
    subscales: Mapping[str, Subscale],
    totals: Mapping[str, tuple[str, ...]],
    score_batch: BatchScorer,
    interpret: Interpreter,
) -> MeasureDefinition:
    """Self and parent forms with every item key required (its value may be null)."""
    n_items = sum(len(subscale.items) for subscale in subscales.values())
    items = tuple(str(number) for number in range(1, n_items + 1))
    return MeasureDefinition(
        code=code,
        informants=INFORMANTS,
        columns=dict.fromkeys(INFORMANTS, items),
        responses=dict.fromkeys(items, RESPONSE),
        required=dict.fromkeys(INFORMANTS, frozenset(items)),
        score_batch=score_batch,
        interpret=interpret,
        scales=(*subscales, *totals),
        source=SOURCES,
    )


RCADS: Final = _definition("RCADS", RCADS_SUBSCALES, RCADS_TOTALS, _score_rcads, _interpret_rcads)
# RCADS-25 has no norms and no national threshold: no bands, caseness unknown.
RCADS25: Final = _definition(
    "RCADS25", RCADS25_SUBSCALES, RCADS25_TOTALS, _score_rcads25, no_interpretation
)
