"""The report's numbers from a fit, as plain tables.

Draws of one parameter, covariate odds ratios, the per-site table and the per-parameter diagnostics
(the prior-vs-posterior table is in :mod:`microcalc.reporting.prior_posterior`).

These are plain DataFrames; the HTML and Markdown pages format them, and the notebooks call them directly.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from microcalc.modelling.diagnostics import parameter_table
from microcalc.modelling.model import PARAMETER_GROUPS
from microcalc.modelling.predict import NEW_SITE as NEW_SITE_POPULATION
from microcalc.reporting import headline

if TYPE_CHECKING:
    import xarray as xr

    from microcalc.modelling.fitting import Fit
    from microcalc.priors import PriorSet

CI = 0.95  # credible level of every interval in the report
GROUP_TITLES: dict[str, str] = {
    "morphology": "By morphology",
    "distribution": "By distribution",
    "birads": "By BI-RADS category",
}
COVARIATE_LABELS: dict[str, str] = {
    "breast_density": "Breast density",
    "cluster_density": "Cluster density",
    "size_variability": "Size variability",
    "calc_count": "Number of calcifications",
    "change": "Change over time",
    "brca": "BRCA1/2 carrier",
    "tp53": "TP53 carrier",
    "family_history": "Family history",
    "postmenopausal": "Postmenopausal",
    "hrt": "Hormone therapy (HRT)",
    "age": "Age",
}
PRIOR_ONLY_TOLERANCE = 0.15  # fallback rule: posterior mean and sd within 15% of a prior sd of the prior's


def scalar_draws(node: xr.DataTree | xr.DataArray | xr.Dataset, var: str, coord: str | None = None) -> np.ndarray:
    """All draws (chains pooled) of one scalar entry of a posterior or prior group.

    ``node``: ``fit.idata["posterior"]`` or ``["prior"]`` (typed by xarray as a node or a variable), or a Dataset.
    """
    da = node[var]
    if coord is not None:
        other = [d for d in da.dims if d not in ("chain", "draw")][0]
        da = da.sel({other: coord})
    return np.asarray(da.values, dtype=float).reshape(-1)


def eti(x: np.ndarray, ci: float = CI) -> tuple[float, float]:
    """Equal-tailed credible interval of the draws ``x`` holding ``ci`` of the mass."""
    lo, hi = np.quantile(x, [(1 - ci) / 2, (1 + ci) / 2])
    return float(lo), float(hi)


def coefficient_column(coefficient: str) -> str:
    """Input column a coefficient belongs to: 'change[new]' -> 'change', 'age_per_decade' -> 'age'."""
    return "age" if coefficient == "age_per_decade" else coefficient.split("[", 1)[0]


def coefficient_label(coefficient: str, priors: PriorSet) -> str:
    """Plain label: 'Change over time: new vs stable', 'Age, per 10 years'."""
    column = coefficient_column(coefficient)
    if column == "age":
        return "Age, per 10 years"
    level = coefficient.split("[", 1)[1].rstrip("]")
    reference = priors.covariates[column].reference
    words = lambda s: s.replace("_", " ")  # noqa: E731
    return f"{COVARIATE_LABELS.get(column, words(column))}: {words(level)} vs {words(reference)}"


def recorded_counts(fit: Fit) -> dict[str, int | None]:
    """Training lesions with each covariate column recorded; None where the fit does not say.

    Uses ``fit.data_summary["recorded"]`` when the fit stores it; otherwise the training key
    table, which holds breast density and age (the other covariates are then unknown).
    """
    columns = [coefficient_column(c) for c in fit.priors.coefficient_names()]
    stored = fit.data_summary.get("recorded")
    if stored is not None:
        return {c: int(stored.get(c, 0)) for c in columns}
    out: dict[str, int | None] = dict.fromkeys(columns)
    for column, key in (("breast_density", "breast_density"), ("age", "age_band")):
        if key in fit.donors:
            out[column] = int(fit.donors.loc[fit.donors[key].notna().to_numpy(dtype=bool), "count"].sum())
    return out


def _matches_prior(post: np.ndarray, mu: float, sigma: float) -> bool:
    """Fallback: a coefficient whose posterior mean and sd equal its prior's (within tolerance)."""
    return bool(
        abs(post.mean() - mu) < PRIOR_ONLY_TOLERANCE * sigma and abs(post.std() / sigma - 1) < PRIOR_ONLY_TOLERANCE
    )


