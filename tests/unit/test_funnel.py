"""Funnel limits of Spiegelhalter (2005), checked against hand values and direct quantiles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from scoring.funnel import classify, funnel_limit, overdispersion_phi


def interpolated_limit(p0: float, n: int, q: float) -> float:
    """The paper's limit, by walking the binomial CDF: the smallest r with F(r) >= q."""
    cdf = [float(stats.binom.cdf(r, n, p0)) for r in range(n + 1)]
    r = next(r for r in range(n + 1) if cdf[r] >= q)
    below = cdf[r - 1] if r > 0 else 0.0
    alpha = (cdf[r] - q) / (cdf[r] - below)
    return min(1.0, max(0.0, (r - alpha) / n))


def test_hand_worked_limits_for_p0_one_tenth_n_twenty() -> None:
    # Bin(20, 0.1): F(4) = 0.95683, F(5) = 0.98875, P(5) = 0.03192
    #   97.5%: r = 5, alpha = (0.98875 - 0.975)/0.03192 = 0.4308 -> (5 - 0.4308)/20 = 0.2285
    # F(6) = 0.997614, F(7) = 0.999584, P(7) = 0.001970
    #   99.9%: r = 7, alpha = (0.999584 - 0.999)/0.001970 = 0.2966 -> (7 - 0.2966)/20 = 0.3352
    assert funnel_limit(0.1, 20, 0.975).item() == pytest.approx(0.2285, abs=1e-4)
    assert funnel_limit(0.1, 20, 0.999).item() == pytest.approx(0.3352, abs=1e-4)
    # Bin(10, 0.1), 97.5%: F(3) = 0.98720, P(3) = 0.05740 -> alpha 0.2126 -> 0.2787
    assert funnel_limit(0.1, [10], 0.975)[0] == pytest.approx(0.2787, abs=1e-4)


@pytest.mark.parametrize("p0", [0.02, 0.3, 0.5, 0.97])
@pytest.mark.parametrize("q", [0.001, 0.025, 0.975, 0.999])
def test_vectorised_limits_match_direct_binomial_quantiles(p0: float, q: float) -> None:
    sizes = np.arange(1, 41)
    limits = funnel_limit(p0, sizes, q)
    assert limits.shape == sizes.shape
    expected = [interpolated_limit(p0, int(n), q) for n in sizes]
    np.testing.assert_allclose(limits, expected, atol=1e-12)


def test_limits_narrow_towards_p0_as_n_grows() -> None:
    upper = funnel_limit(0.2, [20, 200, 2000], 0.975)
    lower = funnel_limit(0.2, [20, 200, 2000], 0.025)
    assert np.all(np.diff(upper) < 0)
    assert np.all(np.diff(lower) > 0)
    assert np.all(lower < 0.2)
    assert np.all(upper > 0.2)


def test_degenerate_targets_and_empty_units() -> None:
    assert funnel_limit(0.0, [10], 0.999)[0] == 0.0
    assert funnel_limit(1.0, [10], 0.975)[0] == 1.0
    assert funnel_limit(1.0, [10], 0.025)[0] == 1.0
    assert math.isnan(funnel_limit(0.3, [0], 0.975)[0])


def test_overdispersion_widens_by_root_phi() -> None:
    # p0 = 0.1, n = 100, φ = 2: 0.1 + 1.959964·√(2·0.09/100) = 0.1 + 1.959964·0.0424264 = 0.183154
    assert funnel_limit(0.1, [100], 0.975, phi=2.0)[0] == pytest.approx(0.183154, abs=1e-6)
    exact = funnel_limit(0.1, [50, 100, 400], 0.975)
    wider = funnel_limit(0.1, [50, 100, 400], 0.975, phi=1.5)
    widest = funnel_limit(0.1, [50, 100, 400], 0.975, phi=3.0)
    assert np.all(exact < wider)
    assert np.all(wider < widest)
    assert np.all(
        funnel_limit(0.1, [200, 400], 0.025, phi=1.5)
        > funnel_limit(0.1, [200, 400], 0.025, phi=3.0)
    )


def test_phi_from_winsorised_z_scores() -> None:
    # 10 units of 100 around p0 = 0.1, SE = √(0.09/100) = 0.03.
    # counts 1 4 10 10 10 10 10 16 19 22 -> z = -3 -2 0 0 0 0 0 2 3 4
    # 10% Winsorised: lowest (-3) -> -2, highest (4) -> 3
    # squares 4 4 0 0 0 0 0 4 9 9 = 30 over 10 units -> φ = 3.0
    counts = [1, 4, 10, 10, 10, 10, 10, 16, 19, 22]
    assert overdispersion_phi(counts, [100] * 10, 0.1) == pytest.approx(3.0)
    # without Winsorising: 9 + 4 + 4 + 9 + 16 = 42 -> 4.2
    assert overdispersion_phi(counts, [100] * 10, 0.1, winsor=0.0) == pytest.approx(4.2)


def test_phi_never_below_one() -> None:
    # z = -1 0 0 0 0 0 0 0 0 1 -> mean square 0.2 -> 1
    counts = [7, 10, 10, 10, 10, 10, 10, 10, 10, 13]
    assert overdispersion_phi(counts, [100] * 10, 0.1) == 1.0
    assert overdispersion_phi([0, 0], [10, 10], 0.0) == 1.0


@pytest.mark.parametrize(
    ("d", "n", "signal"),
    [
        (4, 20, "in_control"),  # 0.20 <= 0.2285
        (5, 20, "warning"),  # 0.25 > 0.2285, <= 0.3352
        (6, 20, "warning"),  # 0.30
        (7, 20, "alarm"),  # 0.35 > 0.3352
        (9, 9, None),  # below the minimum n of 10
        (0, 0, None),
    ],
)
def test_classify(d: int, n: int, signal: str | None) -> None:
    assert classify(d, n, 0.1) == signal


def test_classify_with_overdispersion_and_min_n() -> None:
    # φ = 2, n = 20: 99.9% limit 0.1 + 3.090232·√(2·0.09/20) = 0.1 + 3.090232·0.0948683 = 0.3932
    assert classify(7, 20, 0.1, phi=2.0) == "warning"
    assert classify(8, 20, 0.1, phi=2.0) == "alarm"  # 0.40
    assert classify(5, 9, 0.1, min_n=5) == "alarm"
