"""Shared numerics: binomial log-likelihood on the logit scale and a fixed quadrature over a standard normal.

A study's random effect enters every likelihood term as theta = mu + tau * z, z ~ N(0, 1). The
integral over z uses a uniform grid (step 0.04 on [-6, 6]) with normal weights, not Gauss-Hermite:
a binomial likelihood of 1,000 lesions is ~0.07 logit wide, so 30 Gauss-Hermite nodes spread over
tau = 1-2 logit would straddle it. A uniform Riemann sum of a smooth, Gaussian-like integrand is
accurate to exp(-2 pi^2 sigma^2 / h^2) (sigma = its width in z, h = the step): below 1e-8 relative
for sigma >= h, which holds for every table row at tau < 2.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit as _expit
from scipy.special import gammaln, log_expit, logsumexp

Z_STEP = 0.04
Z_NODES: np.ndarray = np.arange(-6.0, 6.0 + Z_STEP / 2, Z_STEP)
_LOG_W = -0.5 * Z_NODES**2
LOG_Z_WEIGHTS: np.ndarray = _LOG_W - logsumexp(_LOG_W)  # normalised: sum(exp) == 1
Z_WEIGHTS: np.ndarray = np.exp(LOG_Z_WEIGHTS)


def log_binom_coef(y: int | np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """Log C(n, y), the log binomial coefficient."""
    return gammaln(np.asarray(n) + 1.0) - gammaln(np.asarray(y) + 1.0) - gammaln(np.asarray(n) - np.asarray(y) + 1.0)


def binom_loglik_logit(y: int | np.ndarray, n: int | np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Log Binomial(y | n, expit(theta)), stable for any theta."""
    return log_binom_coef(y, n) + y * log_expit(theta) + (n - y) * log_expit(-theta)


def binom_loglik_p(y: int | np.ndarray, n: int | np.ndarray, p: np.ndarray) -> np.ndarray:
    """Log Binomial(y | n, p) for probabilities p (clipped away from 0 and 1)."""
    p = np.clip(p, 1e-300, 1.0 - 1e-16)
    return log_binom_coef(y, n) + y * np.log(p) + (n - y) * np.log1p(-p)


def logit(p):
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p)


def expit(x):
    return _expit(np.asarray(x, dtype=float))


def empirical_logit(y: int, n: int) -> float:
    """log((y + 0.5) / (n - y + 0.5)): a study row's logit rate with +0.5 continuity (finite at 0 and n)."""
    return math.log((y + 0.5) / (n - y + 0.5))


def empirical_logit_variance(y: int, n: int) -> float:
    """1/(y + 0.5) + 1/(n - y + 0.5): the binomial variance of :func:`empirical_logit`."""
    return 1.0 / (y + 0.5) + 1.0 / (n - y + 0.5)


def binomial_pmf_mixture(n: int, p_values: np.ndarray, masses: np.ndarray, bins: int = 400) -> np.ndarray:
    """Probability mass function of y = 0..n under a binomial whose p is drawn from a weighted point set.

    y ~ Binomial(n, p) with p drawn from the points ``p_values`` with probabilities ``masses``. The
    points are first binned on the logit scale (``bins`` bins, mass-weighted mean per bin), so the cost
    is bins * (n + 1) whatever the number of points.
    """
    p_values = np.clip(np.ravel(p_values), 1e-12, 1 - 1e-12)
    masses = np.ravel(masses)
    t = np.log(p_values) - np.log1p(-p_values)
    lo, hi = float(t.min()), float(t.max())
    width = max(hi - lo, 1e-9) / bins
    idx = np.minimum(((t - lo) / width).astype(np.int64), bins - 1)
    w = np.bincount(idx, weights=masses, minlength=bins)
    tsum = np.bincount(idx, weights=masses * t, minlength=bins)
    ok = w > 0
    centres = expit(tsum[ok] / w[ok])
    w = w[ok] / w[ok].sum()
    y = np.arange(n + 1)
    logpmf = binom_loglik_p(y[None, :], n, centres[:, None])
    pmf = (w[:, None] * np.exp(logpmf)).sum(axis=0)
    return pmf / pmf.sum()


def pmf_interval(pmf: np.ndarray, mass: float) -> tuple[int, int]:
    """Equal-tailed interval [q(a), q(1 - a)] of a pmf on 0..n, a = (1 - mass) / 2, q(u) = min{y: F(y) >= u}.

    For a discrete distribution it holds at least ``mass`` of the probability.
    """
    tail = (1.0 - mass) / 2.0
    cdf = np.cumsum(pmf)
    cdf /= cdf[-1]
    lo = int(np.searchsorted(cdf, tail - 1e-12, side="left"))
    hi = int(np.searchsorted(cdf, 1.0 - tail - 1e-12, side="left"))
    return lo, min(hi, len(pmf) - 1)
