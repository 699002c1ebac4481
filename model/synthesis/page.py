"""The self-contained ``literature.html`` page of ``microcalc literature``: its prose and its layout.

The page shows the method, the notes on how the table's rows enter and how the published marginal
rates link to the model's conditional effects (:data:`LINKAGE`), the leave-one-study-out check, the
per-level and per-prior tables (:mod:`microcalc.synthesis.tables`) and the forest plots, embedded as
base64 PNGs so that the file stands alone. Kept apart from the runner because it is text and markup,
not computation: :func:`literature_html` only formats what :mod:`microcalc.synthesis.run` computed.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import pandas as pd

from microcalc.synthesis.loso import LOSO_COLUMNS

CONFLICT_NOTE = (
    "conflict columns are filled at the model-fit stage from the training data's counts per level "
    "(microcalc.synthesis.prior_data_conflict), or here when counts are passed"
)
CONFLICT_FILLED = (
    "conflict columns: the marginal counts per level of {} (a lesion counts under each of its words); "
    "conflict_p_value is the two-sided prior predictive p-value of the count under the MAP part, "
    "robust_posterior_weight the posterior weight of the robust component given the count"
)
LINKAGE = (
    "Published rates are marginal: P(malignant | level) averaged over the other findings of that series. "
    "The model's descriptor effects are conditional on BI-RADS, the other descriptor and covariates. "
    "Recommended link: put each robust MAP prior on the model-implied marginal log-odds of the level at a "
    "new site, q_k = logit(sum_i pi_ik P(malignant | pattern i, new site)), where pi_ik is the share of "
    "pattern i among lesions with level k in the training data (pm.Potential with MixturePrior.logpdf), "
    "and give the conditional coefficients weakly informative base priors. Then no conditional_scale "
    "judgement is needed and marginal evidence constrains a marginal quantity. What priors/synthesis.toml "
    "does instead (it keeps a proper generative prior for prior draws, SBC and PSIS): reference_ppv = the "
    "overall MAP mean; each level's contrast = its within-study contrast (random-effects mean of logit(level "
    "rate) - logit(the study's rate over that finding), so that study selection cancels), with its SE added "
    "to the level SD; and conditional_scale a Beta(3, 2) parameter learned from the data, with Student-t level "
    "deviations so that a conflicting level can leave its centre (microcalc.synthesis.priorfile). "
    "Predictions for the clinical population (microcalc predict --population clinical, the default for lesions "
    "without a site) use the same link in the other direction: a clinical answer is the model's conditional "
    "probability averaged over a clinical case mix (training lesions re-weighted to the clinical series' "
    "BI-RADS mix) and over a clinical series' offset, whose mean is set so that the case-mix average equals the "
    "overall rate of a new series in this synthesis (microcalc.modelling.clinical); each single-finding answer "
    "is then a prediction of the published marginal rate for that finding."
)


def table_html(df: pd.DataFrame, columns: list[str]) -> str:
    """``columns`` of ``df`` as an HTML table (floats to 3 decimals, or whole numbers from 1000; NA empty)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for _, rec in df[columns].iterrows():
        cells = []
        for c in columns:
            v = rec[c]
            if isinstance(v, float):
                text = "" if not math.isfinite(v) else (f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}")
            else:
                text = "" if v is pd.NA or v is None else str(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


DERIVED_NOTE = (
    "What the table gives each prior of the model (microcalc.synthesis.derived): the reference rate and the "
    "level centres (a level's within-study contrast added to the MAP mean of a new series' overall rate; SD "
    "in logits), the BI-RADS steps with two or more series (predictive of a new population's step) and the "
    "intercept (overall MAP mean plus the within-study contrast of 4B), beside the prior file's numbers. "
    "shift_sd: how far the file's centre sits from the table's, in the table's SDs (logit scale). A file "
    'takes the table\'s numbers with level_centres, birads_steps and intercept = "studies" in its [meta].'
)


def _derived_section(derived: pd.DataFrame | None, priors_name: str) -> str:
    if derived is None:
        return ""
    return (
        f"<h2>Priors from the table, beside prior file “{html.escape(priors_name)}”</h2>"
        f"<p>{html.escape(DERIVED_NOTE)}</p>" + table_html(derived, list(derived.columns))
    )


def literature_html(
    synthesis: pd.DataFrame,
    loso,
    ess: pd.DataFrame,
    uses: pd.DataFrame,
    pngs: dict[str, Path],
    studies_file: str,
    n_rows: int,
    n_studies: int,
    counts_source: str | None = None,
    *,
    derived: pd.DataFrame | None = None,
    priors_name: str = "",
) -> str:
    """The whole page from the tables and check :func:`microcalc.synthesis.run.run_literature` computed."""
    from microcalc import DISCLAIMER

    figs = "".join(
        f"<h3>{html.escape(f.capitalize())}</h3><img alt='forest plot, {html.escape(f)}' "
        f"src='data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}'>"
        for f, p in pngs.items()
    )
    unused = uses[~uses["used"]]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>microcalc literature synthesis</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:1.5em auto;font-size:13px;line-height:1.4}}
