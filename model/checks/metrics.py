"""Out-of-sample metrics for malignancy probabilities: pure functions of outcomes and predictions.

``y`` is the observed outcome (1 malignant, 0 benign), ``p`` the predicted probability (the posterior
mean that ``microcalc predict`` writes as ``p_malignant``) and ``draws`` the posterior draws of the
probability, shape (lesions, draws).

* **log loss**: mean of -[y log p + (1 - y) log(1 - p)] (natural log; p clipped to [1e-12, 1 - 1e-12]).
* **Brier score**: mean of (p - y)^2.
* **AUC**: probability that a random malignant lesion gets a higher p than a random benign one
  (ties count one half; the Mann-Whitney statistic).
* **Calibration slope and intercept** (logistic recalibration, Van Calster et al. 2016): the slope b
  is fitted in logit P(y=1) = a + b logit(p); the intercept a ("calibration-in-the-large") is fitted
  with the slope fixed at 1, logit P(y=1) = a + logit(p). Perfect calibration: slope 1, intercept 0;
  slope < 1 means predictions too extreme (overfitting), > 1 too timid.
* **Reliability bins**: lesions sorted by p and cut into equal-count bins. Each bin carries its
  observed malignancy rate, its mean predicted rate and two bands from the posterior draws:
  the *credible band of the mean predicted rate* (quantiles over draws s of the bin's mean of
  p_i^(s): parameter uncertainty only) and the *posterior predictive band of the observed rate*
  (for each draw s, outcomes y_i ~ Bernoulli(p_i^(s)) are simulated and averaged over the bin; the
  band holds ``mass`` of those simulated rates: parameter uncertainty plus binomial noise).
* **Interval coverage**: the share of reliability bins whose observed malignancy rate lies inside the
  bin's posterior predictive band (default 90%). If the probabilities and their uncertainty are
  right, it is close to the band's mass. (The share inside the narrower band of the mean predicted
  rate is also given, as ``mean_band_coverage``: it ignores binomial noise, so it falls short of the
  mass even for a perfectly calibrated model; it says how much of the miscalibration the
  parameter uncertainty explains.)
* **Net benefit** (Vickers & Elkin 2006) of biopsying when p >= t: TP/n - FP/n * t / (1 - t);
  "biopsy all" is the same with every p = 1, "biopsy none" is 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from scipy.stats import rankdata

from microcalc.modelling.likelihood import bernoulli_log_likelihood, clip_probability

DECISION_THRESHOLDS = np.round(np.arange(0.02, 0.5001, 0.01), 2)  # 2% (BI-RADS 3 ceiling) to 50%


def _arrays(y, p) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes and probabilities as float arrays of equal length, refusing impossible values."""
    y = np.asarray(y, dtype=float).reshape(-1)
    p = np.asarray(p, dtype=float).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"{len(y)} outcomes but {len(p)} predictions")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("outcomes must be 0 or 1")
    if not ((p >= 0) & (p <= 1)).all():
        raise ValueError("predictions must be probabilities in [0, 1]")
    return y, p


def log_loss_terms(y, p) -> np.ndarray:
    """Per-lesion negative log-likelihood, for paired comparisons of two models on the same lesions."""
    y, p = _arrays(y, p)
    return -bernoulli_log_likelihood(p[:, None], y)[:, 0]


def log_loss(y, p) -> float:
    """Mean negative log-likelihood of the outcomes (natural log)."""
    return float(np.mean(log_loss_terms(y, p)))


def brier(y, p) -> float:
    """Mean squared difference between probability and outcome."""
    y, p = _arrays(y, p)
    return float(np.mean((p - y) ** 2))


