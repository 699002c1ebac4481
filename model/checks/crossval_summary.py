"""The summary of cross-validation: pooled and per-fold metrics, the comparison figure and the files written.

Metrics are computed on the pooled out-of-fold predictions (:mod:`microcalc.checks.metrics`), with
fold-to-fold SDs and the paired per-lesion log-loss difference from the literature model beside
them; the files are those of :data:`CROSSVAL_FILES`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from microcalc.checks.evaluation import COLOURS, evaluate_predictions, new_figure, styled, write_csv
from microcalc.checks.fold_scoring import Scored
from microcalc.checks.folds import Variant
from microcalc.io import schema

CROSSVAL_FILES: dict[str, str] = {
    "crossval_table": "crossval.csv",
    "crossval_folds": "crossval_folds.csv",
    "crossval_predictions": "crossval_predictions.csv",
    "crossval_fits": "crossval_fits.csv",
    "crossval_figure": "crossval.png",
    "crossval_reliability": "crossval_reliability.png",
    "loo": "loo.csv",
    "crossval_settings": "crossval_settings.json",
}
# Targets of issues 4 and 7 for case-grouped CV (drawn on the figure; never used to choose anything).
TARGETS = {"literature": {"log_loss": 0.46, "auc": 0.83}, "birads_blank": {"log_loss": 0.52, "auc": 0.78}}


def pooled_table(
    frame: pd.DataFrame, scored: list[Scored], fold: np.ndarray, variants: tuple[Variant, ...]
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Pooled out-of-fold metrics per variant, per-fold metrics, and each variant's evaluation.

    ``delta_log_loss`` is the mean per-lesion log-loss difference from the first variant (the
    literature model) on the same lesions, with its standard error ``delta_se``: a paired comparison.
    """
    from microcalc.checks.metrics import log_loss_terms, summary_metrics

    y = frame[schema.OUTCOME].to_numpy(dtype=float)
    summary, per_fold, evaluations, reference = [], [], {}, None
    for v in variants:
        parts = [s for s in scored if s.variant == v.name]
        rows = np.concatenate([s.rows for s in parts])
        order = np.argsort(rows, kind="stable")
        p = np.concatenate([s.p for s in parts])[order]
        draws = np.concatenate([s.draws for s in parts])[order]
        rows = rows[order]
        ev = evaluate_predictions(y[rows], p, draws)
        evaluations[v.name] = ev
        terms = log_loss_terms(y[rows], p)
        reference = terms if reference is None else reference
        delta = terms - reference
        folds_df = pd.DataFrame(
            [{"model": v.name, "fold": int(fold[s.rows[0]]), **summary_metrics(y[s.rows], s.p)} for s in parts]
        )
        per_fold.append(folds_df)
        summary.append(
            {
                "model": v.name,
                "label": v.label,
                **{
                    k: ev.metrics[k]
                    for k in (
                        "n",
                        "malignant",
                        "log_loss",
                        "brier",
                        "auc",
                        "calibration_slope",
                        "calibration_intercept",
                        "interval_coverage",
                    )
                },
                "log_loss_fold_sd": float(folds_df["log_loss"].std()),
                "auc_fold_sd": float(folds_df["auc"].std()),
                "delta_log_loss": float(delta.mean()),
                "delta_se": float(delta.std(ddof=1) / np.sqrt(len(delta))),
            }
        )
    return pd.DataFrame(summary), pd.concat(per_fold, ignore_index=True), evaluations


@styled
def plot_comparison(table: pd.DataFrame, folds: pd.DataFrame, title: str, targets: dict | None = None):
    """Log loss and AUC per variant: pooled value (bar) and each fold (dots); targets (if given) dashed."""
    fig, axes = new_figure(9.0, 3.8, ncols=2, sharey=True)
    labels = table["label"].tolist()
    ypos = np.arange(len(labels))[::-1]
    for ax, metric, name in zip(axes, ("log_loss", "auc"), ("log loss (lower is better)", "AUC (higher is better)")):
        values = np.r_[table[metric].to_numpy(dtype=float), folds[metric].to_numpy(dtype=float)]
        values = values[np.isfinite(values)]
        ax.barh(ypos, table[metric], color=COLOURS["band"], height=0.6)
        for y0, model in zip(ypos, table["model"]):
            vals = folds.loc[folds["model"] == model, metric]
            ax.plot(vals, np.full(len(vals), y0), "o", color=COLOURS["model"], markersize=3.5, alpha=0.8)
        for model, target in (targets or {}).items():
            if model in table["model"].values:
                y0 = ypos[table["model"].tolist().index(model)]
                ax.plot(
                    [target[metric]] * 2, [y0 - 0.4, y0 + 0.4], color=COLOURS["target"], linestyle="--", linewidth=1.6
                )
        for y0, val in zip(ypos, table[metric]):
            ax.annotate(f"{val:.3f}", (val, y0), textcoords="offset points", xytext=(3, 6), fontsize=7)
        ax.set_xlabel(name, fontsize=9)
        if metric == "auc":
            ax.set_xlim(min(0.45, values.min() - 0.05), 1.0)
        else:
            ax.set_xlim(0.0, max(0.8, 1.1 * values.max()))
    axes[0].set_yticks(ypos, labels, fontsize=8)
    note = "; dashed: issue target" if targets else ""
    fig.suptitle(f"{title}  (bars: pooled out-of-fold; dots: folds{note})", fontsize=9.5)
    return fig


def write_tables(
    out: Path,
    frame: pd.DataFrame,
    scored: list[Scored],
    table: pd.DataFrame,
    per_fold: pd.DataFrame,
    convergence: pd.DataFrame,
) -> None:
    """crossval.csv, crossval_folds.csv, crossval_fits.csv (diagnostics of every fit), predictions."""
    write_csv(table, out / CROSSVAL_FILES["crossval_table"])
    write_csv(per_fold, out / CROSSVAL_FILES["crossval_folds"])
    if len(convergence):
        write_csv(convergence, out / CROSSVAL_FILES["crossval_fits"])
    ids = frame["lesion_id"].astype(str).to_numpy()
    y = frame[schema.OUTCOME].to_numpy(dtype=float)
    predictions = pd.concat(
        [
            pd.DataFrame({"lesion_id": ids[s.rows], "model": s.variant, "malignant": y[s.rows], "p_malignant": s.p})
            for s in scored
        ],
        ignore_index=True,
    )
    write_csv(predictions, out / CROSSVAL_FILES["crossval_predictions"])
