"""Start NUTS chains near the posterior mode when the data are abundant (registry-size fits).

Why: with 200,000 lesions the posterior is a narrow ridge in most directions. Chains started from
PyMC's default jittered points (about +-1 around the prior's support point, i.e. thousands of
posterior SDs away) spend their warm-up descending into it, and nutpie adapts its step size and
mass matrix on that descent. Chains stuck for the whole run in flat, low-density regions, hundreds
of log units below the others (BI-RADS steps of e^3.5, site_sd 4.7), gave R-hat up to 2.4.
L-BFGS from six such random starts found one and the same optimum every time, so these were places
where the sampler was stuck during warm-up, not separate modes of the posterior.

What: each chain starts from its own point. Optimisation by L-BFGS runs from nutpie's own jittered
initial point for that chain (so chains that met separate local optima would start in them, and
R-hat would show it). The Laplace approximation there (the inverse of the negative Hessian, from
central differences of the gradient) gives a start drawn at random from it, widened by
``OVERDISPERSION`` so that the starts are spread wider than the posterior, as R-hat needs. Starting
at the bare optimum is avoided on purpose: nutpie sets its first mass matrix from the gradient,
which is zero there.

When: only when some random-effect level is sampled centred (:func:`microcalc.model.parameterisation`,
binomial information > 1000), a rule read from the data alone. The bundled 617 lesions never
trigger it, so their fits are unchanged.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from nutpie.compile_pymc import CompiledPyMCModel

    from microcalc.design import Patterns

OVERDISPERSION = 2.0  # start spread = 2 x the Laplace SD in every direction
HESSIAN_STEP = 1e-5  # central-difference step on the unconstrained scale
MAX_ITERATIONS = 5000
GRADIENT_TOLERANCE = 1e-5  # L-BFGS stops when every |d log p / dx| is below this (or log p stalls)
MODE_STARTS = 4

LogDensity = Callable[[np.ndarray], tuple[float, np.ndarray]]


@dataclass(frozen=True)
class Mode:
    """A local maximum of the log density on the unconstrained scale."""

    point: np.ndarray
    logp: float
    max_gradient: float  # largest |component| of the gradient there


def needs_mode_start(patterns: Patterns, n_sites: int) -> bool:
    """True when the data pin some random-effect level down (sampled centred): start at the mode."""
    from microcalc.model import parameterisation

    return any(levels.any() for levels in parameterisation(patterns, n_sites).values())


def log_density(compiled: CompiledPyMCModel) -> LogDensity:
    """log p and its gradient of the flat unconstrained vector, as floats (PyTensor's compiled function)."""
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

    result = minimize(negative, start, jac=True, method="L-BFGS-B",
                      options={"maxiter": MAX_ITERATIONS, "gtol": GRADIENT_TOLERANCE})
    value, gradient = logp(result.x)
    return Mode(point=result.x, logp=value, max_gradient=float(np.abs(gradient).max()))


def find_mode(compiled: CompiledPyMCModel, seed: int, starts: int = MODE_STARTS) -> tuple[np.ndarray, float]:
    """The best of the local maxima reached from ``starts`` of nutpie's jittered initial points."""
    logp = log_density(compiled)
    seeds = np.random.SeedSequence(seed).generate_state(starts, dtype=np.uint64)
    best = max((local_mode(logp, compiled.initial_point_func(int(s))) for s in seeds), key=lambda m: m.logp)
    return best.point, best.logp


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
    """A square root L (cov = L L^T) of the Laplace covariance (-H)^-1, flat directions clipped."""
    eigenvalues, vectors = np.linalg.eigh(-h)
    floor = max(eigenvalues.max(), 1.0) * 1e-10  # a non-positive curvature gets the flattest kept one
    curvature = np.maximum(eigenvalues, floor)
    return vectors / np.sqrt(curvature)


def overdispersed_start(logp: LogDensity, mode: Mode, rng: np.random.Generator,
                        overdispersion: float = OVERDISPERSION) -> np.ndarray:
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
