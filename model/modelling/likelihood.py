"""The model's likelihood evaluated with NumPy on posterior draws.

PyMC can compute the same numbers (``pm.compute_log_likelihood``), but it compiles a function and
loops over draws; the equation is already a vectorised NumPy function, so one pass over the
(patterns x draws) grid costs a few milliseconds. A test checks both agree.
"""

from __future__ import annotations

import numpy as np

PROBABILITY_FLOOR = 1e-12  # P(malignant) is clipped to [floor, 1 - floor] before taking logs


def clip_probability(p):
    """Keep probabilities away from 0 and 1 so log-likelihoods stay finite (NumPy or PyTensor)."""
    return p.clip(PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)


def binomial_log_likelihood(p: np.ndarray, trials: np.ndarray, malignant: np.ndarray) -> np.ndarray:
    """Log Binomial(malignant | trials, p) per pattern and draw; p has shape (patterns, draws)."""
    from scipy.special import gammaln  # not at module level: prediction imports this module, not SciPy

    p = clip_probability(p)
    n, k = trials[:, None].astype(float), malignant[:, None].astype(float)
    log_choose = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    return log_choose + k * np.log(p) + (n - k) * np.log1p(-p)


def bernoulli_log_likelihood(p: np.ndarray, malignant: np.ndarray) -> np.ndarray:
    """Log Bernoulli(malignant | p) per lesion and draw; p has shape (lesions, draws)."""
    p, y = clip_probability(p), malignant[:, None].astype(float)
    return y * np.log(p) + (1 - y) * np.log1p(-p)


def per_draw(values: np.ndarray, posterior, dim: str, labels) -> object:
    """(items, chain x draw) chain-major values as an xarray DataArray (chain, draw, ``dim``), the stored layout."""
    import xarray as xr

    stacked = np.moveaxis(values.reshape(values.shape[0], posterior.sizes["chain"], -1), 0, -1)
    return xr.DataArray(
        stacked,
        dims=("chain", "draw", dim),
        coords={"chain": posterior["chain"].values, "draw": posterior["draw"].values, dim: labels},
    )
