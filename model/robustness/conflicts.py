"""Why a parameter group is flagged for prior-data conflict: the numbers behind the flag and what the prior assumed.

Power-scaling (:mod:`microcalc.robustness.power_scaling`) flags a group when both the prior and the
likelihood move its posterior (sensitivities >= 0.05). That is a prompt to look, not a verdict: an
informative prior and informative data that agree are flagged too. For each flagged group this module
puts beside the flag (1) its most sensitive element's prior and posterior mean and 90% interval and how
far the data moved it, in prior SDs; (2) for groups the published rates inform, the literature levels'
own conflict with the training counts (:mod:`microcalc.synthesis.evidence`); and (3) what the prior
assumes and why the DDSM archive may differ (:data:`WHY`, written per group). The sensitivity page and
the report show the table; a group whose row says the data moved it by more than one prior SD is a real
disagreement, the others are informative data meeting an informative prior.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from microcalc.reporting.evidence import evidence_cell
from microcalc.reporting.markup import estimate
from microcalc.reporting.tables import eti, scalar_draws
from microcalc.robustness.power_scaling import CONFLICT

INTERVAL = 0.9
MOVED_SDS = 1.0  # a posterior mean this many prior SDs from the prior mean: the data disagree, not just inform

# What each group's prior assumes and why the DDSM archive may not match it (shown only when flagged).
WHY: dict[str, str] = {
    "site_sd": (
        "The prior allows the spread between clinical biopsy series (about 0.8 logit, tau over 21 series in the "
        "studies table) and an archive's (90% below 2.5 logit). DDSM's four sites are 14-73% malignant because each "
        "selected its cases differently; answers for the clinical population use the literature's spread, not "
        "the training sites'."
    ),
    "site_z": "Site offsets follow the between-site SD (see site_sd).",
    "morphology_sd": (
        "How far single morphology levels sit from their literature centres. DDSM's level rates differ from "
        "the pooled published ones (e.g. punctate, 9% in Rominger 2012), so the data widen it."
    ),
    "distribution_sd": "As morphology_sd, for the distribution levels.",
    "morphology_z": (
        "One morphology level's deviation from its literature centre, in level SDs: flagged where the training "
        "data's rate for that level differs from the published one (see the table of published rates below)."
    ),
    "distribution_z": "As morphology_z, for one distribution level.",
    "morphology_group_shift": (
        "How far a data set's benign or suspicious morphologies sit from the pooled literature as a group."
    ),
    "distribution_group_shift": (
        "How far a data set's benign (diffuse, regional) or suspicious distributions sit from the pooled "
        "literature; DDSM's diffuse and regional clusters are more often malignant than the published "
        "under-10% and 3-35%."
    ),
    "birads_step": (
        "Steps between BI-RADS categories from biopsy series. DDSM's BI-RADS 3 lesions are about 40% malignant "
        "(the atlas: at most 2%; biopsied 3s up to 32%), so the data shrink the 3 to 4A step; DDSM predates "
        "the 4A/4B/4C split, so the steps inside 4 rest on the prior and the category-4 mix."
    ),
    "birads_category_0": (
        "BI-RADS 0 (incomplete) has no published rate; its prior is centred on 4B and wide, and the data place it."
    ),
    "not_recorded": (
        "The effect of a descriptor left blank. Why a reader left it blank is not in the literature; DDSM's "
        "blanks carry their own rate."
    ),
    "birads_not_recorded": "As not_recorded, for a missing BI-RADS category.",
    "covariate_effect": (
        "Woman and cluster covariates (age, breast density, ...) with priors from studies of incidence or small "
        "series, centred on small effects; DDSM records density and age, and where their effects differ the "
        "data move them."
    ),
    "intercept": "A biopsied grouped cluster at a new site (20-50% in published series).",
    "conditional_scale": "How much of the literature's ordering of levels survives conditioning on BI-RADS.",
}


def split_element(element: str) -> tuple[str, str | None]:
    """``'covariate_effect[breast_density[a]]'`` -> ``('covariate_effect', 'breast_density[a]')``."""
    if "[" not in element:
        return element, None
    var, rest = element.split("[", 1)
    return var, rest[:-1]


def _summary(x: np.ndarray) -> tuple[float, float, float]:
    """Mean and equal-tailed :data:`INTERVAL` interval of draws."""
    return (float(x.mean()), *eti(x, INTERVAL))


def conflict_table(groups: pd.DataFrame, fit, evidence: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per group flagged for prior-data conflict, with the numbers and the reason behind the flag.

    Parameters
    ----------
    groups
        Power-scaling per group (``sensitivity.csv``: parameter, diagnosis and its most sensitive element).
    fit
        The fitted model (prior and posterior draws).
    evidence
        Optional :func:`microcalc.synthesis.evidence.level_evidence` of the fit's training data.

    Returns
    -------
    pandas.DataFrame
        Columns parameter, element, prior_mean, prior_lower, prior_upper, post_mean, post_lower, post_upper,
        shift_sd (posterior minus prior mean, in prior SDs), moved (``|shift_sd| >= MOVED_SDS``), literature
        (the informing levels' ESS and conflict p, or "—") and why (:data:`WHY`).
    """
    prior, post = fit.idata["prior"], fit.idata["posterior"]
    rows = []
    for r in groups[groups["diagnosis"] == CONFLICT].itertuples():
        var, coord = split_element(r.element)
        a, b = scalar_draws(prior, var, coord), scalar_draws(post, var, coord)
        pm, pl, pu = _summary(a)
        qm, ql, qu = _summary(b)
        shift = (qm - pm) / a.std()
        rows.append(
            dict(
                parameter=r.parameter,
                element=r.element,
                prior_mean=pm,
                prior_lower=pl,
                prior_upper=pu,
                post_mean=qm,
                post_lower=ql,
                post_upper=qu,
                shift_sd=shift,
                moved=abs(shift) >= MOVED_SDS,
                literature=evidence_cell(r.element, fit.priors, evidence),
                why=WHY.get(r.parameter, ""),
            )
        )
    columns = [
        "parameter",
        "element",
        "prior_mean",
        "prior_lower",
        "prior_upper",
        "post_mean",
        "post_lower",
        "post_upper",
        "shift_sd",
        "moved",
        "literature",
        "why",
    ]
    return pd.DataFrame(rows, columns=columns)


