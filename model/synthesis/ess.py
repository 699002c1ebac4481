"""Effective sample size (ELIR) of a logit-scale prior and prior-data conflict measures.

ELIR (expected local-information ratio, Neuenschwander et al. 2020) is the prior expectation of the
ratio of the prior's information, -d^2/dtheta^2 log p(theta), to the Fisher information of one
observation, here one lesion's Bernoulli outcome on the logit scale, i(theta) = p (1 - p). It is the
only ESS that is predictively consistent (the prior's ESS equals the expected posterior ESS after n
further lesions, minus n). For the logit of a Beta(a, b) rate the ratio is a + b everywhere, so ESS =
a + b exactly; a normal prior of logit SD s centred at p has ESS about 1 / (s^2 p (1 - p)).

Conflict between a prior and observed counts (y malignant of n) is measured twice:
* the prior predictive tail probability of y under the informative (MAP) part (two-sided, discrete:
  2 min(P(Y <= y), P(Y >= y)));
* the posterior weight of the robust component (Schmidli et al. 2014): near its prior weight (0.2)
  when prior and data agree, near 1 when they conflict.

References
----------
Neuenschwander B, Weber S, Schmidli H, O'Hagan A. Predictively consistent prior effective sample
sizes. Biometrics 2020;76:578-587.
Schmidli H et al. Robust meta-analytic-predictive priors in clinical trials with historical control
information. Biometrics 2014;70:1023-1032.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from microcalc.synthesis._numerics import LOG_Z_WEIGHTS, Z_NODES, binom_loglik_logit, expit

if TYPE_CHECKING:  # annotations only: mixture imports this module (MixturePrior.ess_elir)
    from microcalc.synthesis.mixture import MixturePrior


def ess_elir(prior: MixturePrior, points: int = 20001) -> float:
    """ELIR effective sample size of a logit-scale normal mixture for binomial (per-lesion) data.

    Parameters
    ----------
    prior
        Mixture prior on the logit of the malignancy rate.
    points
        Grid points for the integral over theta.

    Returns
    -------
    float
        Number of lesions the prior is worth. (For a mixture the local ratio can be negative between
        components; ELIR averages it, as RBesT's ``ess(..., method = "elir")`` does.)

    References
    ----------
    Neuenschwander B, Weber S, Schmidli H, O'Hagan A. Predictively consistent prior effective sample
    sizes. Biometrics 76, 578-587 (2020).
    """
    m = np.asarray(prior.means)
    s = np.asarray(prior.sds)
    # the weight 1 / (p (1 - p)) grows like exp(|theta|): extend the grid by s^2 beyond 10 SDs
    lo = max(float(np.min(m - 10 * s - s**2)), -80.0)
    hi = min(float(np.max(m + 10 * s + s**2)), 80.0)
    theta = np.linspace(lo, hi, points)
    logp = prior.logpdf(theta)
    info_prior = -prior.d2logpdf(theta)
    p = expit(theta)
    fisher = p * (1.0 - p)
    integrand = np.exp(logp) * info_prior / np.maximum(fisher, 1e-300)
    return float(np.trapezoid(integrand, theta))


@dataclass(frozen=True)
class Conflict:
    """Prior-data conflict of one prior with observed counts."""

    malignant: int
    total: int
    p_value: float  # two-sided prior predictive tail probability of the count (MAP part)
    robust_posterior_weight: float  # posterior weight of the robust component (nan if none)
    robust_prior_weight: float


def component_log_marginals(prior: MixturePrior, malignant: int, total: int) -> np.ndarray:
    """Log of each component's marginal likelihood of the counts, integral of Binom(y | n, expit(theta)) N(theta)."""
    out = []
    for m, s in zip(prior.means, prior.sds):
        ll = binom_loglik_logit(malignant, total, m + s * Z_NODES)
        out.append(np.logaddexp.reduce(ll + LOG_Z_WEIGHTS))
    return np.asarray(out)


def predictive_pmf(prior: MixturePrior, total: int) -> np.ndarray:
    """Prior predictive pmf of the malignant count among ``total`` lesions of a new series."""
    y = np.arange(total + 1)
    pmf = np.zeros(total + 1)
    for w, m, s in zip(prior.weights, prior.means, prior.sds):
        theta = m + s * Z_NODES
        ll = binom_loglik_logit(y[:, None], total, theta[None, :])
        pmf += w * np.exp(np.logaddexp.reduce(ll + LOG_Z_WEIGHTS[None, :], axis=1))
    return pmf / pmf.sum()


def prior_data_conflict(prior: MixturePrior, malignant: int, total: int) -> Conflict:
    """Conflict of a (robust) mixture prior with ``malignant`` of ``total`` observed lesions.

    Returns the two-sided prior predictive p-value of the count under the informative (MAP) part (the
    robust component predicts almost any count, so it would hide the conflict it is there to absorb) and
    the posterior weight of the robust component (nan when the prior has none). Use the counts of one
    level in the data the model is fitted to (all lesions with that finding, other findings ignored, as
    the published rates are marginal).

    References
    ----------
    Schmidli H, Gsteiger S, Roychoudhury S, O'Hagan A, Spiegelhalter D, Neuenschwander B. Robust
    meta-analytic-predictive priors in clinical trials with historical control information.
    Biometrics 70, 1023-1032 (2014).
    """
    if total <= 0 or not 0 <= malignant <= total:
        raise ValueError(f"need 0 <= malignant <= total and total > 0, got {malignant}/{total}")
    pmf = predictive_pmf(prior.informative_part(), total)
    lower = float(pmf[: malignant + 1].sum())
    upper = float(pmf[malignant:].sum())
    p_value = min(1.0, 2.0 * min(lower, upper))
    if prior.robust_index is None:
        robust = float("nan")
    else:
        lm = component_log_marginals(prior, malignant, total) + np.log(np.asarray(prior.weights))
        post = np.exp(lm - np.logaddexp.reduce(lm))
        robust = float(post[prior.robust_index])
    return Conflict(malignant, total, p_value, robust, prior.robust_weight)
