"""Funnel-plot control limits for proportions (``shared/spec/outcomes.md`` §6, added).

Spiegelhalter D.J. (2005) "Funnel plots for comparing institutional performance",
Statistics in Medicine 24:1185–1202:
- exact binomial limits (Appendix A.1.1): r_p = the p-quantile of Bin(n, p0), the smallest r
  with F(r) >= p; alpha = (F(r_p) − p) / (F(r_p) − F(r_p − 1)); limit = (r_p − alpha) / n,
  which interpolates so that the limits are smooth in n;
- with over-dispersion φ (§6 of the paper, multiplicative model) the normal approximation
  p0 ± z_p √(φ p0 (1 − p0) / n);
- φ estimated as the mean of the Winsorised squared z-scores, z_i = (y_i − p0) / √(p0(1 − p0)/n_i),
  and taken as 1 when below 1 (no under-dispersion adjustment).
Units are classified on their proportion deteriorated: alarm above the 99.9% limit ("3σ"),
warning above the 97.5% limit ("2σ"), none below a minimum n (default 10, §6).
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from scoring.types import FloatArray, IntArray

WARNING_QUANTILE: Final = 0.975
ALARM_QUANTILE: Final = 0.999
MIN_N: Final = 10
"""§6: no alert for a unit with fewer paired referrals than this."""
WINSOR_FRACTION: Final = 0.1
"""Spiegelhalter (2005) §6.3: Winsorise 10% of the z-scores at each end."""

Signal = Literal["alarm", "warning", "in_control"]


def funnel_limit(p0: float, n: ArrayLike, q: float, *, phi: float = 1.0) -> FloatArray:
    """The q-quantile control limit of a proportion around ``p0`` for each sample size ``n``.

    Use q = 0.975 / 0.999 for upper and 0.025 / 0.001 for lower limits. NaN where n is 0;
    clipped to [0, 1]; exactly p0 when p0 is 0 or 1 (no variation to allow for).
    """
    sizes = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if p0 in (0.0, 1.0):
            limit = np.full_like(sizes, p0)
        elif phi == 1.0:
            counts = sizes.astype(np.int64)
            r_p = _binomial_quantile(q, counts, p0)
            at_r = special.bdtr(r_p, counts, p0)
            below_r = np.where(r_p >= 1, special.bdtr(np.maximum(r_p - 1, 0), counts, p0), 0.0)
            alpha = (at_r - q) / (at_r - below_r)
            limit = (r_p - alpha) / sizes
        else:
            z = special.ndtri(q)
            limit = p0 + z * np.sqrt(phi * p0 * (1 - p0) / sizes)
    return np.asarray(np.where(sizes > 0, np.clip(limit, 0.0, 1.0), np.nan), dtype=np.float64)


def _binomial_quantile(q: float, counts: IntArray, p0: float) -> IntArray:
    """The smallest r with F(r) >= q under Bin(n, p0): ``scipy.stats.binom.ppf``'s own method
    (the continuous inverse in k, rounded up, then one step down where that suffices) called
    on ``scipy.special`` directly. The alert rules ask for thousands of limits per pass, and
    ``scipy.stats`` spends ~100 µs per call checking and broadcasting its arguments."""
    r_p = np.ceil(special.bdtrik(q, counts, p0)).astype(np.int64)  # n = 0: masked by the caller
    below = np.maximum(r_p - 1, 0)
    return np.asarray(np.where(special.bdtr(below, counts, p0) >= q, below, r_p))


def overdispersion_phi(
    observed: ArrayLike, n: ArrayLike, p0: float, *, winsor: float = WINSOR_FRACTION
) -> float:
    """Multiplicative over-dispersion φ from the units' counts ``observed`` out of ``n``.

    The ``floor(winsor × units)`` lowest z-scores are set to the next lowest and as many
    highest to the next highest before averaging their squares; φ < 1 gives 1, as does a
    target of 0 or 1, around which no spread can be measured.
    """
    if not 0 < p0 < 1:
        return 1.0
    counts = np.asarray(observed, dtype=np.float64)
    sizes = np.asarray(n, dtype=np.float64)
    z = np.sort((counts / sizes - p0) / np.sqrt(p0 * (1 - p0) / sizes))
    trimmed = int(np.floor(winsor * z.size))
    winsorised = np.clip(z, z[trimmed], z[z.size - 1 - trimmed])
    return max(1.0, float(np.mean(winsorised**2)))


def classify(
    d: int,
    n: int,
    p0: float,
    *,
    phi: float = 1.0,
    min_n: int = MIN_N,
    warning: float = WARNING_QUANTILE,
    alarm: float = ALARM_QUANTILE,
) -> Signal | None:
    """Where ``d`` of ``n`` stands against the upper funnel limits; ``None`` when n < min_n."""
    if n < max(min_n, 1):
        return None
    proportion = d / n
    if proportion > funnel_limit(p0, n, alarm, phi=phi).item():
        return "alarm"
    if proportion > funnel_limit(p0, n, warning, phi=phi).item():
        return "warning"
    return "in_control"
