"""Reliable change between a first and a last score (measures.md § Reliable change).

Rules:
- change = last − first; improvement = change in the "better" direction (positive = better).
- a reliable improvement when improvement ≥ threshold, a reliable deterioration when the
  worsening ≥ threshold, otherwise no reliable change; no threshold → no category (V N1).
- thresholds per measure, informant and scale: the rounded national values (V N1) and the
  bracketed unrounded ones (N3); RCADS in T-score points (callers pass T-scores); HoNOSCA
  scales 1–13 for any informant: 2; GBO each goal (``goal`` or ``goal_<id>``): 3.
- measures outside ``measures.md`` that arrive as MHSDS coded scores (CGAS, PHQ-9 …) take
  their threshold and direction from the national table (``scoring.codes``, V N1).
- no national threshold for SDQ total, teacher SDQ, RCADS totals, RCADS-25 or HoNOSCA total.
  measures.md allows a Jacobson–Truax threshold (:func:`jacobson_truax_threshold`) from an
  (SD, r) pair the project documents with its source (P); none is documented yet, so these
  scales carry no threshold and no category.

Methods:
- ``default``: clinically correct directions (SDQ prosocial: higher is better, as the
  measure's definition says) with the rounded national thresholds.
- ``nhs``: the national code exactly: rounded thresholds and the national direction of
  every metric scale, which reproduces its known quirk (SDQ prosocial treated as
  higher-is-worse, as ``data/mhsds_codes.json`` records it).
- ``unrounded``: clinically correct directions with the bracketed N3 values where given,
  the rounded value elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Final

from scoring.codes import CODES, CodedScale
from scoring.scorer import MEASURES
from scoring.types import METHODS, Change, ChangeCategory, InvalidResponse

NATIONAL_METHOD: Final = "nhs"
UNROUNDED_METHOD: Final = "unrounded"

REACHED_TOLERANCE: Final = 1e-9
"""P: scores with decimals carry binary error (16.7 − 10.1 = 6.599999999999999); a change
within this of the threshold counts as reaching it, so ``>=`` means what it says."""

T_SCORE_MEASURES: Final = frozenset({"RCADS"})
"""Measures whose thresholds are in T-score points: pairs compare T-scores (outcomes.md §2)."""

GBO: Final = "GBO"
GOAL_SCALE: Final = "goal"
GOAL_THRESHOLD: Final = 3.0
"""V N1: each GBO goal, rated 0–10."""

HONOSCA: Final = "HONOSCA"
HONOSCA_SCALES: Final = frozenset(f"scale_{number}" for number in range(1, 14))
HONOSCA_SCALE_THRESHOLD: Final = 2.0
"""V N1: each of HoNOSCA scales 1–13, any informant."""

Threshold = tuple[float, float | None]
"""(rounded N1 value, unrounded N3 value or None where N3 gives none)."""

THRESHOLDS: Final[Mapping[tuple[str, str], Mapping[str, Threshold]]] = {
    ("SDQ", "parent"): {
        "conduct": (4, 4.33),
        "emotional": (4, 4.39),
        "hyperactivity": (4, 3.82),
        "impact": (3, 3.17),
        "peer": (3, 3.09),
        "prosocial": (3, 2.62),
    },
    ("SDQ", "self"): {
        "conduct": (4, 3.74),
        "emotional": (4, 4.26),
        "hyperactivity": (4, 3.87),
        "impact": (3, 3.24),
        "peer": (5, 4.76),
        "prosocial": (4, 4.3),
    },
    ("RCADS", "self"): {
        "depression": (17.73, None),
        "generalised_anxiety": (14.91, None),
        "ocd": (16.35, None),
        "panic": (18.29, None),
        "separation_anxiety": (22.95, None),
        "social_phobia": (13.99, None),
    },
    ("RCADS", "parent"): {
        "depression": (22.87, None),
        "generalised_anxiety": (18.30, None),
        "ocd": (24.06, None),
        "panic": (40.93, None),
        "separation_anxiety": (28, None),
        "social_phobia": (16.63, None),
    },
    ("ORS", "self"): {"total": (6.6, 6.55)},
    ("CORS", "self"): {"total": (10, None)},
}
"""measures.md § Reliable change (V N1; brackets N3). RCADS values are T-score points."""


def jacobson_truax_threshold(sd: float, reliability: float, z: float = 1.96) -> float:
    """z × SD × √(2(1 − r)): the smallest change unlikely (p < .05 at z = 1.96) to be noise."""
    if sd < 0 or not 0 <= reliability <= 1:
        raise ValueError(f"need sd >= 0 and 0 <= reliability <= 1, got {sd=}, {reliability=}")
    return z * sd * math.sqrt(2 * (1 - reliability))


def _index(key: Callable[[CodedScale], tuple[str, ...]]) -> dict[tuple[str, ...], CodedScale]:
    """National rows by ``key``, preferring the one the metric uses where several share it."""
    index: dict[tuple[str, ...], CodedScale] = {}
    for coded in CODES.values():
        held = index.get(key(coded))
        if held is None or (coded.in_metric and not held.in_metric):
            index[key(coded)] = coded
    return index


_CODED_BY_SCALE: Final = _index(lambda coded: (coded.measure, coded.scale))
_CODED_BY_INFORMANT: Final = _index(lambda coded: (coded.measure, coded.informant, coded.scale))
_CODED_BY_MEASURE: Final = _index(lambda coded: (coded.measure,))


def _base_scale(measure: str, scale: str) -> str:
    """GBO goals share the direction and threshold of the measure's one ``goal`` scale."""
    if measure == GBO and scale.startswith(f"{GOAL_SCALE}_"):
        return GOAL_SCALE
    return scale