def covariate_table(fit: Fit, ci: float = CI) -> pd.DataFrame:
    """Odds ratio (posterior median of exp(coefficient), equal-tailed interval) per coefficient.

    ``prior_only`` is True when no training lesion recorded the covariate, so its effect is the
    literature prior unchanged; ``rule`` says how that was decided.
    """
    post = fit.idata["posterior"]
    names = [str(c) for c in post["covariate_effect"].coords["covariate"].values]
    mus, sds = fit.priors.coefficient_priors()
    recorded = recorded_counts(fit)
    z = NormalDist().inv_cdf((1 + ci) / 2)
    rows = []
    for name, mu, sd in zip(names, mus, sds):
        draws = scalar_draws(post, "covariate_effect", name)
        n = recorded[coefficient_column(name)]
        prior_only = (n == 0) if n is not None else _matches_prior(draws, mu, sd)
        lo, hi = eti(np.exp(draws), ci)
        rows.append(
            {
                "coefficient": name,
                "label": coefficient_label(name, fit.priors),
                "odds_ratio": float(np.median(np.exp(draws))),
                "or_lower": lo,
                "or_upper": hi,
                "prior_or": float(np.exp(mu)),
                "prior_or_lower": float(np.exp(mu - z * sd)),
                "prior_or_upper": float(np.exp(mu + z * sd)),
                "recorded": n,
                "prior_only": bool(prior_only),
                "rule": "recorded count" if n is not None else "posterior equals prior",
            }
        )
    return pd.DataFrame(rows)


def grouped_cluster_draws(fit: Fit, params: dict[str, np.ndarray], site: str | None = None) -> np.ndarray:
    """Draws of P(malignant) for the biopsied grouped cluster at ``site`` (None: a new site)."""
    return headline.grouped_cluster_draws(params, fit.priors, fit.sites, fit.donors, site)


def biopsied_counts(donors: pd.DataFrame, site: str | None = None) -> tuple[int, int]:
    """Biopsied (BI-RADS 4/5) training lesions and how many were malignant, at one site or all."""
    hit = headline.biopsied(donors)
    if site is not None:
        hit = hit & (donors["site"] == site).fillna(False).to_numpy(dtype=bool)
    return int(donors.loc[hit, "count"].sum()), int(donors.loc[hit, "malignant"].sum())


def site_table(
    fit: Fit, params: dict[str, np.ndarray], ci: float = CI, new_site_draws: np.ndarray | None = None
) -> pd.DataFrame:
    """Biopsied grouped cluster at each training site and at a new site, with each site's data.

    The new site is one like the training sites.

    ``new_site_draws``: the new-site draws when the caller has them already (headline row 0 at a new site).
    """
    rows = []
    for site in (*fit.sites, None):
        if site is None and new_site_draws is not None:
            draws = new_site_draws
        else:
            draws = grouped_cluster_draws(fit, params, site or NEW_SITE_POPULATION)
        n, m = biopsied_counts(fit.donors, site)
        summary = fit.data_summary
        lesions, malignant = (
            summary.get("by_site", {}).get(site, [0, 0])
            if site
            else (summary.get("lesions", 0), summary.get("malignant", 0))
        )
        odds = np.exp(scalar_draws(fit.idata["posterior"], "site_effect", site)) if site else np.full(1, np.nan)
        rows.append(
            {
                "site": site or "new site",
                "mean": draws.mean(),
                "ci_lower": eti(draws, ci)[0],
                "ci_upper": eti(draws, ci)[1],
                "observed_n": n,
                "observed_malignant": m,
                "lesions": int(lesions),
                "malignant": int(malignant),
                "site_or": float(np.median(odds)),
                "site_or_lower": eti(odds, ci)[0],
                "site_or_upper": eti(odds, ci)[1],
            }
        )
    return pd.DataFrame(rows)


def diagnostics_table(fit: Fit) -> pd.DataFrame:
    """Per-parameter mean, sd, ESS and R-hat of every free parameter (ArviZ summary)."""
    post = fit.idata["posterior"]
    present = [v for v in PARAMETER_GROUPS if v in post and post[v].size]
    return parameter_table(fit.idata, present)[["mean", "sd", "ess_bulk", "ess_tail", "r_hat"]]
