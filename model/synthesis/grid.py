"""The (mu, tau) grid of one unit's random-effects posterior, and the likelihood of pooled rows on it.

The meta-analysis (:mod:`microcalc.synthesis.meta`) is computed on a fixed grid rather than by MCMC, so
that it is deterministic and fast enough to refit for every left-out study. This module holds that
numerical core: a plain row's likelihood integrated over its random effect and tabulated on the grid
(:func:`_grid_loglik`, by FFT convolution on a fine theta grid), the prior on the grid, the normalised
grid posterior of one unit and draws from it, and the likelihood of a pooled row (a lesion-weighted
union of levels sharing one study effect z) per posterior draw on a coarse z grid. The theta bins on
which predictive masses are summarised (:data:`THETA_EDGES`) live here with the other grids.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import logsumexp, ndtr

from microcalc.synthesis._numerics import binom_loglik_logit, expit, log_binom_coef

if TYPE_CHECKING:
    from microcalc.synthesis.meta import MetaSpec

MU_GRID: np.ndarray = np.linspace(-8.0, 8.0, 161)
TAU_GRID: np.ndarray = np.linspace(0.0, 4.0, 81)
# coarser z grid for pooled rows and predictions: step 0.1 still resolves the table's largest pooled
# row (676 lesions, ~0.09 logit wide, i.e. ~0.08 in z at tau 1.1) to about 1e-4
Z_COARSE: np.ndarray = np.linspace(-5.5, 5.5, 111)
LOG_ZC_WEIGHTS: np.ndarray = -0.5 * Z_COARSE**2 - logsumexp(-0.5 * Z_COARSE**2)
THETA_EDGES: np.ndarray = np.linspace(-14.0, 14.0, 701)  # 0.04-logit bins
THETA_CENTRES: np.ndarray = 0.5 * (THETA_EDGES[1:] + THETA_EDGES[:-1])

# fine theta grid for the row likelihood (0.02 logit: 3.5 points per SD of a 1,000-lesion row); MU_GRID
# points lie on it (step 0.1 = 5 steps)
_THETA_STEP = 0.02
_THETA_FINE: np.ndarray = np.round(np.arange(-16.0, 16.0 + _THETA_STEP / 2, _THETA_STEP), 10)
_FLOOR = 1e-14


# the base table extends tau beyond TAU_GRID so that sqrt(tau^2 + s^2) stays inside for shifts s <= 2
_TAU_BASE: np.ndarray = np.linspace(0.0, 4.5, 91)


@lru_cache(maxsize=1024)
def _base_table(y: int, n: int) -> tuple[np.ndarray, float]:
    """Row likelihood integrated over N(theta; c, tau^2), relative to its maximum (returned too).

    For every c on the fine theta grid and every tau in :data:`_TAU_BASE`.

    Per tau a discrete convolution of the likelihood on a 0.02-logit grid with the normal's bin
    probabilities, by FFT (exact for tau = 0, where the kernel is a single bin). FFT round-off is
    ~1e-16 of the maximum, so values below :data:`_FLOOR` (e^-32) of it are floored: every such cell
    is at least 25 log units below the row's best cells and carries no posterior mass.
    """
    ll = binom_loglik_logit(y, n, _THETA_FINE)
    top = float(ll.max())
    like = np.exp(ll - top)
    size = 1 << int(np.ceil(np.log2(2 * len(_THETA_FINE))))
    f_like = np.fft.rfft(like, size)
    table = np.empty((len(_TAU_BASE), len(_THETA_FINE)))
    for j, t in enumerate(_TAU_BASE):
        if t == 0.0:
            table[j] = like
            continue
        half = int(min(np.ceil(8 * t / _THETA_STEP) + 1, len(_THETA_FINE) - 1))
        off = np.arange(-half, half + 1) * _THETA_STEP
        kern = np.diff(ndtr(np.append(off - _THETA_STEP / 2, off[-1] + _THETA_STEP / 2) / t))
        table[j] = np.fft.irfft(f_like * np.fft.rfft(kern[::-1], size), size)[half : half + len(_THETA_FINE)]
    table = np.log(np.maximum(table, _FLOOR))
    table.setflags(write=False)
    return table, top


@lru_cache(maxsize=8192)
def _grid_loglik(y: int, n: int, shift_mean: float, shift_sd: float) -> np.ndarray:
    """Log of the row likelihood integrated over its random effect, on the (mu, tau) grid.

    L(mu, tau) = integral of Binom(y | n, expit(theta)) N(theta; mu + m, tau^2 + s^2) dtheta: the
    base table (:func:`_base_table`) read at centre mu + m and SD sqrt(tau^2 + s^2), with linear
    interpolation of the log in both (the grid steps are 0.02 logit and 0.05 in tau).
    """
    table, top = _base_table(y, n)
    pos = (MU_GRID + shift_mean - _THETA_FINE[0]) / _THETA_STEP
    i0 = np.clip(np.floor(pos).astype(int), 0, len(_THETA_FINE) - 2)
    fi = np.clip(pos - i0, 0.0, 1.0)
    tpos = np.sqrt(TAU_GRID**2 + shift_sd**2) / (_TAU_BASE[1] - _TAU_BASE[0])
    j0 = np.clip(np.floor(tpos).astype(int), 0, len(_TAU_BASE) - 2)
    fj = np.clip(tpos - j0, 0.0, 1.0)
    a = table[j0][:, i0] * (1 - fi) + table[j0][:, i0 + 1] * fi
    b = table[j0 + 1][:, i0] * (1 - fi) + table[j0 + 1][:, i0 + 1] * fi
    out = (a * (1 - fj)[:, None] + b * fj[:, None]).T + top
    out.setflags(write=False)
    return out


@lru_cache(maxsize=8)
def _grid_logprior(mu_mean: float, mu_sd: float, tau_scale: float) -> np.ndarray:
    dmu = np.gradient(MU_GRID)
    dtau = np.gradient(TAU_GRID)
    dtau[0] = dtau[-1] = 0.5 * (TAU_GRID[1] - TAU_GRID[0])
    # N(mu_mean, mu_sd) and HalfNormal(tau_scale) log densities written out (scipy.stats costs 0.5 s to import,
    # and prediction for the clinical population imports this module)
    log_mu = -0.5 * ((MU_GRID - mu_mean) / mu_sd) ** 2 - np.log(mu_sd) - 0.5 * np.log(2 * np.pi)
    log_tau = np.log(2.0) - 0.5 * (TAU_GRID / tau_scale) ** 2 - np.log(tau_scale) - 0.5 * np.log(2 * np.pi)
    lp = log_mu[:, None] + log_tau[None, :]
    return lp + np.log(dmu)[:, None] + np.log(dtau)[None, :]


def row_shift(row, shifts) -> tuple[float, float]:
    """(mean, SD) of a row's study-level shift on the logit scale: (0, 0) unless its sample is restricted."""
    if row.restriction is None:
        return 0.0, 0.0
    return shifts[row.restriction[:2]]


