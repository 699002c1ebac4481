"""``microcalc literature --out DIR``: the evidence synthesis on its own, written to DIR.

Files: ``synthesis.csv`` (per level: pooled rate, tau, predictive intervals for a new study, studies,
lesions, mixture), ``studies_loso.csv`` (leave-one-study-out check), ``prior_ess.csv`` (per prior:
ELIR ESS, robust weight, conflict columns), ``studies_used.csv`` (how each table row is used),
``derived_priors.csv`` (every prior the table can give the model beside a prior file's,
:mod:`microcalc.synthesis.derived`), ``forest_<finding>.png`` and a self-contained ``literature.html``. Every file is written atomically.

The tables are built in :mod:`microcalc.synthesis.tables` and the page in :mod:`microcalc.synthesis.page`;
this module runs the synthesis and its checks, writes the files and prints the short summary. The tables'
names are re-exported here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from microcalc.io.atomic import atomic_path, write_text_atomic
from microcalc.io.errors import LesionInputError
from microcalc.synthesis import meta
from microcalc.synthesis import studies as st
from microcalc.synthesis.derived import derived_priors
from microcalc.synthesis.figures import forest_plot
from microcalc.synthesis.loso import leave_one_study_out
from microcalc.synthesis.page import literature_html
from microcalc.synthesis.tables import ESS_COLUMNS, SYNTHESIS_COLUMNS, ess_table, pooled_conflict, synthesis_table


def _write_csv(df: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, encoding="utf-8")
    return path


def run_literature(
    out_dir: str | Path,
    studies_path: str | Path | None = None,
    *,
    spec: meta.MetaSpec = meta.MetaSpec(),
    counts: pd.DataFrame | None = None,
    counts_source: str | None = None,
    say=None,
    prior_set=None,
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
    prior_set
        The prior set (:class:`microcalc.priors.PriorSet`) whose numbers ``derived_priors.csv`` sets beside the table's (default: the
        bundled ``priors/default.toml``).

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
    run = meta.run_synthesis(table, spec)
    syn, summaries, priors, uses = run.synthesis, run.summaries, run.priors, run.uses
    loso = leave_one_study_out(run.rows, spec)
    synthesis = synthesis_table(syn, summaries, priors)
    ess = ess_table(priors, counts, syn, table)
    use_df = pd.DataFrame([u.__dict__ for u in uses])
    if prior_set is None:
        from microcalc.priors import load_priors

        prior_set = load_priors()
    derived = derived_priors(prior_set, studies_path)
    written = [
        _write_csv(synthesis, out / "synthesis.csv"),
        _write_csv(loso.table, out / "studies_loso.csv"),
        _write_csv(ess, out / "prior_ess.csv"),
        _write_csv(use_df, out / "studies_used.csv"),
        _write_csv(derived, out / "derived_priors.csv"),
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
            literature_html(
                synthesis,
                loso,
                ess,
                use_df,
                pngs,
                name,
                len(table),
                table["study_id"].nunique(),
                counts_source,
                derived=derived,
                priors_name=prior_set.name,
            ),
        )
    )
    if say is not None:
        say(summary_text(synthesis, loso, ess, counts_source))
    return written


def summary_text(synthesis: pd.DataFrame, loso, ess: pd.DataFrame, counts_source: str | None = None) -> str:
    """A few terminal lines summing up the synthesis.

    Per synthesised level the pooled rate, tau and the 90% predictive interval; the leave-one-study-out
    coverage; and, with counts, the priors the data conflict with (p < 0.05).
    """
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


__all__ = [
    "run_literature",
    "summary_text",
    "SYNTHESIS_COLUMNS",
    "ESS_COLUMNS",
    "synthesis_table",
    "pooled_conflict",
    "ess_table",
]
