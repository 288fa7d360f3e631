"""The Universal Scalability Law, fitted to throughput against parallelism.

Gunther's law (N. J. Gunther, "Guerrilla Capacity Planning", 2007, ch. 4):

    X(N) = lambda * N / (1 + sigma * (N - 1) + kappa * N * (N - 1))

with lambda the throughput of one unit, sigma the contention (the serial fraction) and
kappa the coherency delay (crosstalk); throughput peaks at N* = sqrt((1 - sigma) / kappa).
N is the configured parallelism (workers), never the VUs beyond a hard cap: a flat curve
past a cap says nothing about contention.

Fitted by bounded non-linear least squares (``scipy.optimize.curve_fit``, trust region
reflective), from at least MIN_POINTS points, as the R package ``usl`` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit

#: The fewest points a fit is made from: three parameters, and enough left to judge it.
MIN_POINTS = 6


class FitError(ValueError):
    """Too few points, or points the law cannot be fitted to."""


@dataclass(frozen=True)
class USLFit:
    """A fitted law.

    Attributes:
        lam: throughput of one unit (the points' unit, e.g. req/s per worker).
        sigma: contention, 0..1; kappa: coherency, >= 0.
        r_squared: the fit's coefficient of determination.
    """

    lam: float
    sigma: float
    kappa: float
    r_squared: float

    @property
    def peak_n(self) -> float:
        """N*, where throughput peaks: sqrt((1 - sigma) / kappa); inf when kappa is 0."""
        return math.inf if self.kappa <= 0 else math.sqrt(max(0.0, 1 - self.sigma) / self.kappa)

    def throughput(self, n: float | np.ndarray) -> float | np.ndarray:
        """X(n) by the fitted law."""
        return usl(n, self.lam, self.sigma, self.kappa)


def usl(n, lam: float, sigma: float, kappa: float):
    """X(n) = lam n / (1 + sigma (n - 1) + kappa n (n - 1))."""
    n = np.asarray(n, dtype=float)
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def fit(n: list[float], x: list[float]) -> USLFit:
    """Fit the law to throughputs ``x`` measured at parallelism ``n``.

    Raises:
        FitError: fewer than MIN_POINTS points, no point at n = 1 to start from, or no
            convergence.
    """
    if len(n) != len(x) or len(n) < MIN_POINTS:
        raise FitError(f"a USL fit needs at least {MIN_POINTS} points, got {len(n)}")
    n_arr, x_arr = np.asarray(n, dtype=float), np.asarray(x, dtype=float)
    start_lam = float(x_arr[np.argmin(n_arr)] / n_arr.min())
    try:
        (lam, sigma, kappa), _ = curve_fit(
            usl, n_arr, x_arr, p0=(start_lam, 0.1, 0.01),
            bounds=([0.0, 0.0, 0.0], [np.inf, 1.0, np.inf]), method="trf", maxfev=20_000)
    except (RuntimeError, ValueError) as exc:
        raise FitError(f"the USL did not fit: {exc}") from exc
    residual = float(np.sum((x_arr - usl(n_arr, lam, sigma, kappa)) ** 2))
    total = float(np.sum((x_arr - x_arr.mean()) ** 2))
    return USLFit(float(lam), float(sigma), float(kappa),
                  1.0 - residual / total if total > 0 else 1.0)
