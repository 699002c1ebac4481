"""Figures of the posterior report, in one visual style (matplotlib, no pyplot state).

Every function takes plain tables or draws and returns a :class:`matplotlib.figure.Figure`, so the
report, the notebooks and a user's own script draw the same pictures. Probabilities are shown as
percentages, effects as odds ratios: a radiologist reads them without converting logits.

Colours: posterior = dark blue, prior = grey, published range = amber band, observed rate in the
data = red open diamond. Covariates informed by priors alone are drawn in grey.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import NullFormatter, PercentFormatter

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

POSTERIOR = "#1f4e79"
PRIOR = "#8c8c8c"
PUBLISHED = "#f0c36d"
OBSERVED = "#b2182b"
PRIOR_ONLY = "#9a9a9a"
WIDTH = 8.0  # inches; the HTML scales figures to the page width
ROW = 0.30  # inches per row of a forest plot
DATA_COLUMN = 1.33  # x (axes fraction) of the "data" text column right of a forest plot

STYLE: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9.5,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "x",
    "grid.color": "#e3e3e3",
    "grid.linewidth": 0.7,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9.5,
    "ytick.major.size": 0,
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "svg.fonttype": "path",  # glyphs as paths: the SVG looks the same on every machine, fonts or not
    "svg.hashsalt": "microcalc",  # stable element ids, so the same fit gives the same report
}


@contextmanager
def report_style() -> Iterator[None]:
    """Apply the report's matplotlib style inside a ``with`` block."""
    import matplotlib as mpl

    with mpl.rc_context(STYLE):
        yield


def percent(p: float) -> str:
    """A probability as a short percentage: 47%, 4.2%, 0.6%, <0.1%."""
    if not np.isfinite(p):
        return "–"
    x = 100.0 * p
    if x == 0.0:
        return "0%"
    if x < 0.1:
        return "<0.1%"
    if x < 9.95:
        return f"{x:.1f}%"
    return f"{x:.0f}%"


def interval(low: float, high: float) -> str:
    """A credible interval of probabilities as 'low–high'."""
    return f"{percent(low)}–{percent(high)}"


def published_range(low: float, high: float) -> str:
    """A published range as the literature states it: '20–50%'."""
    return f"{100 * low:.0f}–{100 * high:.0f}%"


def to_svg(fig: Figure) -> str:
    """The figure as SVG text (vector: prints sharply; no date stamp, so reports are reproducible)."""
    buf = io.StringIO()
    with report_style():
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buf.getvalue()


def _figure(rows: float, extra: float = 1.3, width: float = WIDTH) -> tuple[Figure, Axes]:
    """A one-axes figure whose height grows with the number of rows."""
    with report_style():
        fig = Figure(figsize=(width, ROW * rows + extra), layout="constrained")
        ax = fig.add_subplot()
    return fig, ax


def _right_text(ax: Axes, y: float, text: str, x: float = 1.02, **kw: Any) -> None:
    """Text in a column right of the axes (x in axes fraction, y in data units)."""
    ax.text(x, y, text, transform=ax.get_yaxis_transform(), va="center", ha="left", fontsize=8.5, **kw)


def level_label(group: str, level: str) -> str:
    """Readable row label: 'fine pleomorphic', 'BI-RADS 4A'."""
    if group == "birads":
        return f"BI-RADS {level}"
    return level.replace("_", " ")


