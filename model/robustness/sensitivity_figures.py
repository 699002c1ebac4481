"""Figures of the sensitivity page (PNG bytes, in the report's style).

Scenarios, power-scaling scatter and curves, data size.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from microcalc.robustness.power_scaling import CONFLICT, THRESHOLD, WEAK
from microcalc.robustness.scenarios import PARETO_K_MAX
from microcalc.robustness.sensitivity_result import DATA_SIZE_FIGURE, SensitivityResult


# --------------------------------------------------------------------------------------------- figures
# Figures use the report's style (microcalc.reporting.figures) and are returned as PNG bytes.
def _png(fig) -> bytes:
    from microcalc.reporting.figures import report_style

    buf = io.BytesIO()
    with report_style():
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def _axes_grid(n: int, cols: int, width: float, row_height: float):
    """A figure with a rows x cols grid of axes (unused ones hidden), in the report's style."""
    from matplotlib.figure import Figure

    from microcalc.reporting.figures import report_style

    rows = max(1, int(np.ceil(n / cols)))
    with report_style():
        fig = Figure(figsize=(width, row_height * rows + 0.6), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _error_bars(part: pd.DataFrame) -> np.ndarray:
    """Interval ends as distances from the mean, in percent (a weighted mean may sit outside its interval)."""
    below = (part["mean"] - part["ci_lower"]).clip(lower=0)
    above = (part["ci_upper"] - part["mean"]).clip(lower=0)
    return 100 * np.vstack([below.to_numpy(dtype=float), above.to_numpy(dtype=float)])


def scenario_figure(table: pd.DataFrame, reference: pd.DataFrame) -> bytes:
    """Dot plot: each headline quantity (rows) under each scenario (colours), with 95% intervals."""
    from microcalc.reporting.figures import PUBLISHED, report_style

    quantities = list(dict.fromkeys(table["quantity"]))
    names = list(dict.fromkeys(table["scenario"]))
    ref = reference.set_index("quantity")
    step = 0.8 / max(len(names), 1)
    with report_style():
        fig, (ax,) = _axes_grid(1, 1, 8.5, 0.34 * len(quantities) + 1.2)
        for i, q in enumerate(quantities):
            if q in ref.index and np.isfinite(ref.loc[q, "published_low"]):
                ax.fill_betweenx(
                    [i - 0.42, i + 0.42],
                    100 * ref.loc[q, "published_low"],
                    100 * ref.loc[q, "published_high"],
                    color=PUBLISHED,
                    alpha=0.45,
                    lw=0,
                    zorder=0,
                )
        for j, name in enumerate(names):
            part = table[table["scenario"] == name].set_index("quantity").loc[quantities]
            y = np.arange(len(quantities)) + (j - (len(names) - 1) / 2) * step
            ax.errorbar(
                100 * part["mean"],
                y,
                xerr=_error_bars(part),
                fmt="o",
                ms=3.5,
                lw=1,
                capsize=0,
                label=name,
                color=f"C{j}",
            )
        ax.set_yticks(range(len(quantities)), quantities)
        ax.set_ylim(len(quantities) - 0.5, -0.5)
        ax.set_xlim(0, 100)
        ax.set_xlabel("P(malignant), % — posterior mean and 95% interval; amber band: published range")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="prior file")
        ax.set_title("Headline answers under each prior file")
    return _png(fig)


