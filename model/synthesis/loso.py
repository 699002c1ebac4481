"""Leave-one-study-out check: each study's rows predicted from the synthesis of all other studies.

For every cohort (a study, or studies sharing patients such as Burnside 2006/2007) the meta-analysis
is refitted without it, and each of its likelihood rows gets the 90% predictive interval of its
observed rate malignant / total: the binomial count of ``total`` lesions in a new study, integrated
over the posterior of (mu, tau) and the new study's random effect (with the study-level shift for a
restricted sample). Rows whose level has no other study cannot be predicted and are left out of the
coverage (``covered`` empty). The target is 85-95% coverage over at least 40 rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from microcalc.synthesis import meta
from microcalc.synthesis._numerics import binomial_pmf_mixture, pmf_interval

LOSO_COLUMNS: tuple[str, ...] = (
    "study_id",
    "finding",
    "level",
    "malignant",
    "total",
    "observed_ppv",
    "predicted_lower_90",
    "predicted_upper_90",
    "covered",
)


def predict_row(syn: meta.Synthesis, row, mass: float = 0.9) -> tuple[float, float, np.ndarray] | None:
    """Predictive interval [lower, upper] of a row's observed rate, and the count pmf; None if unpredictable."""
    units = tuple((row.finding, lvl) for lvl in row.units)
    if any(u not in syn.posteriors for u in units):
        return None
    shift = (0.0, 0.0)
    if row.restriction is not None:
        key = row.restriction[:2]
        value = syn.shifts.get(key) or meta._shift(row.restriction, syn.posteriors, syn.spec.draws, syn.spec.seed)
        if value is None:
            return None
        shift = value
    mus, taus, w = syn.draws_for(units)
    p = meta.pooled_rate(mus, taus, [wt for _, wt in row.components], meta.Z_COARSE, shift)
    masses = w[:, None] * np.exp(meta.LOG_ZC_WEIGHTS)[None, :]
    pmf = binomial_pmf_mixture(row.total, p, masses)
    lo, hi = pmf_interval(pmf, mass)
    return lo / row.total, hi / row.total, pmf


@dataclass(frozen=True)
class LosoResult:
    """Leave-one-study-out check: per study row the 90% predictive interval and whether it covered the row.

    ``coverage`` is the share of judged rows covered and ``rows`` how many were judged: a row that cannot
    be predicted once its cohort is left out (no other study informs its units) is not judged.
    """

    table: pd.DataFrame
    coverage: float
    rows: int

    def describe(self) -> str:
        """One line: the coverage and how many rows it is over."""
        return f"{self.coverage:.1%} of {self.rows} study x finding rows inside their 90% predictive interval"


def leave_one_study_out(rows, spec: meta.MetaSpec = meta.MetaSpec()) -> LosoResult:
    """Refit without each cohort in turn and predict its rows (see module docstring)."""
    rows = list(rows)
    records = []
    for cohort in sorted({r.cohort for r in rows}):
        mine = [r for r in rows if r.cohort == cohort]
        syn = meta.synthesise(meta.without(rows, cohort), spec)
        for r in mine:
            pred = predict_row(syn, r)
            lo, hi = (np.nan, np.nan) if pred is None else pred[:2]
            covered = pd.NA if pred is None else bool(lo <= r.observed <= hi)
            records.append(
                dict(
                    study_id=r.study_id,
                    finding=r.finding,
                    level=r.level,
                    malignant=r.malignant,
                    total=r.total,
                    observed_ppv=r.observed,
                    predicted_lower_90=lo,
                    predicted_upper_90=hi,
                    covered=covered,
                )
            )
    table = pd.DataFrame.from_records(records, columns=list(LOSO_COLUMNS))
    table["covered"] = table["covered"].astype("boolean")
    judged = table["covered"].dropna()
    coverage = float(judged.mean()) if len(judged) else float("nan")
    return LosoResult(table, coverage, int(len(judged)))