def grid_posterior(rows, spec: MetaSpec, shifts) -> np.ndarray:
    """Normalised posterior masses of (mu, tau) on the grid from plain rows of one unit."""
    lp = _grid_logprior(spec.mu_mean, spec.mu_sd, spec.tau_scale).copy()
    for r in rows:
        m, s = row_shift(r, shifts)
        lp += _grid_loglik(r.malignant, r.total, round(m, 6), round(s, 6))
    lp -= logsumexp(lp)
    return np.exp(lp)


def sample_grid(post: np.ndarray, draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draws of (mu, tau) from grid masses, jittered uniformly within each cell (tau kept >= 0)."""
    flat = post.ravel()
    idx = rng.choice(flat.size, size=draws, p=flat / flat.sum())
    i, j = np.unravel_index(idx, post.shape)
    hmu = 0.5 * (MU_GRID[1] - MU_GRID[0])
    htau = 0.5 * (TAU_GRID[1] - TAU_GRID[0])
    mu = MU_GRID[i] + rng.uniform(-hmu, hmu, draws)
    lo = np.maximum(TAU_GRID[j] - htau, 0.0)
    hi = np.minimum(TAU_GRID[j] + htau, TAU_GRID[-1])
    tau = lo + (hi - lo) * rng.uniform(0.0, 1.0, draws)
    return mu, tau


def pooled_rate(mus, taus, weights, z, shift=(0.0, 0.0)) -> np.ndarray:
    """Rate sum_j w_j expit(mu_j + m + sqrt(tau_j^2 + s^2) z) for draws x z nodes (shared study effect z)."""
    m, s = shift
    p = None
    for mu, tau, w in zip(mus, taus, weights):
        theta = np.multiply.outer(np.sqrt(tau**2 + s**2) if s else tau, z)
        theta += (mu + m)[:, None]
        term = expit(theta)
        if w != 1.0:
            term *= w
        p = term if p is None else p + term
    if p is None:
        raise ValueError("pooled_rate needs at least one component")
    return p


def log_rates(mus, taus, weights, shift) -> tuple[np.ndarray, np.ndarray]:
    """Log p and log(1 - p) of :func:`pooled_rate` on :data:`Z_COARSE` (shared by rows of one union)."""
    p = np.clip(pooled_rate(mus, taus, weights, Z_COARSE, shift), 1e-300, 1.0 - 1e-16)
    return np.log(p), np.log1p(-p)


def row_loglik_from_rates(row, log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """Log of the pooled row's likelihood per draw: sum over z nodes of Binom(y | n, p(z)) weights."""
    a = row.malignant * log_p + (row.total - row.malignant) * log_q + LOG_ZC_WEIGHTS[None, :]
    top = a.max(axis=1)
    return np.log(np.exp(a - top[:, None]).sum(axis=1)) + top + float(log_binom_coef(row.malignant, row.total))
