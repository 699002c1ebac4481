"""What the literature is worth beside a data set: per level, the prior's ESS and its conflict with the data.

For the report and the sensitivity page. Each level the studies table informs (``overall.all``, the
morphology, distribution and BI-RADS levels) has a robust meta-analytic-predictive prior on its marginal
rate (:mod:`microcalc.synthesis.meta`); beside it stand the data's marginal counts at that level (all
training lesions showing it, whatever else they show, as a published series would count them). The table
says how many lesions the prior is worth (ELIR ESS, Neuenschwander et al. 2020) and whether the data
contradict it: the two-sided prior predictive p-value of the count and the posterior weight of the robust
component (Schmidli et al. 2014). A level with a small p-value is one where the data should, and with the
robust prior can, override the literature.

The counts come from a fit's training key table (``Fit.donors``: one row per distinct combination of
site, morphology, distribution, BI-RADS, breast density and age band, with lesion and malignant counts).

References
----------
Neuenschwander B, Weber S, Schmidli H, O'Hagan A. Predictively consistent prior effective sample sizes.
Biometrics 2020;76:578-587.
Schmidli H et al. Robust meta-analytic-predictive priors in clinical trials with historical control
information. Biometrics 2014;70:1023-1032.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from microcalc.io import schema
from microcalc.synthesis import meta
from microcalc.synthesis import studies as st
from microcalc.synthesis.tables import ess_table  # the literature run's own table: the same numbers

COUNT_COLUMNS: tuple[str, ...] = ("finding", "level", "malignant", "total")
CONFLICT_ALPHA = 0.05  # a prior whose count has a prior predictive p-value below this is flagged
EVIDENCE_COLUMNS: tuple[str, ...] = (
    "parameter",
    "source",
    "ess",
    "prior_mean_rate",
    "prior_lower_90",
    "prior_upper_90",
    "conflict_malignant",
    "conflict_total",
    "conflict_p_value",
    "robust_posterior_weight",
    "conflict",
)


def counts_from_donors(donors: pd.DataFrame) -> pd.DataFrame:
    """Per model level, malignant and total training lesions with that level (columns :data:`COUNT_COLUMNS`).

    A lesion with several morphology or distribution words counts under each. Undivided BI-RADS 4 (as in
    DDSM) is not one of the model's levels 4A/4B/4C: it gets a row ``birads, 4`` of its own, compared with
    the synthesis' prediction for an undivided 4 (a pooled level). ``overall.all`` counts every lesion.
    Levels no training lesion shows are left out (no data, no conflict to measure).
    """
    n = donors["count"].to_numpy(dtype=np.int64)
    m = donors["malignant"].to_numpy(dtype=np.int64)
    records = [("overall", "all", int(m.sum()), int(n.sum()))] if n.sum() else []
    for finding in ("morphology", "distribution", "birads"):
        values = donors[finding].astype("string").fillna("")
        if finding == "birads":
            words = values.map(lambda v: {v} if v else set())
        else:
            words = values.map(lambda v: set(v.split(schema.MULTI_SEPARATOR)) if v else set())
        levels = st.MODEL_LEVELS[finding] + (("4",) if finding == "birads" else ())  # undivided 4 (pooled)
        for level in levels:
            hit = words.map(lambda w, lvl=level: lvl in w).to_numpy(dtype=bool)
            total = int(n[hit].sum())
            if total:
                records.append((finding, level, int(m[hit].sum()), total))
    return pd.DataFrame.from_records(records, columns=list(COUNT_COLUMNS))


def level_evidence(
    donors: pd.DataFrame, studies_path: str | Path | None = None, spec: meta.MetaSpec = meta.MetaSpec()
) -> pd.DataFrame:
    """Per literature level with training data: ESS, the prior's 90% interval, the count and its conflict.

    Parameters
    ----------
    donors
        A fit's training key table (``Fit.donors``).
    studies_path
        The studies table; default the bundled ``priors/studies.csv``.
    spec
        Meta-analysis settings (as in ``microcalc literature``).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`EVIDENCE_COLUMNS`, numbers as floats (NaN where not defined: a pooled level such as
        undivided BI-RADS 4 has no robust prior of its own, hence no ESS or robust weight); ``conflict`` is
        True where the p-value is below :data:`CONFLICT_ALPHA`. Only levels the data show.
    """
    run = meta.run_synthesis(st.load_studies(studies_path), spec)
    ess = ess_table(run.priors, counts_from_donors(donors), run.synthesis, run.table)
    ess = ess[ess["conflict_total"].notna()].reset_index(drop=True)
    out = ess.loc[:, [c for c in EVIDENCE_COLUMNS if c != "conflict"]].copy()
    for c in (
        "ess",
        "prior_mean_rate",
        "prior_lower_90",
        "prior_upper_90",
        "conflict_p_value",
        "robust_posterior_weight",
    ):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    out["conflict"] = out["conflict_p_value"] < CONFLICT_ALPHA
    return out


def p_text(p: float, fmt: str = ".2g") -> str:
    """A prior predictive p-value in words: 'p < 0.001' below that, else 'p' and the value in ``fmt``."""
    return "p < 0.001" if p < 0.001 else f"p {p:{fmt}}"


def conflict_sentence(evidence: pd.DataFrame) -> str:
    """One plain sentence: how many literature levels the data contradict, and which."""
    flagged = evidence[evidence["conflict"]]
    head = (
        f"The data contradict {len(flagged)} of {len(evidence)} literature priors they can be compared with "
        f"(prior predictive p < {CONFLICT_ALPHA:g})"
    )
    if flagged.empty:
        return head + "."
    parts = [
        f"{r.parameter} {int(r.conflict_malignant)}/{int(r.conflict_total)} malignant "
        f"(literature {100 * r.prior_lower_90:.0f}-{100 * r.prior_upper_90:.0f}%, {p_text(r.conflict_p_value)})"
        for r in flagged.itertuples()
    ]
    return head + ": " + "; ".join(parts) + ". There the robust prior lets the data override the literature."