def _higher_is_better(measure: str, informant: str, scale: str, method: str) -> bool:
    if method == NATIONAL_METHOD:
        national = _CODED_BY_INFORMANT.get((measure, informant, scale))
        if national is not None and national.in_metric:
            return national.direction == "higher_is_better"
    definition = MEASURES.get(measure)
    if definition is not None:
        return scale in definition.higher_is_better
    coded = _CODED_BY_SCALE.get((measure, scale)) or _CODED_BY_MEASURE.get((measure,))
    if coded is None:
        known = sorted({*MEASURES, *(row.measure for row in CODES.values())})
        raise InvalidResponse(
            f"unknown measure {measure!r}; expected one of {', '.join(known)}",
            error_code="schema.unknown_measure",
            measure=measure,
            allowed=", ".join(known),
        )
    return coded.direction == "higher_is_better"


def threshold_of(measure: str, informant: str, scale: str, method: str) -> float | None:
    """The reliable-change threshold of one scale under ``method``, or None where none exists."""
    base = _base_scale(measure, scale)
    if measure == GBO and base == GOAL_SCALE:
        return GOAL_THRESHOLD
    if measure == HONOSCA:
        return HONOSCA_SCALE_THRESHOLD if scale in HONOSCA_SCALES else None
    listed = THRESHOLDS.get((measure, informant))
    if listed is not None or measure in MEASURES:
        rounded, unrounded = (listed or {}).get(scale, (None, None))
        chosen = unrounded if method == UNROUNDED_METHOD and unrounded is not None else rounded
        return None if chosen is None else float(chosen)
    coded = _CODED_BY_INFORMANT.get((measure, informant, scale))
    return None if coded is None else coded.threshold


def _category(improvement: float, threshold: float | None) -> ChangeCategory | None:
    if threshold is None:
        return None
    if improvement >= threshold - REACHED_TOLERANCE:
        return "reliable_improvement"
    if -improvement >= threshold - REACHED_TOLERANCE:
        return "reliable_deterioration"
    return "no_reliable_change"


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")


def reliable_change(
    measure: str,
    informant: str,
    scale: str,
    first: float,
    last: float,
    *,
    method: str = "default",
) -> Change:
    """Classify ``last`` against ``first`` on one scale (RCADS subscales: pass T-scores).

    Raises :class:`InvalidResponse` (``schema.unknown_measure``) for a measure neither
    scored here nor in the national code table, and ``ValueError`` for an unknown method.
    """
    check_method(method)
    better_up = _higher_is_better(measure, informant, _base_scale(measure, scale), method)
    change = float(last) - float(first)
    improvement = change if better_up else -change
    threshold = threshold_of(measure, informant, scale, method)
    return Change(
        change=change,
        improvement=improvement,
        threshold=threshold,
        category=_category(improvement, threshold),
    )