table{{border-collapse:collapse;font-size:11px;margin:0.6em 0}}td,th{{border:1px solid #ccc;padding:2px 5px;text-align:left;vertical-align:top}}
th{{background:#f2f2f2}}.note{{background:#fff6e0;padding:0.6em;border-left:4px solid #e0a000}}img{{max-width:100%}}</style></head>
<body><h1>Evidence synthesis of published biopsy series</h1>
<p class="note">{html.escape(DISCLAIMER)}</p>
<p>Table: <code>{html.escape(studies_file)}</code> ({n_rows} rows, {n_studies} studies). Random-effects
meta-analysis on the logit scale per finding level (mu ~ N(0, 2^2), between-study SD tau ~ HalfNormal(1),
as in RBesT gMAP); the meta-analytic-predictive (MAP) prior for a new study (Neuenschwander et al. 2010)
is approximated by a mixture of at most three normals and robustified with weight 0.2, N(mean, 2)
(Schmidli et al. 2014). ESS by the ELIR method (Neuenschwander et al. 2020).</p>
<h2>How the table's rows enter</h2>
<ul><li>Pooled rows (undivided BI-RADS 4, 4BC, fine pleomorphic or fine linear, the 4th-edition groups) are a
study's rate over a union of levels: rate = sum_j w_j expit(mu_j + tau_j z_study), weights = lesion shares of the
components in studies that report them separately, one study effect shared by the components.</li>
<li>Rows of one study are different partitions of the same lesions: each level's meta-analysis takes at most one term
per study, so no lesion enters a likelihood twice. Re-splits of a row (Kim D 2023 pure/with punctate) are not used.</li>
<li>Samples restricted to one level (Kim J 2018: all 4A; Oligane 2018: all amorphous) get a study-level shift
(restricting level's log-odds minus the overall), estimated from the synthesis itself.</li>
<li>Levels without rows keep a hand-set prior (Rominger 2012, the ACR atlas), marked <i>hand-set</i>.</li></ul>
<h2>Marginal rates and the model's conditional effects</h2><p>{html.escape(LINKAGE)}</p>
<h2>Leave-one-study-out check</h2>
<p>{html.escape(loso.describe())} (target 85-95% of at least 40 rows). Rows whose level has no other study
are not predicted.</p>
<h2>Per finding level</h2>
{
        table_html(
            synthesis,
            [
                "finding",
                "level",
                "kind",
                "n_studies",
                "lesions",
                "pooled_lesions",
                "pooled_rate",
                "pooled_lower_95",
                "pooled_upper_95",
                "tau",
                "predictive_lower_90",
                "predictive_upper_90",
                "predictive_lower_95",
                "predictive_upper_95",
                "mixture_components",
                "rominger_2012",
            ],
        )
    }
<h2>Priors: effective sample size and conflict</h2>
<p>{html.escape(CONFLICT_NOTE if counts_source is None else CONFLICT_FILLED.format(counts_source))}.</p>
{
        table_html(
            ess,
            [
                "parameter",
                "source",
                "ess",
                "ess_map",
                "robust_weight",
                "prior_lower_90",
                "prior_upper_90",
                "conflict_malignant",
                "conflict_total",
                "conflict_p_value",
                "robust_posterior_weight",
                "provenance",
            ],
        )
    }
{_derived_section(derived, priors_name)}
<h2>Forest plots</h2>{figs}
<h2>Leave-one-study-out rows</h2>{table_html(loso.table, list(LOSO_COLUMNS))}
<h2>Table rows not used</h2>{table_html(unused, ["line", "study_id", "finding", "level", "reason"])}
<p>References: Neuenschwander B et al., Clin Trials 2010;7:5-18. Schmidli H et al., Biometrics 2014;70:1023-1032.
Neuenschwander B et al., Biometrics 2020;76:578-587. Rominger M et al., RöFo 2012;184:1144-1152.</p>
</body></html>
"""
