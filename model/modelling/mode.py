"""Start NUTS chains near the posterior mode when the data are abundant (registry-size fits).

Why: with 200,000 lesions the posterior is a narrow ridge in most directions. Chains started from
PyMC's default jittered points (about +-1 around the prior's support point, thousands of posterior
SDs away) adapt their step size and mass matrix while descending into it, and some settle for the
whole run in a secondary local maximum: on the bootstrapped 200,000 lesions, log density -46166
against -45682 at the best (BI-RADS steps 4B->4C e^-1.0 instead of e^2.0, 4C->5 e^1.5 instead of
e^-1.9, breast_density[a] -1.2 instead of -4.0), with R-hat up to 2.4. Its Laplace-approximated
mass is e^-493 of the best mode's, i.e. none; it arises because an unsplit BI-RADS 4 is a fixed
probability mixture of 4A/4B/4C, which the data can explain in more than one way.
L-BFGS from 44 of nutpie's jittered starts reached the best mode every time.

What: each chain starts from its own point. Optimisation by L-BFGS runs from nutpie's own jittered
initial point for that chain (so chains that met separate local optima would start in them, and
R-hat would show it). The Laplace approximation there (the inverse of the negative Hessian, from
central differences of the gradient) gives a start drawn at random from it, widened by
``OVERDISPERSION`` so that the starts are spread wider than the posterior, as R-hat needs: chains
all started at the bare optimum would agree by construction, whether or not they could move.
What R-hat cannot see is a mode no chain's optimiser reaches; the secondary mode above is one,
and its negligible mass (computed, not assumed) is why that is acceptable here.

With: a low-rank mass matrix (nutpie ``adaptation="low_rank"``). With mode starts and the
diagonal one, all chains agree on the mode but cross the intercept/site-effect correlation in
90-120 leapfrog steps per draw (bulk ESS 82-134 of 4000, R-hat 1.02-1.05, 3 seeds); low-rank needs
15 (bulk ESS 845-1011, R-hat <= 1.008, no divergences). Low-rank alone, from the default starts,
still left chains in the secondary mode (R-hat 1.53-2.42, 3 seeds).

When: only when some random-effect level is sampled centred (:func:`microcalc.modelling.model.parameterisation`,
binomial information > 1000), a rule read from the data alone. The bundled 617 lesions never
trigger it, so their fits are unchanged (there, low-rank adaptation was worse: a divergence and
R-hat 1.013 in 1 of 4 seeds; with non-centred levels the sd funnels need the diagonal one).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from microcalc.modelling.model import parameterisation

if TYPE_CHECKING:
    from nutpie.compile_pymc import CompiledPyMCModel

    from microcalc.modelling.design import Patterns

OVERDISPERSION = 2.0  # start spread = 2 x the Laplace SD in every direction
HESSIAN_STEP = 1e-5  # central-difference step on the unconstrained scale
MAX_ITERATIONS = 5000
GRADIENT_TOLERANCE = 1e-5  # L-BFGS stops when every |d log p / dx| is below this (or log p stalls)
ABUNDANT_ADAPTATION = "low_rank"  # nutpie mass-matrix adaptation paired with mode starts
FLAT_CURVATURE = 1e-10  # curvatures below this fraction of the largest count as flat

LogDensity = Callable[[np.ndarray], tuple[float, np.ndarray]]


@dataclass(frozen=True)
class Mode:
    """A local maximum of the log density on the unconstrained scale."""

    point: np.ndarray
    logp: float


def needs_mode_start(patterns: Patterns, n_sites: int) -> bool:
    """True when the data pin some random-effect level down (sampled centred): start at the mode."""
    return any(levels.any() for levels in parameterisation(patterns, n_sites).values())


def log_density(compiled: CompiledPyMCModel) -> LogDensity:
    """Log p and its gradient of the flat unconstrained vector, as floats (PyTensor's compiled function)."""
    function = compiled.logp_func

    def logp_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
        logp, gradient = function(np.asarray(x, dtype=float))
        return float(logp), np.asarray(gradient, dtype=float)

    return logp_and_gradient


def local_mode(logp: LogDensity, start: np.ndarray) -> Mode:
    """The local maximum L-BFGS reaches from ``start``."""
    from scipy.optimize import minimize

    def negative(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = logp(x)
        if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
            return np.inf, np.zeros_like(x)
        return -value, -gradient

    result = minimize(
        negative, start, jac=True, method="L-BFGS-B", options={"maxiter": MAX_ITERATIONS, "gtol": GRADIENT_TOLERANCE}
    )
    return Mode(point=result.x, logp=-float(result.fun))


def hessian(logp: LogDensity, point: np.ndarray, step: float = HESSIAN_STEP) -> np.ndarray:
    """Symmetrised central-difference Hessian of log p at ``point`` (2 gradients per dimension)."""
    columns = []
    for i in range(point.size):
        shift = np.zeros_like(point)
        shift[i] = step
        columns.append((logp(point + shift)[1] - logp(point - shift)[1]) / (2 * step))
    h = np.column_stack(columns)
    return (h + h.T) / 2


def laplace_factor(h: np.ndarray) -> np.ndarray:
    """A square root L (cov = L L^T) of the Laplace covariance (-H)^-1.

    A direction without downward curvature (not a strict maximum there) gets unit variance, the
    width of PyMC's own start jitter, instead of an infinite one.
    """
    eigenvalues, vectors = np.linalg.eigh(-h)
    curvature = np.where(eigenvalues > FLAT_CURVATURE * max(eigenvalues.max(), 1.0), eigenvalues, 1.0)
    return vectors / np.sqrt(curvature)


def overdispersed_start(
    logp: LogDensity, mode: Mode, rng: np.random.Generator, overdispersion: float = OVERDISPERSION
) -> np.ndarray:
    """A draw from the Laplace approximation at ``mode`` with SDs times ``overdispersion``."""
    factor = laplace_factor(hessian(logp, mode.point))
    for _ in range(20):  # a start must have finite density; shrink if the widened draw has not
        x = mode.point + overdispersion * factor @ rng.standard_normal(mode.point.size)
        value, gradient = logp(x)
        if np.isfinite(value) and np.all(np.isfinite(gradient)):
            return x
        overdispersion /= 2
    return mode.point


def chain_start(compiled: CompiledPyMCModel, seed: int) -> np.ndarray:
    """One chain's start: optimise from nutpie's jittered point for ``seed``, then draw near that optimum."""
    logp = log_density(compiled)
    mode = local_mode(logp, compiled.initial_point_func(seed))
    return overdispersed_start(logp, mode, np.random.default_rng(seed))


def start_near_mode(compiled: CompiledPyMCModel) -> CompiledPyMCModel:
    """``compiled`` with each chain's initial point from :func:`chain_start` (nutpie passes a seed per chain).

    nutpie asks for the chains' initial points from several threads at once, and a compiled PyTensor
    function must not be called concurrently, so the starts are computed one at a time.
    """
    lock = threading.Lock()

    def initial_point(seed: int) -> np.ndarray:
        with lock:
            return chain_start(compiled, seed)

    return dataclasses.replace(compiled, initial_point_func=initial_point)