def _probability_forest(
    rows: pd.DataFrame,
    labels: list[str],
    title: str,
    xlabel: str,
    ci: float,
    hollow: np.ndarray,
    no_data: tuple[str, str],
) -> Figure:
    """Rows of P(malignant): published band (when given), interval, mean, raw rate, and the text columns.

    ``hollow`` rows (a new site) get a dashed interval and an open dot; ``no_data`` is the data
    column's (text, colour) for a row without training lesions. Call inside ``report_style()``.
    """
    n = len(rows)
    fig, ax = _figure(n, extra=1.5)
    y = np.arange(n)[::-1]
    banded = "published_low" in rows
    for yi, r, open_ in zip(y, rows.itertuples(), hollow):
        if banded and np.isfinite(r.published_low):
            ax.add_patch(_band(r.published_low, r.published_high, yi))
        ax.plot(
            [r.ci_lower, r.ci_upper],
            [yi, yi],
            color=POSTERIOR,
            lw=2.2,
            solid_capstyle="butt",
            zorder=3,
            ls=(0, (2, 1)) if open_ else "-",
        )
        ax.plot(r.mean, yi, "o", color=POSTERIOR, ms=6, zorder=4, mfc="white" if open_ else POSTERIOR)
        if r.observed_n:
            ax.plot(r.observed_malignant / r.observed_n, yi, "D", mfc="white", mec=OBSERVED, mew=1.4, ms=5.5, zorder=5)
        _right_text(ax, yi, f"{percent(r.mean):>5} ({interval(r.ci_lower, r.ci_upper)})")
        seen, colour = (f"{r.observed_malignant}/{r.observed_n}", OBSERVED) if r.observed_n else no_data
        _right_text(ax, yi, seen, x=DATA_COLUMN, color=colour)
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    _right_text(ax, n - 0.1, f"model ({100 * ci:.0f}% CrI)", color=POSTERIOR, fontweight="bold")
    _right_text(ax, n - 0.1, "data", x=DATA_COLUMN, color=OBSERVED, fontweight="bold")
    return fig


def category_forest(table: pd.DataFrame, title: str, ci: float = 0.95) -> Figure:
    """Posterior P(malignant) per level (dot + interval) over the published range, with the data's rate.

    ``table`` is the slice of :func:`microcalc.reporting.headline.headline_table` for one group.
    """
    rows = table.reset_index(drop=True)
    labels = [level_label(r.group, r.level) for r in rows.itertuples()]
    with report_style():
        fig = _probability_forest(
            rows,
            labels,
            title,
            "probability of malignancy",
            ci,
            hollow=np.zeros(len(rows), dtype=bool),
            no_data=("none", PRIOR),
        )
        fig.legend(handles=_forest_legend(ci), loc="outside lower center", ncol=3)
    return fig


def _band(low: float, high: float, y: float, height: float = 0.62) -> Rectangle:
    """The amber published-range band of one forest row."""
    return Rectangle((low, y - height / 2), high - low, height, color=PUBLISHED, alpha=0.55, lw=0, zorder=1)


def _forest_legend(ci: float) -> list[Artist]:
    """Legend entries shared by the forest plots."""
    return [
        Patch(color=PUBLISHED, alpha=0.55, label="published range"),
        Line2D([], [], color=POSTERIOR, marker="o", lw=2.2, label=f"model: mean and {100 * ci:.0f}% credible interval"),
        Line2D([], [], color=OBSERVED, marker="D", mfc="white", lw=0, label="observed rate in the data"),
    ]


