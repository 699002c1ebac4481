"""``microcalc literature --out DIR``: the evidence synthesis on its own, written to DIR.

Files: ``synthesis.csv`` (per level: pooled rate, tau, predictive intervals for a new study, studies,
lesions, mixture), ``studies_loso.csv`` (leave-one-study-out check), ``prior_ess.csv`` (per prior:
ELIR ESS, robust weight, conflict columns), ``studies_used.csv`` (how each table row is used),
``forest_<finding>.png`` and a self-contained ``literature.html``. Every file is written atomically.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import numpy as np
import pandas as pd

from microcalc.io.atomic import atomic_path, write_text_atomic
from microcalc.io.errors import LesionInputError
from microcalc.synthesis import meta
from microcalc.synthesis import studies as st
from microcalc.synthesis.ess import prior_data_conflict
from microcalc.synthesis.figures import ROMINGER_2012, forest_plot
from microcalc.synthesis.loso import LOSO_COLUMNS, leave_one_study_out, predict_row

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


def _fmt(x, digits: int = 4):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return np.nan
    return round(float(x), digits)


def synthesis_table(syn: meta.Synthesis, summaries: dict, priors: dict) -> pd.DataFrame:
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
    syn: meta.Synthesis, table: pd.DataFrame, finding: str, level: str, malignant: int, total: int
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
    syn: meta.Synthesis | None = None,
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
            c = prior_data_conflict(p, y, n)
            rec.update(
                conflict_malignant=y,
                conflict_total=n,
                conflict_p_value=c.p_value,
                robust_posterior_weight=c.robust_posterior_weight,
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


def _write_csv(df: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, encoding="utf-8")
    return path


def _table_html(df: pd.DataFrame, columns: list[str]) -> str:
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


def _html(
    synthesis: pd.DataFrame,
    loso,
    ess: pd.DataFrame,
    uses: pd.DataFrame,
    pngs: dict[str, Path],
    studies_file: str,
    n_rows: int,
    n_studies: int,
    counts_source: str | None = None,
) -> str:
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
        _table_html(
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
        _table_html(
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
<h2>Forest plots</h2>{figs}
<h2>Leave-one-study-out rows</h2>{_table_html(loso.table, list(LOSO_COLUMNS))}
<h2>Table rows not used</h2>{_table_html(unused, ["line", "study_id", "finding", "level", "reason"])}
<p>References: Neuenschwander B et al., Clin Trials 2010;7:5-18. Schmidli H et al., Biometrics 2014;70:1023-1032.
Neuenschwander B et al., Biometrics 2020;76:578-587. Rominger M et al., RöFo 2012;184:1144-1152.</p>
</body></html>
"""


def run_literature(
    out_dir: str | Path,
    studies_path: str | Path | None = None,
    *,
    spec: meta.MetaSpec = meta.MetaSpec(),
    counts: pd.DataFrame | None = None,
    counts_source: str | None = None,
    say=None,
) -> list[Path]:
    """Run the synthesis and its checks; write the files listed in the module docstring to ``out_dir``.

    Parameters
    ----------
    out_dir
        Output folder (created if missing).
    studies_path
        A studies table; default the bundled ``priors/studies.csv``. Validation problems raise
        :class:`~microcalc.io.errors.LesionInputError`.
    spec
        Meta-analysis settings.
    counts
        Optional marginal counts per level (finding, level, malignant, total) of the data the model is
        (or is to be) fitted to (:mod:`microcalc.checks.counts`); fills the conflict columns of
        ``prior_ess.csv``.
    counts_source
        What the counts are (e.g. the fit file's name), for the page and the summary.
    say
        Optional callable given a short summary (pooled rates, LOSO coverage, conflicts).

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out_dir)
    table = st.load_studies(studies_path)  # validated before anything is written
    if out.exists() and not out.is_dir():
        raise LesionInputError(str(out), "the output folder is a file", allowed="a folder (created if missing)")
    out.mkdir(parents=True, exist_ok=True)
    rows, uses = st.likelihood_rows(table)
    syn = meta.synthesise(rows, spec)
    summaries = {u: meta.summarise(p, spec) for u, p in syn.posteriors.items()}
    priors = meta.build_priors(syn, spec, summaries)
    loso = leave_one_study_out(rows, spec)
    synthesis = synthesis_table(syn, summaries, priors)
    ess = ess_table(priors, counts, syn, table)
    use_df = pd.DataFrame([u.__dict__ for u in uses])
    written = [
        _write_csv(synthesis, out / "synthesis.csv"),
        _write_csv(loso.table, out / "studies_loso.csv"),
        _write_csv(ess, out / "prior_ess.csv"),
        _write_csv(use_df, out / "studies_used.csv"),
    ]
    pngs = {}
    for finding in st.SYNTHESIS_FINDINGS:
        if any(u[0] == finding for u in summaries):
            pngs[finding] = forest_plot(syn, summaries, finding, out / f"forest_{finding}.png")
    written += list(pngs.values())
    name = str(studies_path) if studies_path is not None else "bundled priors/studies.csv"
    written.append(
        write_text_atomic(
            out / "literature.html",
            _html(synthesis, loso, ess, use_df, pngs, name, len(table), table["study_id"].nunique(), counts_source),
        )
    )
    if say is not None:
        say(summary_text(synthesis, loso, ess, counts_source))
    return written


def summary_text(synthesis: pd.DataFrame, loso, ess: pd.DataFrame, counts_source: str | None = None) -> str:
    """A few terminal lines: per synthesised level the pooled rate, tau and the 90% predictive interval;
    the leave-one-study-out coverage; and, with counts, the priors the data conflict with (p < 0.05)."""
    lines = ["Per finding level (meta-analysis): pooled rate, between-study SD (logit), 90% interval for a new study"]
    for r in synthesis[synthesis["kind"] != "hand-set"].itertuples():
        lines.append(
            f"  {r.finding:12} {r.level:22} {100 * r.pooled_rate:5.1f}%  tau {r.tau:4.2f}  "
            f"[{100 * r.predictive_lower_90:5.1f}%, {100 * r.predictive_upper_90:5.1f}%]  "
            f"{r.n_studies} stud{'y' if r.n_studies == 1 else 'ies'}, {r.lesions} lesions"
        )
    hand = synthesis.loc[synthesis["kind"] == "hand-set", "level"].tolist()
    if hand:
        lines.append(f"  hand-set (no rows): {', '.join(hand)}")
    lines.append(f"Leave-one-study-out: {loso.describe()} (target 85-95%)")
    if counts_source is not None:
        judged = ess.dropna(subset=["conflict_p_value"])
        flagged = judged[judged["conflict_p_value"] < 0.05]
        lines.append(
            f"Prior-data conflict with {counts_source}: {len(flagged)} of {len(judged)} priors at p < 0.05"
            + (
                ": "
                + ", ".join(
                    f"{r.parameter} {r.conflict_malignant}/{r.conflict_total} (p {r.conflict_p_value:.2g}, "
                    f"robust weight {r.robust_posterior_weight:.2f})"
                    for r in flagged.itertuples()
                )
                if len(flagged)
                else ""
            )
        )
    return "\n".join(lines)
