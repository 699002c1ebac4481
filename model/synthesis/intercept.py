"""The intercept prior derived from the studies table (``[meta] intercept = "studies"``).

The model's intercept is the log-odds of a biopsied cluster at BI-RADS 4B (the ordinal reference), with
every level contrast 0 and covariates at their prevalence, at a typical site: the mean of the site
distribution, around which training sites scatter with SD ``site_sd`` (:mod:`microcalc.modelling.model`).
From the table it is built the way the level centres are (:mod:`microcalc.synthesis.priorfile`):

    intercept = m + c_4B

* m: the logit mean of the meta-analytic-predictive prior of a new series' overall rate (random-effects
  meta-analysis of the overall rows, :mod:`microcalc.synthesis.meta`), the same m as ``reference_ppv``;
* c_4B: the **within-study contrast** of category 4B, logit(4B rate) - logit(rate of all the study's
  lesions split by BI-RADS), pooled over the series that report 4B as a row of its own by
  DerSimonian-Laird (:func:`microcalc.synthesis.contrasts.random_effects`). Each series' selection (a
  BI-RADS 4-5 series, a 4A-only sample) cancels in the contrast, as for the levels.

The prior is Normal with that mean and SD sqrt(SE(m)^2 + SE(c_4B)^2): SE(m) the posterior SD of the
meta-analysis mean mu, SE(c_4B) the DL standard error (it includes the contrast's between-study SD). The
between-series spread of the overall rate (tau) is *not* added: the intercept is the mean of the sites,
and how far one site sits from it is the site effect's job (``site_sd``).

Measured (2026-12-07, demo fit 4 x 1000 draws, converged) with this prior in ``default.toml``: N(-1.07,
0.32), i.e. 26%, against the hand-set N(-0.69, 0.42) (20-50% of biopsied clusters). Clinical answers
are unchanged (the clinical offset is re-solved against the literature's overall rate: 29 of 33 checks,
headline 38.9% both ways), new-site answers fall 2-3 points, and power scaling flagged 8 groups against
5: DDSM's sites sit above the table's typical series, so the site SD and two groups at the threshold
take up the difference. So ``default.toml`` keeps its hand-set intercept and ``synthesis.toml`` (the
scenario with everything the table can give) uses this one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from microcalc.synthesis.meta import MetaSpec

REFERENCE_CATEGORY = "4B"  # the model's ordinal reference (birads_effect 0)
DIGITS = 3
MIN_STUDIES = 2


@dataclass(frozen=True)
class DerivedIntercept:
    """The intercept's Normal prior from the table and the numbers behind it."""

    mu: float
    sigma: float
    overall_mean: float  # m, logit
    overall_se: float
    contrast: float  # c_4B, logit
    contrast_se: float
    tau: float  # DL between-study SD of c_4B
    studies: tuple  # contrasts.StudyContrast per series

    def provenance(self) -> str:
        """The source text written into the prior file."""
        parts = ", ".join(
            f"{s.study_id} {s.malignant}/{s.total} vs {s.finding_malignant}/{s.finding_total}" for s in self.studies
        )
        return (
            f"studies table: overall MAP logit mean {self.overall_mean:.3f} (SE {self.overall_se:.3f}) plus the "
            f"within-study contrast of BI-RADS {REFERENCE_CATEGORY} {self.contrast:+.3f} (SE {self.contrast_se:.3f}, "
            f"tau {self.tau:.2f}; DerSimonian-Laird, {len(self.studies)} studies: {parts})"
        )


def derived_intercept(studies_path: str | Path | None = None, spec: MetaSpec = MetaSpec()) -> DerivedIntercept:
    """The intercept prior of the module docstring, from the overall rows and the series' 4B rows.

    Raises
    ------
    ValueError
        If fewer than :data:`MIN_STUDIES` series report 4B beside other categories.
    """
    from microcalc.synthesis import studies as st
    from microcalc.synthesis.contrasts import overall_reference, random_effects, within_study_contrasts

    rows, _ = st.likelihood_rows(st.load_studies(studies_path))
    reference = overall_reference(rows, spec)
    m, se_m = reference.mean, reference.se
    found = within_study_contrasts(rows, ("birads",)).get(("birads", REFERENCE_CATEGORY), [])
    if len(found) < MIN_STUDIES:
        raise ValueError(f"the intercept needs {MIN_STUDIES} series reporting BI-RADS 4B; the table has {len(found)}")
    c, se_c, tau = random_effects([x.contrast for x in found], [x.variance for x in found])
    return DerivedIntercept(
        round(m + c, DIGITS), round(math.hypot(se_m, se_c), DIGITS), m, se_m, c, se_c, tau, tuple(found)
    )


def check_intercept(priors, studies_path: str | Path | None = None) -> list[str]:
    """Differences between a prior set's derived intercept and a fresh synthesis (empty: none, or hand-set)."""
    if priors.intercept_origin != "studies":
        return []
    derived = derived_intercept(studies_path)
    p = priors.intercept
    if p.distribution != "Normal" or abs(p.mu - derived.mu) > 5e-4 or abs(p.sigma - derived.sigma) > 5e-4:
        return [f"intercept {p.distribution}({p.mu}, {p.sigma}) != derived Normal({derived.mu}, {derived.sigma})"]
    return []
