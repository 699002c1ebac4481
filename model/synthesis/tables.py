"""The tables of ``microcalc literature``: per-level synthesis results and per-prior ESS and conflict.

:func:`synthesis_table` (``synthesis.csv``: per level the pooled rate, tau, predictive intervals for a
new study, studies, lesions and mixture) and :func:`ess_table` (``prior_ess.csv``: per prior the ELIR
ESS, robust component and, given counts, the prior-data conflict, with a row of its own for counts at a
pooled level, :func:`pooled_conflict`). Their columns are fixed (:data:`SYNTHESIS_COLUMNS`,
:data:`ESS_COLUMNS`) and floats are rounded to 4 digits, so the CSV files are stable. Data frames
only: writing them, and the HTML page, is :mod:`microcalc.synthesis.run` and
:mod:`microcalc.synthesis.page`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from microcalc.synthesis import studies as st
from microcalc.synthesis.ess import prior_data_conflict
from microcalc.synthesis.figures import ROMINGER_2012
from microcalc.synthesis.loso import predict_row
from microcalc.synthesis.meta import Synthesis

SYNTHESIS_COLUMNS: tuple[str, ...] = (
    "finding",
    "level",
    "kind",
    "n_studies",
    "studies",
    "lesions",
    "malignant",
    "pooled_rows",
    "pooled_lesions",
    "pooled_rate",
    "pooled_lower_95",
    "pooled_upper_95",
    "tau",
    "tau_lower_95",
    "tau_upper_95",
    "predictive_mean",
    "predictive_lower_90",
    "predictive_upper_90",
    "predictive_lower_95",
    "predictive_upper_95",
    "mixture",
    "mixture_components",
    "mixture_kl",
    "importance_ess",
    "rominger_2012",
    "provenance",
)
ESS_COLUMNS: tuple[str, ...] = (
    "parameter",
    "ess",
    "ess_map",
    "robust_weight",
    "robust_mean",
    "robust_sd",
    "source",
    "n_components",
    "prior",
    "prior_mean_rate",
    "prior_lower_90",
    "prior_upper_90",
    "studies",
    "lesions",
    "conflict_malignant",
    "conflict_total",
    "conflict_p_value",
    "robust_posterior_weight",
    "provenance",
)


def _fmt(x, digits: int = 4):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return np.nan
    return round(float(x), digits)


def synthesis_table(syn: Synthesis, summaries: dict, priors: dict) -> pd.DataFrame:
    """One row per synthesised unit and per hand-set level (see :data:`SYNTHESIS_COLUMNS`)."""
    records = []
    for pr in priors.values():
        u = (pr.finding, pr.level)
        rom = ROMINGER_2012.get(pr.level) if pr.finding == "morphology" else None
        rom_text = f"{rom[0]:.2f} ({rom[1]:.2f}-{rom[2]:.2f})" if rom else ""
        if pr.source == "meta-analysis":
            s = summaries[u]
            post = syn.posteriors[u]
            kind = "group" if pr.level in st.GROUP_UNITS.get(pr.finding, ()) else "meta-analysis"
            records.append(
                dict(
                    finding=pr.finding,
                    level=pr.level,
                    kind=kind,
                    n_studies=len(post.studies),
                    studies=" ".join(post.studies),
                    lesions=post.lesions,
                    malignant=post.malignant,
                    pooled_rows=" ".join(f"{r.study_id}:{r.level}" for r in post.pooled_rows),
                    pooled_lesions=post.pooled_lesions,
                    pooled_rate=s.pooled_rate,
                    pooled_lower_95=s.pooled_lower_95,
                    pooled_upper_95=s.pooled_upper_95,
                    tau=s.tau,
                    tau_lower_95=s.tau_lower_95,
                    tau_upper_95=s.tau_upper_95,
                    predictive_mean=s.predictive_mean,
                    predictive_lower_90=s.predictive_lower_90,
                    predictive_upper_90=s.predictive_upper_90,
                    predictive_lower_95=s.predictive_lower_95,
                    predictive_upper_95=s.predictive_upper_95,
                    mixture=s.mixture.describe(),
                    mixture_components=s.mixture.n_components,
                    mixture_kl=s.mixture_kl,
                    importance_ess=s.is_ess,
                    rominger_2012=rom_text,
                    provenance=pr.provenance,
                )
            )
        else:
            mp = pr.map_prior
            lo90, hi90 = mp.rate_interval(0.9)
            lo95, hi95 = mp.rate_interval(0.95)
            records.append(
                dict(
                    finding=pr.finding,
                    level=pr.level,
                    kind="hand-set",
                    n_studies=0,
                    studies="",
                    lesions=0,
                    malignant=0,
                    pooled_rows="",
                    pooled_lesions=0,
                    predictive_mean=mp.rate_mean(),
                    predictive_lower_90=lo90,
                    predictive_upper_90=hi90,
                    predictive_lower_95=lo95,
                    predictive_upper_95=hi95,
                    mixture=mp.describe(),
                    mixture_components=mp.n_components,
                    rominger_2012=rom_text,
                    provenance=pr.provenance,
                )
            )
    df = pd.DataFrame.from_records(records, columns=list(SYNTHESIS_COLUMNS))
    for c in df.columns:
        if df[c].dtype.kind == "f":
            df[c] = df[c].map(_fmt)
    return df


def pooled_conflict(
    syn: Synthesis, table: pd.DataFrame, finding: str, level: str, malignant: int, total: int
) -> dict | None:
    """Conflict of counts at a pooled table level (e.g. undivided BI-RADS 4) with the synthesis' prediction.

    The prediction is the count's predictive pmf for ``total`` lesions of a new study at the lesion-weighted
    union of the component levels (as a pooled row enters the meta-analysis; :func:`loso.predict_row`); the
    p-value is two-sided as in :func:`~microcalc.synthesis.ess.prior_data_conflict`. A pooled level has no
    robust prior of its own, so there is no robust posterior weight. None if a component has no synthesis.
    """
    units, why = st.POOLED_LEVELS[(finding, level)]
    row = st.StudyRow(
        "data", "data", finding, level, int(malignant), int(total), st.component_weights(table, finding, units)
    )
    pred = predict_row(syn, row)
    if pred is None:
        return None
    pmf = pred[2]
    p_value = min(1.0, 2.0 * min(float(pmf[: malignant + 1].sum()), float(pmf[malignant:].sum())))
    y = np.arange(total + 1)
    return dict(
        parameter=f"{finding}.{level}",
        source="meta-analysis (pooled level)",
        prior_mean_rate=float(pmf @ y) / total,
        prior_lower_90=pred[0],
        prior_upper_90=pred[1],
        conflict_malignant=int(malignant),
        conflict_total=int(total),
        conflict_p_value=p_value,
        provenance=(
            f"{why}: predictive of {total} lesions of a new study, components weighted "
            f"{', '.join(f'{u} {w:.3f}' for u, w in row.components)}; prior_lower/upper_90 are "
            "the 90% predictive interval of the observed rate; no robust prior of its own"
        ),
    )


def ess_table(
    priors: dict,
    counts: pd.DataFrame | None = None,
    syn: Synthesis | None = None,
    table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per prior: ELIR ESS of the robust and the MAP prior, robust component, optional conflict with counts.

    ``counts`` (optional) has columns finding, level, malignant, total: the data the model will be fitted
    to, per level (marginal counts). Without it the conflict columns stay empty (model-fit stage). With
    ``syn`` and ``table`` too, counts at a pooled level (undivided BI-RADS 4) get a row of their own
    (:func:`pooled_conflict`).
    """
    lookup = {}
    if counts is not None:
        for _, rec in counts.iterrows():
            lookup[(str(rec["finding"]), str(rec["level"]))] = (int(rec["malignant"]), int(rec["total"]))
    records = []
    for name, pr in priors.items():
        p = pr.prior
        lo, hi = p.rate_interval(0.9)
        ri = p.robust_index
        rec = dict(
            parameter=name,
            ess=p.ess_elir(),
            ess_map=pr.map_prior.ess_elir(),
            robust_weight=p.robust_weight,
            robust_mean=p.means[ri],
            robust_sd=p.sds[ri],
            source=pr.source,
            n_components=p.n_components,
            prior=p.describe(),
            prior_mean_rate=p.rate_mean(),
            prior_lower_90=lo,
            prior_upper_90=hi,
            studies=" ".join(pr.studies),
            lesions=pr.lesions,
            conflict_malignant=pd.NA,
            conflict_total=pd.NA,
            conflict_p_value=np.nan,
            robust_posterior_weight=np.nan,
            provenance=pr.provenance,
        )
        key = (pr.finding, pr.level)
        if key in lookup:
            y, n = lookup[key]
            conflict = prior_data_conflict(p, y, n)
            rec.update(
                conflict_malignant=y,
                conflict_total=n,
                conflict_p_value=conflict.p_value,
                robust_posterior_weight=conflict.robust_posterior_weight,
            )
        records.append(rec)
    if syn is not None and table is not None:
        for key, (y, n) in lookup.items():
            if key in st.POOLED_LEVELS:
                rec = pooled_conflict(syn, table, *key, y, n)
                if rec is not None:
                    records.append(rec)
    df = pd.DataFrame.from_records(records, columns=list(ESS_COLUMNS))
    df[["conflict_malignant", "conflict_total"]] = df[["conflict_malignant", "conflict_total"]].astype("Int64")
    for c in (
        "ess",
        "ess_map",
        "robust_weight",
        "robust_mean",
        "robust_sd",
        "prior_mean_rate",
        "prior_lower_90",
        "prior_upper_90",
        "conflict_p_value",
        "robust_posterior_weight",
    ):
        df[c] = df[c].map(_fmt)
    return df