def headline_figure(
    posterior: np.ndarray,
    prior: np.ndarray | None,
    low: float,
    high: float,
    ci: float = 0.95,
    title: str = "Biopsied grouped cluster at a new site",
) -> Figure:
    """Distribution of the headline probability (posterior, and prior if given) over the published range.

    ``title`` names the population the answer is for (the report passes its headline row's label).
    """
    with report_style():
        fig = Figure(figsize=(WIDTH, 2.8), layout="constrained")
        ax = fig.add_subplot()
        ax.axvspan(low, high, color=PUBLISHED, alpha=0.45, lw=0, label=f"published range {published_range(low, high)}")
        bins = np.linspace(0, 1, 51).tolist()  # a list: the stubs of Axes.hist take a sequence, not an array
        peak = 0.0
        if prior is not None:
            heights, _, _ = ax.hist(
                prior,
                bins=bins,
                density=True,
                histtype="stepfilled",
                color=PRIOR,
                alpha=0.35,
                label="before the data (prior)",
            )
            peak = float(np.max(heights))
        heights, _, _ = ax.hist(
            posterior,
            bins=bins,
            density=True,
            histtype="stepfilled",
            color=POSTERIOR,
            alpha=0.75,
            label="after the data (posterior)",
        )
        peak = max(peak, float(np.max(heights)))
        lo, hi = np.quantile(posterior, [(1 - ci) / 2, (1 + ci) / 2])
        top = 1.12 * peak
        ax.plot(
            [lo, hi],
            [top, top],
            color=POSTERIOR,
            lw=2.5,
            solid_capstyle="butt",
            label=f"{100 * ci:.0f}% credible interval {percent(lo)}–{percent(hi)}",
        )
        ax.plot(posterior.mean(), top, "o", color=POSTERIOR, ms=7, label=f"posterior mean {percent(posterior.mean())}")
        ax.set_ylim(0, 1.22 * peak)
        ax.set_xlim(0, 1)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.grid(False)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xlabel("probability of malignancy")
        ax.set_title(title)
        fig.legend(loc="outside right upper")
    return fig


def odds_ratio_forest(table: pd.DataFrame, ci: float = 0.95) -> Figure:
    """Odds ratio (posterior mean of exp(coefficient) and interval) per covariate; prior-only rows grey.

    ``table`` has columns label, odds_ratio, or_lower, or_upper, prior_only.
    """
    rows = table.reset_index(drop=True)
    n = len(rows)
    with report_style():
        fig, ax = _figure(n, extra=1.4)
        y = np.arange(n)[::-1]
        ax.axvline(1.0, color="black", lw=0.8, zorder=2)
        for yi, r in zip(y, rows.itertuples()):
            colour = PRIOR_ONLY if r.prior_only else POSTERIOR
            ax.plot([r.or_lower, r.or_upper], [yi, yi], color=colour, lw=2.2, solid_capstyle="butt", zorder=3)
            ax.plot(r.odds_ratio, yi, "o", color=colour, ms=6, zorder=4, mfc="white" if r.prior_only else colour)
            _right_text(ax, yi, f"{r.odds_ratio:.2f} ({r.or_lower:.2f}–{r.or_upper:.2f})", color=colour)
        ax.set_yticks(y, [r.label + ("  (prior only)" if r.prior_only else "") for r in rows.itertuples()])
        for tick, r in zip(ax.get_yticklabels(), rows.itertuples()):
            tick.set_color(PRIOR_ONLY if r.prior_only else "black")
        ax.set_xscale("log")
        lo = min(rows["or_lower"].min(), 0.5)
        hi = max(rows["or_upper"].max(), 2.0)
        ax.set_xlim(lo / 1.1, hi * 1.1)
        ticks = [t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20) if lo / 1.1 <= t <= hi * 1.1]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_xlabel("odds ratio (log scale; 1 = no effect)")
        ax.set_title("Effect of each covariate")
        _right_text(ax, n - 0.1, f"OR ({100 * ci:.0f}% CrI)", fontweight="bold")
        fig.legend(
            handles=[
                Line2D([], [], color=POSTERIOR, marker="o", lw=2.2, label="estimated from data and prior"),
                Line2D(
                    [],
                    [],
                    color=PRIOR_ONLY,
                    marker="o",
                    mfc="white",
                    lw=2.2,
                    label="informed by the prior alone (not recorded in training data)",
                ),
            ],
            loc="outside lower center",
            ncol=2,
        )
    return fig