def conflict_reading(table: pd.DataFrame) -> str:
    """One paragraph: how many flags are real disagreements (data moved the mean >= 1 prior SD) and which."""
    if table.empty:
        return "No parameter group is flagged for prior-data conflict."
    moved = table[table["moved"]]
    met = table[~table["moved"]]
    parts = [
        f"{len(table)} group{'s are' if len(table) != 1 else ' is'} flagged for prior-data conflict. "
        f"In {len(moved)} the data moved the most sensitive element's mean by {MOVED_SDS:g} prior SD or more "
        "(a real disagreement with the prior"
        + (": " + ", ".join(f"{r.element} {r.shift_sd:+.1f} SD" for r in moved.itertuples()) if len(moved) else "")
        + ")"
    ]
    if len(met):
        parts.append(
            f"; in {len(met)} ({', '.join(met['parameter'])}) informative data met an informative prior without "
            "moving it that far"
        )
    return "".join(parts) + ". The table gives each group's numbers and what its prior assumes."


def explanations(table: pd.DataFrame) -> list[str]:
    """One sentence per flagged group: its numbers and what its prior assumes (for the page and the report)."""
    out = []
    for r in table.itertuples():
        literature = f"; literature levels: {r.literature}" if r.literature and r.literature != "—" else ""
        out.append(
            f"{r.element}: prior {estimate(r.prior_mean, r.prior_lower, r.prior_upper)}, posterior "
            f"{estimate(r.post_mean, r.post_lower, r.post_upper)}, moved {r.shift_sd:+.1f} prior SD"
            f"{literature}. {r.why}".rstrip()
        )
    return out
