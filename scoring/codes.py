"""SNOMED CT coded scores of the national MHSDS reference data (measures.md § MHSDS coded scores).

``data/mhsds_codes.json`` is copied from ``shared/spec/data`` and records its own source:
NHS Digital ``mental-health-monthly-statistics`` (menh_bbrb, commit 7b4d742), tables
``mh_ass``, ``cyp_outcomes_ass``, ``cyp_reliable_change_thresholds`` and
``cyp_ass_type_scaling`` (N1). Each code names one measure, informant and scale, the valid
range outside which the national code discards a score, whether the CYP outcome metric
(MHS110–MHS115f) uses it, the perspective it counts under, its direction and threshold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Final, Literal

Direction = Literal["higher_is_better", "higher_is_worse"]

SCORE15_INFORMANT: Final = "self"
"""The file leaves SCORE-15 (family-completed) without an informant; N1 counts it as Self."""


@dataclass(frozen=True, slots=True)
class CodedScale:
    """What one SNOMED CT concept means for scoring and for the national metric."""

    snomed: str
    measure: str
    informant: str
    scale: str
    low: float
    high: float
    in_metric: bool
    national_perspective: str | None
    direction: Direction
    threshold: float | None

    def in_range(self, value: float) -> bool:
        return self.low <= value <= self.high


def _load() -> dict[str, CodedScale]:
    raw = json.loads(resources.files("scoring").joinpath("data/mhsds_codes.json").read_text())
    table: dict[str, CodedScale] = {}
    for code in raw["codes"]:
        low, high = code["valid_range"]
        perspective = code["national_perspective"]
        table[code["snomed"]] = CodedScale(
            snomed=code["snomed"],
            measure=code["measure"],
            informant=code["informant"] or SCORE15_INFORMANT,
            scale=code["scale"],
            low=float(low),
            high=float(high),
            in_metric=bool(code["in_cyp_outcome_metric"]),
            national_perspective=perspective.lower() if perspective else None,
            direction=code["national_direction"],
            threshold=code["reliable_change_threshold"],
        )
    return table


CODES: Final[dict[str, CodedScale]] = _load()
"""Every known SNOMED CT concept id, as a string, to its meaning."""

METRIC_SCALES: Final[frozenset[tuple[str, str, str]]] = frozenset(
    (coded.measure, coded.informant, coded.scale) for coded in CODES.values() if coded.in_metric
)
"""(measure, informant, scale) triples the national CYP outcome metric pairs (outcomes.md §2).

GBO goals appear as ``goal``/``goal_1``…``goal_3``: every goal is a metric scale.
"""
