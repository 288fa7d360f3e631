"""The USL fitter against the R `usl` package's own test vector."""

import math

import pytest

from wsgilab.model.usl import FitError, fit, usl

#: The R package usl's test data (facts-2026-11-23.md): generated with
#: lambda = 1, sigma = kappa = 0.02, so N* = sqrt(0.98 / 0.02) = 7.0.
N = [1, 2, 4, 6, 8, 10]
X = [1, 1.8868, 3.0769, 3.5294, 3.5398, 3.3557]


def test_recovers_the_published_parameters():
    f = fit(N, X)
    assert f.lam == pytest.approx(1.0, abs=1e-3)
    assert f.sigma == pytest.approx(0.02, abs=1e-3)
    assert f.kappa == pytest.approx(0.02, abs=1e-3)
    assert f.peak_n == pytest.approx(7.0, abs=0.05)
    assert f.r_squared > 0.9999


def test_a_flat_curve_is_all_contention():
    """Throughput that does not grow with workers (CPU-bound on one CPU) fits sigma = 1."""
    f = fit([1, 2, 4, 8, 12, 16], [19.0, 19.1, 19.0, 19.2, 18.9, 18.8])
    assert f.sigma == pytest.approx(1.0, abs=0.05)
    assert f.lam == pytest.approx(19.0, rel=0.02)


def test_linear_scaling_has_no_peak():
    n = [1, 2, 3, 4, 5, 6]
    f = fit(n, [float(usl(k, 10, 0, 0)) for k in n])
    assert f.sigma == pytest.approx(0, abs=1e-6) and f.kappa == pytest.approx(0, abs=1e-6)
    assert math.isinf(f.peak_n) or f.peak_n > 1e3


def test_too_few_points_are_refused():
    with pytest.raises(FitError, match="at least 6 points"):
        fit([1, 2, 4], [1, 2, 3])