def auc(y, p) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count one half); NaN if one class is absent."""
    y, p = _arrays(y, p)
    n1 = y.sum()
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(p)
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def roc_curve(y, p) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    y, p = _arrays(y, p)
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(ps) != 0), len(ps) - 1]
    tp = np.cumsum(ys)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    tpr = np.r_[0.0, tp / max(y.sum(), 1)]
    fpr = np.r_[0.0, fp / max(len(y) - y.sum(), 1)]
    return fpr, tpr


def _logistic_fit(y: np.ndarray, x: np.ndarray, offset: np.ndarray, iterations: int = 100) -> np.ndarray:
    """Maximum-likelihood logistic regression of y on the columns of x with an offset (Newton)."""
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        mu = expit(offset + x @ beta)
        w = mu * (1 - mu)
        step = np.linalg.solve(x.T @ (x * w[:, None]) + 1e-10 * np.eye(x.shape[1]), x.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def calibration(y, p) -> tuple[float, float]:
    """(slope, intercept) of logistic recalibration; intercept with the slope fixed at 1.

    Both NaN when the outcomes are all one class.

    References
    ----------
    Van Calster B, Nieboer D, Vergouwe Y, De Cock B, Pencina MJ, Steyerberg EW. A calibration hierarchy
    for risk models was defined: from utopia to empirical data. Journal of Clinical Epidemiology 74,
    167-176 (2016).
    """
    y, p = _arrays(y, p)
    if y.min() == y.max():
        return float("nan"), float("nan")
    z = logit(clip_probability(p))
    ones = np.ones((len(y), 1))
    slope = _logistic_fit(y, np.column_stack([ones, z]), np.zeros_like(z))[1]
    intercept = _logistic_fit(y, ones, z)[0]
    return float(slope), float(intercept)


def summary_metrics(y, p) -> dict[str, float]:
    """n, malignant, log loss, Brier, AUC, calibration slope and intercept in one dict."""
    y, p = _arrays(y, p)
    slope, intercept = calibration(y, p)
    return {
        "n": int(len(y)),
        "malignant": int(y.sum()),
        "log_loss": log_loss(y, p),
        "brier": brier(y, p),
        "auc": auc(y, p),
        "calibration_slope": slope,
        "calibration_intercept": intercept,
    }


def equal_count_bins(p, bins: int) -> np.ndarray:
    """Bin number of each prediction: sorted by p and cut into ``bins`` groups of (nearly) equal size."""
    p = np.asarray(p, dtype=float)
    bins = max(1, min(bins, len(p)))
    out = np.empty(len(p), dtype=np.int64)
    for b, idx in enumerate(np.array_split(np.argsort(p, kind="stable"), bins)):
        out[idx] = b
    return out


def reliability_bins(y, draws, bins: int = 10, mass: float = 0.9, seed: int = 0) -> pd.DataFrame:
    """Per equal-count bin of the posterior mean: counts, observed and predicted rates, both bands.

    Columns: bin, n, malignant, observed, predicted, mean_lower, mean_upper (credible band of the
    mean predicted rate), band_lower, band_upper (posterior predictive band of the observed rate),
    inside (observed rate within the predictive band). See the module docstring.
    """
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != 2:
        raise ValueError("draws must have shape (lesions, draws)")
    y, p = _arrays(y, draws.mean(axis=1))
    rng = np.random.default_rng(seed)
    q = [(1 - mass) / 2, (1 + mass) / 2]
    bin_of = equal_count_bins(p, bins)
    rows = []
    for b in np.unique(bin_of):
        d = draws[bin_of == b]
        mean_rate = d.mean(axis=0)
        simulated = (rng.random(d.shape) < d).mean(axis=0)
        observed = float(y[bin_of == b].mean())
        lo, hi = np.quantile(simulated, q)
        mlo, mhi = np.quantile(mean_rate, q)
        rows.append(
            {
                "bin": int(b),
                "n": int(len(d)),
                "malignant": int(y[bin_of == b].sum()),
                "observed": observed,
                "predicted": float(mean_rate.mean()),
                "mean_lower": float(mlo),
                "mean_upper": float(mhi),
                "band_lower": float(lo),
                "band_upper": float(hi),
                "inside": bool(lo <= observed <= hi),
            }
        )
    return pd.DataFrame(rows)


def interval_coverage(table: pd.DataFrame) -> float:
    """Share of reliability bins whose observed rate lies inside the posterior predictive band."""
    return float(table["inside"].mean()) if len(table) else float("nan")


def mean_band_coverage(table: pd.DataFrame) -> float:
    """Share of reliability bins whose observed rate lies inside the band of the mean predicted rate."""
    if not len(table):
        return float("nan")
    return float(((table["mean_lower"] <= table["observed"]) & (table["observed"] <= table["mean_upper"])).mean())


def net_benefit(y, p, thresholds) -> np.ndarray:
    """Net benefit of biopsy when p >= t, per threshold t: TP/n - FP/n * t / (1 - t).

    References
    ----------
    Vickers AJ, Elkin EB. Decision curve analysis: a novel method for evaluating prediction models.
    Medical Decision Making 26, 565-574 (2006).
    """
    y, p = _arrays(y, p)
    t = np.asarray(thresholds, dtype=float)
    biopsy = p[None, :] >= t[:, None]
    tp = (biopsy & (y[None, :] == 1)).sum(axis=1)
    fp = (biopsy & (y[None, :] == 0)).sum(axis=1)
    return tp / len(y) - fp / len(y) * t / (1 - t)


def decision_curve(y, p, thresholds=DECISION_THRESHOLDS) -> pd.DataFrame:
    """Net benefit of the model, of biopsying every lesion and of biopsying none, per threshold."""
    y, p = _arrays(y, p)
    return pd.DataFrame(
        {
            "threshold": np.asarray(thresholds, dtype=float),
            "model": net_benefit(y, p, thresholds),
            "biopsy_all": net_benefit(y, np.ones_like(p), thresholds),
            "biopsy_none": 0.0,
        }
    )
