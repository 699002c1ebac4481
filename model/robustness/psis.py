"""Pareto-smoothed importance sampling from a fit's priors to a scenario's: weights and weighted answers.

:class:`Reweighter` holds a fit's posterior with its own log prior computed once; its weights are
the PSIS-smoothed ratio of a scenario's prior density to the fit's (:mod:`microcalc.robustness.log_prior`),
and its headline answers the weighted summaries of the fit's headline draws. The Pareto k-hat of the
weights says whether they can be trusted (below :data:`PARETO_K_MAX`).

References
----------
Vehtari A, Simpson D, Gelman A, Yao Y, Gabry J. Pareto smoothed importance sampling. Journal of
Machine Learning Research 25, 1-58 (2024).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from microcalc.io import schema
from microcalc.modelling.design import aggregate, encode
from microcalc.priors import PriorSet
from microcalc.reporting.headline import headline_draws
from microcalc.robustness.log_prior import likelihood_elements, log_prior, scenario_params, with_scale
from microcalc.robustness.rebuilt import training_frame
from microcalc.robustness.scenario_files import CI

if TYPE_CHECKING:
    import xarray as xr

    from microcalc.modelling.fitting import Fit

PARETO_K_MAX = 0.7  # above it the importance weights are not trusted (Vehtari et al. 2024)
IDENTICAL_LOG_RATIO = 1e-9  # log weights flatter than this: the two prior files agree on every draw


def psis_weights(log_ratio: np.ndarray) -> tuple[np.ndarray, float]:
    """Normalised Pareto-smoothed importance weights and their k-hat (nan: identical priors, uniform weights).

    References
    ----------
    Vehtari A, Simpson D, Gelman A, Yao Y, Gabry J. Pareto smoothed importance sampling. Journal of
    Machine Learning Research 25, 1-58 (2024).
    """
    from arviz_stats.base import array_stats

    if np.ptp(log_ratio) < IDENTICAL_LOG_RATIO:
        return np.full(len(log_ratio), 1.0 / len(log_ratio)), float("nan")
    # psislw smooths the weights exp(-x) (it is written for leave-one-out log-likelihoods)
    log_w, k = array_stats.psislw(-np.asarray(log_ratio, dtype=float))
    w = np.exp(log_w - log_w.max())
    return w / w.sum(), float(k)


def weighted_summary(draws: np.ndarray, w: np.ndarray, ci: float = CI) -> pd.DataFrame:
    """Weighted mean and equal-tailed interval of each row of ``draws`` (quantities x draws).

    Equal weights give numpy's default quantiles, exactly as :func:`~microcalc.reporting.headline.headline_table`;
    unequal weights use the weighted inverse CDF (``numpy.quantile(..., method="inverted_cdf")``).
    """
    probs = [(1 - ci) / 2, (1 + ci) / 2]
    if np.all(w == w[0]):
        lo, hi = np.quantile(draws, probs, axis=1)
    else:
        lo, hi = np.quantile(draws, probs, axis=1, weights=np.broadcast_to(w, draws.shape), method="inverted_cdf")
    return pd.DataFrame({"mean": draws @ w, "ci_lower": lo, "ci_upper": hi})


def effective_sample_size(w: np.ndarray) -> float:
    """Kish effective sample size of normalised importance weights."""
    return float(1.0 / np.sum(w**2))


# --------------------------------------------------------------------------------------------- answers
def headline_keys_table(keys: list[tuple[str, str]], summary: pd.DataFrame) -> pd.DataFrame:
    """Headline rows (group, level, mean, ci_lower, ci_upper) from keys and a weighted summary."""
    return pd.concat([pd.DataFrame(keys, columns=["group", "level"]), summary.reset_index(drop=True)], axis=1)


@dataclass
class Reweighter:
    """A fit's posterior made ready for reweighting to other prior files (base log prior computed once)."""

    fit: Fit
    posterior: xr.Dataset  # the fit's posterior
    patterns: object  # training patterns (to build the scenario models)
    informed: dict[str, np.ndarray] | None  # elements the likelihood reads; None = all (data not rebuilt)
    base: np.ndarray  # log prior of the fit's own priors per draw
    donors: pd.DataFrame  # defines the headline quantities
    population: str | None = None  # of the headline's blank-site lesions (None: the default population)

    @classmethod
    def of(
        cls, fit: Fit, frame: pd.DataFrame | None, donors: pd.DataFrame | None = None, population: str | None = None
    ) -> Reweighter:
        """``frame`` = the training data, or None if it could not be rebuilt (then every element counts)."""
        source = frame if frame is not None else training_frame(fit.donors)
        patterns = aggregate(encode(source, fit.priors, fit.sites), source[schema.OUTCOME].to_numpy(dtype=float))
        informed = likelihood_elements(patterns) if frame is not None else None
        posterior = fit.idata["posterior"].to_dataset()
        base = log_prior(posterior, fit.priors, fit.sites, patterns, informed)
        return cls(fit, posterior, patterns, informed, base, fit.donors if donors is None else donors, population)

    def weights(self, priors: PriorSet) -> tuple[np.ndarray, float]:
        """PSIS weights from the fit's priors to ``priors`` and their Pareto k-hat."""
        posterior, exclude = with_scale(self.posterior, self.fit.priors, priors)
        base = (
            self.base
            if not exclude
            else log_prior(self.posterior, self.fit.priors, self.fit.sites, self.patterns, self.informed, exclude)
        )
        return psis_weights(log_prior(posterior, priors, self.fit.sites, self.patterns, self.informed, exclude) - base)

    def headline(self, priors: PriorSet, w: np.ndarray) -> pd.DataFrame:
        """Weighted headline table under ``priors``."""
        params = self.fit.params()
        if self.informed is not None:
            posterior, _ = with_scale(self.posterior, self.fit.priors, priors)
            params = scenario_params(params, posterior, priors, self.informed)
        keys, draws = headline_draws(params, self.fit.priors, self.fit.sites, self.donors, self.population)
        return headline_keys_table(keys, weighted_summary(draws, w))