def prior_posterior_intervals(table: pd.DataFrame, ci: float = 0.95) -> Figure:
    """Prior interval (grey, above) and posterior interval (blue) per parameter, with the sd ratio.

    ``table`` has columns label, prior_mean, prior_lower, prior_upper, post_mean, post_lower,
    post_upper, sd_ratio (log-odds scale).
    """
    rows = table.reset_index(drop=True)
    n = len(rows)
    with report_style():
        fig, ax = _figure(n * 1.25, extra=1.4)
        y = np.arange(n)[::-1] * 1.25
        ax.axvline(0.0, color="black", lw=0.6, zorder=1)
        for yi, r in zip(y, rows.itertuples()):
            ax.plot(
                [r.prior_lower, r.prior_upper], [yi + 0.18] * 2, color=PRIOR, lw=3.5, alpha=0.7, solid_capstyle="butt"
            )
            ax.plot(r.prior_mean, yi + 0.18, "|", color="black", ms=7)
            ax.plot([r.post_lower, r.post_upper], [yi - 0.18] * 2, color=POSTERIOR, lw=2.2, solid_capstyle="butt")
            ax.plot(r.post_mean, yi - 0.18, "o", color=POSTERIOR, ms=4.5)
            _right_text(ax, yi, f"{r.sd_ratio:.2f}", color=POSTERIOR if r.sd_ratio < 0.9 else PRIOR)
        ax.set_yticks(y, list(rows["label"]))
        top = float(y.max())
        ax.set_ylim(-0.8, top + 0.8)
        ax.set_xlabel("log-odds scale")
        ax.set_title("What the data changed: prior vs posterior")
        _right_text(ax, top + 0.75, "sd ratio", fontweight="bold")
        fig.legend(
            handles=[
                Line2D([], [], color=PRIOR, lw=3.5, alpha=0.7, label=f"prior {100 * ci:.0f}% interval"),
                Line2D([], [], color=POSTERIOR, marker="o", lw=2.2, label=f"posterior {100 * ci:.0f}% interval"),
            ],
            loc="outside lower center",
            ncol=2,
        )
    return fig


def prior_posterior_densities(panels: list[tuple[str, np.ndarray, np.ndarray]], columns: int = 3) -> Figure:
    """Small multiples of prior (grey) and posterior (blue) histograms, one panel per (label, prior, posterior)."""
    nrows = int(np.ceil(len(panels) / columns))
    with report_style():
        fig = Figure(figsize=(WIDTH, 1.9 * nrows + 0.5), layout="constrained")
        axes = fig.subplots(nrows, columns, squeeze=False).ravel()
        for ax, (label, prior, post) in zip(axes, panels):
            lo, hi = np.quantile(np.r_[prior, post], [0.005, 0.995])
            bins = np.linspace(lo, hi, 36)
            ax.hist(prior, bins=bins, density=True, histtype="stepfilled", color=PRIOR, alpha=0.4)
            ax.hist(post, bins=bins, density=True, histtype="stepfilled", color=POSTERIOR, alpha=0.75)
            ax.set_title(label, fontsize=9.5, fontweight="normal")
            ax.set_yticks([])
            ax.spines["left"].set_visible(False)
            ax.grid(False)
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        fig.legend(
            handles=[
                Patch(color=PRIOR, alpha=0.4, label="prior"),
                Patch(color=POSTERIOR, alpha=0.75, label="posterior"),
            ],
            loc="outside lower center",
            ncol=2,
        )
    return fig


def site_forest(table: pd.DataFrame, ci: float = 0.95) -> Figure:
    """P(malignant) of the biopsied grouped cluster at each training site and at a new site.

    ``table`` has columns site, mean, ci_lower, ci_upper, observed_n, observed_malignant.
    """
    rows = table.reset_index(drop=True)
    new = (rows["site"] == "new site").to_numpy()
    labels = [r.site if is_new else f"site {r.site}" for r, is_new in zip(rows.itertuples(), new)]
    with report_style():
        fig = _probability_forest(
            rows,
            labels,
            "Variation between sites",
            "probability of malignancy, biopsied grouped cluster",
            ci,
            hollow=new,
            no_data=("–", OBSERVED),
        )
        fig.legend(handles=_forest_legend(ci)[1:], loc="outside lower center", ncol=2)
    return fig
