"""Scoring one fold of cross-validation: each compared model fitted on the training part, the held-out part predicted.

Fits are shared between variants that differ only at prediction (:attr:`~microcalc.checks.folds.Variant.fit_key`);
the base rate needs no fit (posterior draws of the training rate).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from microcalc.checks.evaluation import BAND_DRAWS
from microcalc.checks.folds import Variant, blank
from microcalc.io import schema
from microcalc.priors import PriorSet


@dataclass
class Scored:
    """Out-of-fold predictions of one variant on one fold."""

    variant: str
    rows: np.ndarray  # positions in the full frame
    p: np.ndarray
    draws: np.ndarray


def base_rate_draws(y_train: np.ndarray, n_test: int, draws: int, seed: int) -> np.ndarray:
    """Posterior draws of the training base rate (Beta(1 + k, 1 + n - k)), the same for every lesion."""
    k, n = float(y_train.sum()), float(len(y_train))
    rate = np.random.default_rng(seed).beta(1 + k, 1 + n - k, size=draws)
    return np.broadcast_to(rate, (n_test, draws))


def fit_variant(train: pd.DataFrame, priors: PriorSet, blanks: tuple[str, ...], sampler: dict):
    """Fit the model to a training frame with some inputs blanked."""
    from microcalc.modelling.fitting import fit

    return fit(blank(train, blanks), priors=priors, **sampler)


def score_fold(
    frame: pd.DataFrame,
    test_rows: np.ndarray,
    priors: dict[str, PriorSet],
    sampler: dict,
    variants: tuple[Variant, ...],
    say: Callable,
) -> tuple[list[Scored], list[dict]]:
    """Fit each distinct variant on the training part and predict the held-out part."""
    train_mask = np.ones(len(frame), dtype=bool)
    train_mask[test_rows] = False
    train, test = frame.iloc[np.flatnonzero(train_mask)], frame.iloc[test_rows]
    fits, fit_rows, scored = {}, [], []
    for v in variants:
        if v.priors is None:  # the base rate (no fit_key)
            y_train = train[schema.OUTCOME].to_numpy(dtype=float)
            d = base_rate_draws(y_train, len(test), BAND_DRAWS, sampler["seed"])
            scored.append(Scored(v.name, test_rows, d.mean(axis=1), d))
            continue
        if v.fit_key not in fits:
            t0 = time.perf_counter()
            fits[v.fit_key] = fit_variant(train, priors[v.priors], v.blank_in_training, sampler)
            c = fits[v.fit_key].convergence
            fit_rows.append({"fit": v.name, "seconds": time.perf_counter() - t0, **c.to_dict()})
            say(f"  fitted {v.name} on {len(train)} lesions in {fit_rows[-1]['seconds']:.0f} s: {c.text()}")
        d = fits[v.fit_key].probability_draws(blank(test, v.blank_at_prediction), max_draws=BAND_DRAWS)
        scored.append(Scored(v.name, test_rows, d.mean(axis=1), d))
    return scored, fit_rows
