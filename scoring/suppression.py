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

Every figure of every published key passes through here, so roles are classified once per
figure name and the rounding of a count or a count pair is worked out once (both recur).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Final, NamedTuple

from scoring.published import FigureRole, figure_role, wilson_interval

SUPPRESSED: Final = "*"
MIN_COUNT_SHOWN: Final = 5
"""N1: counts 1–4 and percentages with such a numerator show as ``*``."""
ROUNDING_BASE: Final = 5
MIN_STATISTIC_N: Final = 5
"""P: the smallest number of pairs whose means, SDs, effect size and t test are published."""
UNSUPPRESSED_LEVELS: Final = frozenset({"national"})
_CACHE_SIZE: Final = 65_536
"""Distinct counts and count pairs kept; aggregates are small, so the same ones recur."""

Published = int | float | str | None


def _half_up(numerator: int, denominator: int) -> int:
    """``numerator/denominator`` to the nearest integer, .5 up, exactly: ⌊n/d + ½⌋ = ⌊(2n + d)/2d⌋.

    Integer counts never tie at 2.5 mod 5, so the choice is moot for counts; percentages from
    counts can tie (12.5%) and round up as N1's SQL ROUND does."""
    return (2 * numerator + denominator) // (2 * denominator)


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
    return ROUNDING_BASE * _half_up(count, ROUNDING_BASE)


def suppress_percentage(numerator: float, denominator: float) -> int | str:
    """``*`` for a numerator of 1–4; otherwise 100·numerator/denominator to a whole number.

    A zero numerator, or a zero denominator (§4: 0 when the denominator is 0), shows 0.
    """
    count, total = _as_count(numerator), _as_count(denominator)
    if count == 0 or total == 0:
        return 0
    if count < MIN_COUNT_SHOWN:
        return SUPPRESSED
    return _half_up(100 * count, total)


@lru_cache(maxsize=_CACHE_SIZE)
def _interval_bound(numerator: float, denominator: float, high: bool) -> Published:
    """A Wilson bound as a whole percentage, recomputed from the unrounded counts."""
    interval = wilson_interval(_as_count(numerator), _as_count(denominator))
    if interval is None:
        return None
    if numerator < MIN_COUNT_SHOWN:
        return SUPPRESSED
    return _whole_percentage(interval[high])


def _whole_percentage(share: float) -> int:
    """100·share half up to a whole number, exactly (share = p/q as a binary fraction)."""
    return _half_up(*(100 * share).as_integer_ratio())


_shown_count = lru_cache(maxsize=_CACHE_SIZE)(suppress_count)
_shown_percentage = lru_cache(maxsize=_CACHE_SIZE)(suppress_percentage)
_NUMBER_TYPES: Final = frozenset({int, float, bool})


class _Plan(NamedTuple):
    """How to suppress one sequence of figure names: grouped by role, so that each group is
    looked up and rounded in one pass, and ``order`` to put the results back in sequence."""

    counts: tuple[str, ...]
    percentages: tuple[tuple[str, ...], tuple[str, ...]]
    intervals: tuple[tuple[str, ...], tuple[str, ...], tuple[bool, ...]]
    statistics: tuple[tuple[str, ...], tuple[str, ...]]
    order: Callable[[list[Published]], tuple[Published, ...]]


def _needed(name: str | None) -> ValueError:
    return ValueError(f"figure {name!r} is needed to suppress its dependants")


@lru_cache(maxsize=1_024)
def _plan(names: tuple[str, ...]) -> _Plan:
    """Classify every figure; ``ValueError`` for an unknown one or a count it needs missing."""
    groups: dict[str, list[tuple[int, str, FigureRole]]] = {
        "count": [],
        "percentage": [],
        "interval": [],
        "statistic": [],
    }
    for position, name in enumerate(names):
        role = figure_role(name)
        for count in (role.numerator, role.denominator, role.sample_size):
            if count is not None and count not in names:
                raise _needed(count)
        groups[role.kind].append((position, name, role))
    counts, percentages, intervals, statistics = groups.values()
    grouped = [position for group in groups.values() for position, _, _ in group]
    return _Plan(
        counts=tuple(name for _, name, _ in counts),
        percentages=(
            tuple(str(role.numerator) for _, _, role in percentages),
            tuple(str(role.denominator) for _, _, role in percentages),
        ),
        intervals=(
            tuple(str(role.numerator) for _, _, role in intervals),
            tuple(str(role.denominator) for _, _, role in intervals),
            tuple(name.endswith("_ci_high") for _, name, _ in intervals),
        ),
        statistics=(
            tuple(name for _, name, _ in statistics),
            tuple(str(role.sample_size) for _, _, role in statistics),
        ),
        order=_reorder(tuple(sorted(range(len(names)), key=grouped.__getitem__))),
    )


def _reorder(positions: tuple[int, ...]) -> Callable[[list[Published]], tuple[Published, ...]]:
    """Puts results computed group by group back in the figures' order (``itemgetter`` of a
    single position would return the item itself, not a 1-tuple)."""

    def order(shown: list[Published]) -> tuple[Published, ...]:
        return tuple(shown[position] for position in positions)

    return order


def suppress_figures(figures: Mapping[str, Published], level: str) -> dict[str, Published]:
    """The figures of one aggregate (as :func:`scoring.published.derive` names them) as they may
    be published at ``level``; ``ValueError`` for a figure it does not know how to treat."""
    if level in UNSUPPRESSED_LEVELS or not figures:
        return dict(figures)
    names = tuple(figures)
    plan = _plan(names)
    value = figures.__getitem__
    counts = [*map(value, plan.counts)]
    if not set(map(type, counts)) <= _NUMBER_TYPES:
        for name, count in zip(plan.counts, counts, strict=True):
            if not isinstance(count, int | float):
                raise _needed(name)
    numerators, denominators = plan.percentages
    low_numerators, low_denominators, high = plan.intervals
    statistics, sample_sizes = plan.statistics
    shown: list[Published] = [*map(_shown_count, counts)]
    shown += map(_shown_percentage, map(value, numerators), map(value, denominators))
    shown += map(_interval_bound, map(value, low_numerators), map(value, low_denominators), high)
    shown += [
        SUPPRESSED if statistic is not None and size < MIN_STATISTIC_N else statistic  # type: ignore[operator]
        for statistic, size in zip(map(value, statistics), map(value, sample_sizes), strict=True)
    ]
    return dict(zip(names, plan.order(shown), strict=True))
