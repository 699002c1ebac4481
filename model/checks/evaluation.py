"""Evaluate a saved fit on lesions with known outcomes: ``microcalc evaluate FIT.nc TEST --out DIR``.

Writes ``DIR/metrics.json`` (n, malignant, log_loss, brier, auc, calibration_slope,
calibration_intercept, interval_coverage, mean_band_coverage, bins, band_mass, disclaimer)
and three figures:

* ``reliability.png``: observed against predicted malignancy rate per equal-count bin, with the
  posterior predictive band of each bin's observed rate and the lesion count of each bin;
* ``roc.png``: the ROC curve with its AUC;
* ``decision_curve.png``: net benefit against the biopsy threshold (2% to 50%) for the model,
  "biopsy all" and "biopsy none".

The probabilities scored are exactly the ``p_malignant`` column of ``microcalc predict`` on the same
fit and file (the posterior mean over all draws); the bands use up to ``BAND_DRAWS`` posterior
draws. Definitions of every metric,
including ``interval_coverage``, are in :mod:`microcalc.checks.metrics`.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from microcalc import DISCLAIMER
from microcalc.checks.metrics import (
    decision_curve,
    interval_coverage,
    mean_band_coverage,
    reliability_bins,
    roc_curve,
    summary_metrics,
)
from microcalc.io.atomic import write_atomic, write_text_atomic
from microcalc.io.readers import outcome_values
from microcalc.reporting.figures import OBSERVED, POSTERIOR, PRIOR, PUBLISHED, report_style

RELIABILITY_BINS = 10
BAND_DRAWS = 1000  # posterior draws (thinned evenly) behind the credible bands
BAND_MASS = 0.9
FIGURE_DPI = 110
FIGURES: dict[str, str] = {
    "reliability": "reliability.png",
    "roc": "roc.png",
    "decision_curve": "decision_curve.png",
}
# The report's palette (microcalc.reporting.figures): model = posterior blue, references grey, targets amber.
COLOURS: dict[str, str] = {
    "model": POSTERIOR,
    "band": "#9ecae1",
    "reference": PRIOR,
    "all": OBSERVED,
    "none": "#444444",
    "target": PUBLISHED,
    "vague": "#d95f02",
}


@dataclass(frozen=True)
class Evaluation:
    """Metrics and the tables behind the figures for one set of predictions."""

    metrics: dict
    reliability: pd.DataFrame
    decision: pd.DataFrame
    roc: tuple[np.ndarray, np.ndarray]


def evaluate_predictions(y, p, draws, bins: int = RELIABILITY_BINS, mass: float = BAND_MASS) -> Evaluation:
    """All metrics of predictions p (posterior means) with their draws (lesions x draws)."""
    table = reliability_bins(y, draws, bins=bins, mass=mass)
    metrics = {
        **summary_metrics(y, p),
        "interval_coverage": interval_coverage(table),
        "mean_band_coverage": mean_band_coverage(table),
        "bins": int(len(table)),
        "band_mass": mass,
    }
    return Evaluation(metrics, table, decision_curve(y, p), roc_curve(y, p))


def evaluate_fit(fit, frame: pd.DataFrame, file: str = "<data>", site: str | None = None) -> Evaluation:
    """Score a fit on a canonical frame with outcomes (p = the ``predict`` posterior mean; ``site`` as there)."""
    y = outcome_values(frame, "evaluation", file)
    p = fit.predict(frame, site=site)["p_malignant"].to_numpy(dtype=float)
    return evaluate_predictions(y, p, fit.probability_draws(frame, max_draws=BAND_DRAWS, site=site))


def evaluate_file(fit_path: str | Path, test_path: str | Path, out_dir: str | Path, site: str | None = None) -> dict:
    """Evaluate the fit in ``fit_path`` on ``test_path`` and write metrics.json and figures to ``out_dir``.

    Blank sites of the test lesions are named ``site``, as in ``Fit.predict``.
    """
    from microcalc.io.readers import read_lesions
    from microcalc.modelling.fitting import load

    frame = read_lesions(test_path)
    outcome_values(frame, "evaluation", str(test_path))  # refuse before loading the fit
    result = evaluate_fit(load(fit_path), frame, str(test_path), site)
    out = Path(out_dir)
    write_figures(result, out, title=Path(test_path).name)
    metrics = {**result.metrics, "disclaimer": DISCLAIMER}
    write_json(metrics, out / "metrics.json")
    return metrics


def write_csv(table: pd.DataFrame, path: Path) -> Path:
    """Write a table as CSV atomically."""
    return write_atomic(path, lambda tmp: table.to_csv(tmp, index=False))


def write_json(data: dict, path: Path) -> Path:
    """Write a dict as strict JSON (NaN as null) atomically."""
    return write_text_atomic(path, json.dumps(_json_ready(data), indent=2) + "\n")


def _json_ready(value):
    """NaN becomes null (strict JSON); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


