"""Statistical disclosure control of published figures (``shared/spec/outcomes.md`` §5, N1).

N1's CYP outcomes rule, applied in one place on the way out (the store keeps exact figures):
- a count of 1–4 shows as ``*``; every other count is rounded to the nearest 5 (0 stays 0);
- a percentage shows as ``*`` when its numerator is 1–4, otherwise it is computed from the
  unrounded counts and rounded to a whole number (a zero numerator shows 0);
- the national level is neither suppressed nor rounded.
Added for the figures of §4 that N1 does not publish (P): means, SDs, effect sizes and t
tests of fewer than :data:`MIN_STATISTIC_N` pairs show as ``*``, and a Wilson interval bound
is shown only when its numerator is at least :data:`MIN_COUNT_SHOWN` (an interval around
0–4 events would reveal a small denominator), recomputed from the unrounded counts and
rounded to a whole percentage like the percentage it brackets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Final

from scoring.figures import figure_role, wilson_interval

SUPPRESSED: Final = "*"
MIN_COUNT_SHOWN: Final = 5
"""N1: counts 1–4 and percentages with such a numerator show as ``*``."""
ROUNDING_BASE: Final = 5
MIN_STATISTIC_N: Final = 5
"""P: the smallest number of pairs whose means, SDs, effect size and t test are published."""
UNSUPPRESSED_LEVELS: Final = frozenset({"national"})

Published = int | float | str | None


def _half_up(value: Fraction) -> int:
    """Nearest integer, .5 up. Integer counts never tie at 2.5 mod 5, so the choice is moot
    for counts; percentages from counts can tie (12.5%) and round up as N1's SQL ROUND does."""
    return math.floor(value + Fraction(1, 2))


def _as_count(value: float) -> int:
    count = round(value)
    if count < 0 or not math.isclose(count, value, abs_tol=1e-6):
        raise ValueError(f"a count must be a non-negative integer, got {value!r}")
    return count


def suppress_count(n: float) -> int | str:
    """0 -> 0; 1–4 -> ``*``; otherwise the nearest multiple of 5 (7 -> 5, 8 -> 10, 13 -> 15)."""
    count = _as_count(n)
    if count == 0:
        return 0
    if count < MIN_COUNT_SHOWN:
        return SUPPRESSED
    return ROUNDING_BASE * _half_up(Fraction(count, ROUNDING_BASE))


def suppress_percentage(numerator: float, denominator: float) -> int | str:
    """``*`` for a numerator of 1–4; otherwise 100·numerator/denominator to a whole number.

    A zero numerator, or a zero denominator (§4: 0 when the denominator is 0), shows 0.
    """
    count, total = _as_count(numerator), _as_count(denominator)
    if count == 0 or total == 0:
        return 0
    if count < MIN_COUNT_SHOWN:
        return SUPPRESSED
    return _half_up(Fraction(100 * count, total))


def _count_of(figures: Mapping[str, Published], name: str | None) -> float:
    value = figures.get(name) if name is not None else None
    if not isinstance(value, int | float):
        raise ValueError(f"figure {name!r} is needed to suppress its dependants")
    return value


def _interval_bound(name: str, numerator: float, denominator: float) -> int | str | None:
    """A Wilson bound as a whole percentage, recomputed from the unrounded counts."""
    interval = wilson_interval(_as_count(numerator), _as_count(denominator))
    if interval is None:
        return None
    if numerator < MIN_COUNT_SHOWN:
        return SUPPRESSED
    low, high = interval
    return _half_up(Fraction(100 * (low if name.endswith("_ci_low") else high)))


def suppress_figures(figures: Mapping[str, Published], level: str) -> dict[str, Published]:
    """The figures of one aggregate (as :func:`scoring.figures.derive` names them) as they may
    be published at ``level``; ``ValueError`` for a figure it does not know how to treat."""
    if level in UNSUPPRESSED_LEVELS:
        return dict(figures)
    published: dict[str, Published] = {}
    for name, value in figures.items():
        role = figure_role(name)
        if role.kind == "count":
            published[name] = suppress_count(_count_of(figures, name))
        elif role.kind == "percentage":
            published[name] = suppress_percentage(
                _count_of(figures, role.numerator), _count_of(figures, role.denominator)
            )
        elif role.kind == "interval":
            published[name] = _interval_bound(
                name, _count_of(figures, role.numerator), _count_of(figures, role.denominator)
            )
        else:
            small = _count_of(figures, role.sample_size) < MIN_STATISTIC_N
            published[name] = SUPPRESSED if small and value is not None else value
    return published
