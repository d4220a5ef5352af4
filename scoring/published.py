"""Published figures: what an aggregate's summed counters publish (outcomes.md §4).

MHS110–MHS115 counts and their percentages (one decimal, half up; 0 over a zero denominator,
N1), and per measure × informant on the headline scale (added by this project): means, SD of
change, effect size, paired t test, reliable change, recovery and 95% Wilson intervals.
Everything is a function of the additive counters of :mod:`scoring.figures`, so the store can
keep exact sums and derive these whenever a key changes. :func:`figure_role` tells
suppression how each figure was made.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from itertools import repeat
from operator import itemgetter
from typing import Final, Literal, NamedTuple

from scipy import stats
from scipy.special import cython_special

from scoring.types import PERSPECTIVES

Counters = dict[str, float]
Figures = dict[str, float | int | None]

WILSON_Z: Final = float(stats.norm.ppf(0.975))
"""Two-sided 95% normal quantile, 1.959963…"""

CATEGORY_FIGURES: Final = ("improved", "deteriorated", "no_change")

# Metric figure -> its denominator (N1: MHS111–112 over MHS110; MHS113–115 over MHS112b/d/f).
METRIC_DENOMINATORS: Final[Mapping[str, str]] = {
    "with_assessment": "closed_referrals",
    "paired": "closed_referrals",
    **{f"with_assessment_{p}": "closed_referrals" for p in PERSPECTIVES},
    **{f"paired_{p}": "closed_referrals" for p in PERSPECTIVES},
    **{f"{category}_{p}": f"paired_{p}" for category in CATEGORY_FIGURES for p in PERSPECTIVES},
}
METRIC_COUNTS: Final = ("closed_referrals", *METRIC_DENOMINATORS)

# Per measure × informant (added): a proportion's denominator. Reliable change is counted over
# the pairs that have a threshold (others cannot be classified); recovery over those clinical
# at first among pairs whose caseness is known at both ends (P, following CORC).
MEASURE_DENOMINATORS: Final[Mapping[str, str]] = {
    "reliable_improvement": "with_threshold",
    "reliable_deterioration": "with_threshold",
    "recovered": "clinical_first",
    "reliably_recovered": "clinical_first",
}
MEASURE_COUNTS: Final = ("n_paired", "with_threshold", "clinical_first", *MEASURE_DENOMINATORS)
MEASURE_STATISTICS: Final = (
    "mean_first",
    "mean_last",
    "mean_change",
    "sd_change",
    "effect_size",
    "t_statistic",
    "p_value",
)
_SUMS: Final = ("sum_first", "sum_last", "sum_change", "sum_change_sq", "sum_first_sq")


class FigureRole(NamedTuple):
    """How a published figure is made, so that suppression can treat it mechanically.

    ``numerator``/``denominator`` name the counts behind a percentage or interval bound;
    ``sample_size`` names the ``n_paired`` behind a statistic.
    """

    kind: Literal["count", "percentage", "interval", "statistic"]
    numerator: str | None = None
    denominator: str | None = None
    sample_size: str | None = None


# --- published figures ---
# derive runs for every key a stream batch touches (hundreds to thousands), so it avoids
# Fraction and scipy's distribution machinery while staying exact: halves are decided in
# integers and the p-value comes from the same stdtr routine that ``stats.t.sf`` calls.

_PROPORTION_CACHE_SIZE: Final = 8_192
"""Distinct (numerator, denominator) pairs kept; small counts recur across keys and scales.
Large counts seldom recur (they move with every pass), and 65,536 entries (~100 MiB with the
count figures', ~1.3 KB each) filled for minutes in a 10-minute soak, looking like a leak."""


def _one_decimal(value: float) -> float:
    """Half up to one decimal, exactly (N1 rounds 12.25 to 12.3; float rounding may not):
    with value = p/q, ⌊10·p/q + ½⌋ = ⌊(20p + q) / 2q⌋ in integers."""
    p, q = value.as_integer_ratio()
    return (20 * p + q) // (2 * q) / 10


def percentage(numerator: int, denominator: int) -> float:
    """``numerator`` as a percentage of ``denominator``, one decimal half up; 0 over 0 (N1).

    ⌊1000·n/d + ½⌋ = ⌊(2000n + d) / 2d⌋ tenths, in integers: exact at the x.x5 ties.
    """
    if denominator == 0:
        return 0.0
    return (2000 * numerator + denominator) // (2 * denominator) / 10


def wilson_interval(successes: int, n: int, z: float = WILSON_Z) -> tuple[float, float] | None:
    """Wilson score interval of a proportion, ``None`` when ``n`` is 0.

    centre = (p + z²/2n) / (1 + z²/n); half-width = z/(1 + z²/n) · √(p(1−p)/n + z²/4n²).
    """
    if n == 0:
        return None
    p = successes / n
    z2 = z * z
    scale = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / scale
    half_width = z / scale * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def _sample_sd(total: float, total_sq: float, n: int) -> float | None:
    """Sample SD (n − 1) from a sum and a sum of squares; rounding noise near 0 counts as 0."""
    if n < 2:
        return None
    spread = total_sq - total * total / n
    if spread <= 1e-9 * max(total_sq, 1.0):
        return 0.0
    return math.sqrt(spread / (n - 1))


@lru_cache(maxsize=_PROPORTION_CACHE_SIZE)
def _count_figures(sums: tuple[float, ...]) -> tuple[float | int | None, ...]:
    """The count figures of one measure × informant (``with_threshold`` … ``reliably_recovered``
    and their percentages) from their counters' sums: small counts recur, so they are cached."""
    counts = [round(value) for value in sums]
    figures: list[float | int | None] = [*counts[:2]]
    for numerator, denominator in zip(counts[2:], _PROPORTION_DENOMINATORS, strict=True):
        figures += _proportion_figures(numerator, counts[denominator])
    return tuple(figures)


def _proportion_figures(numerator: int, denominator: int) -> tuple[float | int | None, ...]:
    """A count, its percentage of its denominator and the 95% Wilson bounds as percentages."""
    share = percentage(numerator, denominator)
    interval = wilson_interval(numerator, denominator)
    if interval is None:
        return numerator, share, None, None
    low, high = interval
    return numerator, share, _one_decimal(100 * low), _one_decimal(100 * high)


_MEASURE_COUNTERS: Final = (
    "n_paired",
    *_SUMS,
    "with_threshold",
    "clinical_first",
    *MEASURE_DENOMINATORS,
)
_MEASURE_FIGURES: Final = (
    "n_paired",
    "mean_first",
    "mean_last",
    "mean_change",
    "sd_change",
    "effect_size",
    "t_statistic",
    "p_value",
    "with_threshold",
    "clinical_first",
    *(
        figure
        for name in MEASURE_DENOMINATORS
        for figure in (name, f"pct_{name}", f"pct_{name}_ci_low", f"pct_{name}_ci_high")
    ),
)
_FIRST_COUNT: Final = 1 + len(_SUMS)
"""``_MEASURE_COUNTERS[_FIRST_COUNT:]`` are counts (of pairs with a threshold …)."""
_PROPORTION_DENOMINATORS: Final = tuple(
    _MEASURE_COUNTERS.index(denominator) - _FIRST_COUNT
    for denominator in MEASURE_DENOMINATORS.values()
)
_METRIC_NUMERATORS: Final = itemgetter(*map(METRIC_COUNTS.index, METRIC_DENOMINATORS))
_METRIC_DENOMINATORS: Final = itemgetter(*map(METRIC_COUNTS.index, METRIC_DENOMINATORS.values()))
_METRIC_FIGURES: Final = (*METRIC_COUNTS, *(f"pct_{name}" for name in METRIC_DENOMINATORS))
_METRIC_COUNTER_SET: Final = frozenset(METRIC_COUNTS)
_percentage = lru_cache(maxsize=_PROPORTION_CACHE_SIZE)(percentage)


@lru_cache(maxsize=1_024)
def _scope(prefix: str) -> frozenset[str]:
    """One measure × informant's counter names: ``prefix.n_paired`` …"""
    return frozenset(f"{prefix}.{name}" for name in _MEASURE_COUNTERS)


def _prefixes(counters: Mapping[str, float]) -> tuple[str, ...]:
    """The measure × informant scopes of the counters, sorted (``SDQ.parent``), found by taking
    one counter at a time and discarding its whole scope (names repeat across scopes)."""
    unseen = counters.keys() - _METRIC_COUNTER_SET
    prefixes = []
    while unseen:
        prefix, dot, _ = unseen.pop().rpartition(".")
        if dot:
            prefixes.append(prefix)
            unseen -= _scope(prefix)
    return tuple(sorted(set(prefixes)))


@lru_cache(maxsize=1_024)
def _layout(prefixes: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The counters :func:`derive` reads (metric counts, then ``_MEASURE_COUNTERS`` per scope)
    and the figures it writes (``_METRIC_FIGURES``, then ``_MEASURE_FIGURES`` per scope)."""
    reads = (f"{prefix}.{name}" for prefix in prefixes for name in _MEASURE_COUNTERS)
    writes = (f"{prefix}.{name}" for prefix in prefixes for name in _MEASURE_FIGURES)
    return (*METRIC_COUNTS, *reads), (*_METRIC_FIGURES, *writes)


def _measure_figures(values: list[float]) -> tuple[float | int | None, ...]:
    """One measure × informant's figures (``_MEASURE_FIGURES``) from its ``_MEASURE_COUNTERS``."""
    n_value, sum_first, sum_last, sum_change, sum_change_sq, sum_first_sq = values[:_FIRST_COUNT]
    counts = values[_FIRST_COUNT:]
    n = round(n_value)
    if not n:
        return (n, None, None, None, None, None, None, None, *_count_figures(tuple(counts)))
    mean_change = sum_change / n
    if n < 2:  # no spread: _sample_sd is None
        means = (sum_first / n, sum_last / n, mean_change)
        return (n, *means, None, None, None, None, *_count_figures(tuple(counts)))
    sd_change = _sample_sd(sum_change, sum_change_sq, n)
    sd_first = _sample_sd(sum_first, sum_first_sq, n)
    t_statistic = p_value = None
    if sd_change:
        t_statistic = mean_change / (sd_change / math.sqrt(n))
        p_value = 2 * cython_special.stdtr(float(n - 1), -abs(t_statistic))
    return (
        n,
        sum_first / n,
        sum_last / n,
        mean_change,
        sd_change,
        mean_change / sd_first if sd_first else None,
        t_statistic,
        p_value,
        *_count_figures(tuple(counts)),
    )


def _metric_figures(values: list[float]) -> list[float | int | None]:
    """The national metric's figures (``_METRIC_FIGURES``) from its counts' sums."""
    counts = list(map(round, values))
    figures: list[float | int | None] = [*counts]
    figures += map(_percentage, _METRIC_NUMERATORS(counts), _METRIC_DENOMINATORS(counts))
    return figures


def headline(counters: Mapping[str, float]) -> Figures:
    """The headline figures of §4 (MHS110–115 and their percentages: the names without a dot)
    from one aggregate's summed counters; what :func:`derive` gives, without the per-measure
    scopes, for a fraction of the cost."""
    values = list(map(counters.get, METRIC_COUNTS, repeat(0.0)))
    return dict(zip(_METRIC_FIGURES, _metric_figures(values), strict=True))


def derive(counters: Mapping[str, float]) -> Figures:
    """The published figures of §4 from one aggregate's summed counters (exact, unsuppressed)."""
    reads, writes = _layout(_prefixes(counters))
    values = list(map(counters.get, reads, repeat(0.0)))
    figures = _metric_figures(values[: len(METRIC_COUNTS)])
    for start in range(len(METRIC_COUNTS), len(values), len(_MEASURE_COUNTERS)):
        figures += _measure_figures(values[start : start + len(_MEASURE_COUNTERS)])
    return dict(zip(writes, figures, strict=True))


def figure_role(name: str) -> FigureRole:
    """Classify a figure of :func:`derive` by its name; ``ValueError`` for an unknown name."""
    prefix, _, figure = name.rpartition(".")
    scope = f"{prefix}." if prefix else ""
    counts, denominators = (
        (MEASURE_COUNTS, MEASURE_DENOMINATORS) if prefix else (METRIC_COUNTS, METRIC_DENOMINATORS)
    )
    if figure in counts:
        return FigureRole("count")
    if prefix and figure in MEASURE_STATISTICS:
        return FigureRole("statistic", sample_size=f"{prefix}.n_paired")
    base = figure.removeprefix("pct_")
    kind: Literal["percentage", "interval"] = "percentage"
    for suffix in ("_ci_low", "_ci_high"):
        if prefix and base.endswith(suffix):
            base, kind = base.removesuffix(suffix), "interval"
    if figure.startswith("pct_") and base in denominators:
        return FigureRole(kind, scope + base, scope + denominators[base])
    raise ValueError(f"unknown figure {name!r}")