# --- figures ------------------------------------------------------------------------------------


def styled(plot):
    """Draw inside the report's matplotlib style, so every figure of the project looks the same."""

    @functools.wraps(plot)
    def draw(*args, **kwargs):
        with report_style():
            return plot(*args, **kwargs)

    return draw


def new_figure(width: float = 5.2, height: float = 4.2, ncols: int = 1, sharey: bool = False):
    """A matplotlib Figure (no pyplot state) in the project's plain style, and its axes (one or a row)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, sharey=sharey)
    for ax in np.atleast_1d(axes):
        style_axes(ax)
    return fig, axes


def style_axes(ax) -> None:
    """Light grid, no top/right frame, readable labels: the same look in every figure."""
    ax.grid(True, axis="both", color="#e3e3e3", linewidth=0.7)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def save_figure(fig, path: Path, note: str = DISCLAIMER) -> Path:
    """Save a figure as PNG atomically, with the research-use note in small print below it."""
    import textwrap

    width_chars = int(fig.get_figwidth() * 19)
    with report_style():
        fig.text(0.0, -0.01, textwrap.fill(note, width_chars), fontsize=5.5, color="#777777", ha="left", va="top")
        return write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=FIGURE_DPI, format="png", bbox_inches="tight"))


@styled
def plot_reliability(table: pd.DataFrame, title: str = "", mass: float = BAND_MASS):
    """Observed vs predicted rate per bin; each bin's predictive band as a bar, its count as a label."""
    fig, ax = new_figure()
    ax.plot([0, 1], [0, 1], color=COLOURS["reference"], linestyle="--", linewidth=1, label="perfect calibration")
    x = table["predicted"].to_numpy()
    obs = table["observed"].to_numpy()
    ax.vlines(
        x,
        table["band_lower"],
        table["band_upper"],
        color=COLOURS["band"],
        linewidth=7,
        alpha=0.8,
        label=f"{mass:.0%} posterior predictive band",
    )
    ax.plot(x, obs, "o", color=COLOURS["model"], markersize=5, label="observed rate (bin)")
    for xi, yi, n in zip(x, obs, table["n"]):
        ax.annotate(f"n={n}", (xi, yi), textcoords="offset points", xytext=(5, -3), fontsize=6.5, color="#555555")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted P(malignant), bin mean", ylabel="observed malignancy rate")
    ax.set_title(f"Reliability {title}".strip(), fontsize=10)
    ax.legend(fontsize=7.5, loc="upper left", frameon=False)
    return fig


@styled
def plot_roc(fpr: np.ndarray, tpr: np.ndarray, auc_value: float, title: str = ""):
    """ROC curve with the chance diagonal and the AUC in the legend."""
    fig, ax = new_figure(4.6, 4.2)
    ax.plot([0, 1], [0, 1], color=COLOURS["reference"], linestyle="--", linewidth=1, label="chance")
    ax.step(fpr, tpr, where="post", color=COLOURS["model"], linewidth=1.6, label=f"model (AUC {auc_value:.3f})")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 - specificity", ylabel="sensitivity")
    ax.set_title(f"ROC {title}".strip(), fontsize=10)
    ax.legend(fontsize=8, loc="lower right", frameon=False)
    return fig


@styled
def plot_decision_curve(table: pd.DataFrame, title: str = ""):
    """Net benefit of the model against biopsy-all and biopsy-none over the threshold range."""
    fig, ax = new_figure(5.6, 4.0)
    t = 100 * table["threshold"]
    ax.plot(t, table["model"], color=COLOURS["model"], linewidth=1.8, label="model")
    ax.plot(t, table["biopsy_all"], color=COLOURS["all"], linewidth=1.2, label="biopsy all")
    ax.plot(t, table["biopsy_none"], color=COLOURS["none"], linewidth=1.2, linestyle=":", label="biopsy none")
    top = float(np.nanmax(table[["model", "biopsy_all"]].to_numpy()))
    ax.set(
        xlim=(t.min(), t.max()),
        ylim=(-0.05, max(0.05, top * 1.1)),
        xlabel="biopsy threshold (% risk of malignancy)",
        ylabel="net benefit",
    )
    ax.set_title(f"Decision curve {title}".strip(), fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return fig


def write_figures(result: Evaluation, out_dir: Path, title: str = "") -> dict[str, Path]:
    """Reliability, ROC and decision-curve PNGs in ``out_dir``; returns name -> path."""
    out_dir = Path(out_dir)
    figures = {
        "reliability": plot_reliability(result.reliability, title, result.metrics["band_mass"]),
        "roc": plot_roc(*result.roc, result.metrics["auc"], title),
        "decision_curve": plot_decision_curve(result.decision, title),
    }
    return {name: save_figure(fig, out_dir / FIGURES[name]) for name, fig in figures.items()}