def power_scaling_figure(elements: pd.DataFrame) -> bytes:
    """Prior vs likelihood sensitivity of every element, coloured by diagnosis, with the 0.05 lines."""
    from microcalc.reporting.figures import report_style

    colours = {CONFLICT: "C3", WEAK: "C1", "fine": "C2"}
    with report_style():
        fig, (ax,) = _axes_grid(1, 1, 7.0, 4.8)
        for diagnosis, part in elements.groupby("diagnosis"):
            ax.scatter(
                part["prior_sensitivity"],
                part["likelihood_sensitivity"],
                s=14,
                alpha=0.8,
                color=colours.get(diagnosis, "C0"),
                label=f"{diagnosis} ({len(part)})",
            )
        for r in elements.nlargest(6, "prior_sensitivity").itertuples():
            ax.annotate(
                r.element,
                (r.prior_sensitivity, r.likelihood_sensitivity),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
        ax.axvline(THRESHOLD, color="0.5", ls=":")
        ax.axhline(THRESHOLD, color="0.5", ls=":")
        ax.set_xlabel("prior sensitivity")
        ax.set_ylabel("likelihood sensitivity")
        ax.legend()
        ax.set_title("Power-scaling sensitivity of every parameter element")
    return _png(fig)


def curves_figure(curves: pd.DataFrame) -> bytes:
    """Posterior mean +/- SD of the most sensitive elements as prior or likelihood is power-scaled."""
    from microcalc.reporting.figures import report_style

    elements = list(dict.fromkeys(curves["element"]))
    with report_style():
        fig, axes = _axes_grid(len(elements), 3, 11, 2.9)
        for ax, element in zip(axes, elements):
            for component, colour in (("prior", "C0"), ("likelihood", "C1")):
                part = curves[(curves["element"] == element) & (curves["component"] == component)]
                ax.plot(part["alpha"], part["mean"], color=colour, label=component)
                ax.fill_between(
                    part["alpha"], part["mean"] - part["sd"], part["mean"] + part["sd"], color=colour, alpha=0.15
                )
                bad = part[part["pareto_k"] >= PARETO_K_MAX]
                ax.scatter(bad["alpha"], bad["mean"], facecolors="none", edgecolors=colour, s=25)
            ax.set_xscale("log")
            ax.set_xticks([0.5, 1, 2], ["0.5", "1", "2"])
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_title(element, fontsize=9)
            ax.set_xlabel("power-scaling α")
        axes[0].legend()
        fig.suptitle("Posterior mean ± SD under power-scaling (open circles: Pareto k ≥ 0.7, unreliable)", fontsize=10)
    return _png(fig)


def data_size_figure(sizes: pd.DataFrame) -> bytes:
    """Selected headline quantities against the share of data seen, one line per prior file."""
    from microcalc.reporting.figures import report_style

    shown = [q for q in DATA_SIZE_FIGURE if q in set(sizes["quantity"])]
    names = list(dict.fromkeys(sizes["scenario"]))
    with report_style():
        fig, axes = _axes_grid(len(shown), 4, 12, 2.7)
        for ax, q in zip(axes, shown):
            for j, name in enumerate(names):
                part = sizes[(sizes["quantity"] == q) & (sizes["scenario"] == name)].sort_values("fraction")
                x = 100 * part["fraction"] * (1 + 0.04 * (j - (len(names) - 1) / 2))
                ax.errorbar(
                    x,
                    100 * part["mean"],
                    yerr=_error_bars(part),
                    fmt="o-",
                    ms=4,
                    lw=1,
                    capsize=2,
                    color=f"C{j}",
                    label=name,
                )
            ax.set_xscale("log")
            ax.set_xticks([10, 30, 100], ["10%", "30%", "100%"])
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_ylim(0, 100)
            ax.set_title(q, fontsize=9)
        axes[0].set_ylabel("P(malignant), %")
        axes[0].legend()
        fig.suptitle("Headline answers by share of training data seen (mean and 95% interval)", fontsize=10)
    return _png(fig)


def figures_of(res: SensitivityResult) -> dict[str, bytes]:
    """Every figure of the page as PNG bytes."""
    figures = {
        "power_scaling": power_scaling_figure(res.elements),
        "curves": curves_figure(res.curves),
        "scenarios": scenario_figure(res.scenario_table, res.reference),
    }
    if len(res.data_size):
        figures["data_size"] = data_size_figure(res.data_size)
    return figures
