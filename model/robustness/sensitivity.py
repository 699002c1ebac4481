"""``microcalc sensitivity FIT.nc --out DIR``: how much do the answers depend on the priors?

Three views, written as CSV files and one self-contained page, ``DIR/sensitivity.html``:

1. **Power-scaling** (:mod:`microcalc.robustness.power_scaling`): prior and likelihood sensitivity of every
   parameter group and of every headline quantity -> ``sensitivity.csv`` (one row per group),
   ``sensitivity_elements.csv`` (every element), ``sensitivity_quantities.csv``.
2. **Literature scenarios** (:mod:`microcalc.robustness.scenarios`): the headline answers under each prior file
   in ``priors/`` and any ``--scenarios`` file, by PSIS reweighting or a refit -> ``scenarios.csv``.
3. **Data size**: the headline answers when the model sees 10%, 30% and 100% of the training lesions,
   under the fit's priors and under vague priors -> ``data_size.csv``. Where the two agree the data
   speak; where they part, the priors do.

Refits are small on purpose (:class:`~microcalc.robustness.scenarios.RefitSettings`: 2 chains x 1000 draws);
the whole command takes a few minutes on the bundled data.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from microcalc import DISCLAIMER
from microcalc.io.atomic import write_atomic, write_text_atomic
from microcalc.reporting.headline import headline_draws, table_from_draws
from microcalc.robustness.power_scaling import (
    CONFLICT,
    THRESHOLD,
    WEAK,
    element_sensitivity,
    group_sensitivity,
    most_sensitive,
    power_scaling_curve,
    quantity_sensitivity,
)
from microcalc.robustness.scenarios import (
    PARETO_K_MAX,
    RefitSettings,
    Reweighter,
    Scenario,
    ScenarioResult,
    load_scenarios,
    quantity_name,
    rebuild_problem,
    refit_headline,
    refit_note,
    scenario_result,
    scenario_results,
    scenarios_frame,
    training_frame,
)

# Quantities drawn in the data-size figure (all are in data_size.csv).
DATA_SIZE_FIGURE = (
    "biopsied grouped cluster, new site",
    "morphology: amorphous",
    "morphology: fine_pleomorphic",
    "morphology: punctate",
    "distribution: grouped",
    "birads: 3",
    "birads: 4",
    "birads: 5",
)


@dataclass(frozen=True)
class SensitivitySettings:
    """What the sensitivity command computes and how hard it tries."""

    refit: RefitSettings | None = field(default_factory=RefitSettings)  # None: no refits (PSIS only, flagged)
    fractions: tuple[float, ...] = (0.1, 0.3, 1.0)  # shares of the training lesions for the data-size view
    data_size_scenarios: tuple[str, ...] = ("vague",)  # compared with the fit's own priors at each size
    curves: int = 6  # power-scaling curves drawn for this many of the most sensitive elements
    seed: int = 1  # subsampling order of the data-size view


@dataclass
class SensitivityResult:
    """Everything the command computed, as tables (the files are written from these)."""

    groups: pd.DataFrame
    elements: pd.DataFrame
    quantities: pd.DataFrame
    curves: pd.DataFrame
    scenarios: list[ScenarioResult]
    scenario_table: pd.DataFrame
    data_size: pd.DataFrame
    baseline: str
    notes: list[str]
    descriptions: dict[str, str]
    reference: pd.DataFrame  # quantity, published_low, published_high, observed_n (figure and reading)


# --------------------------------------------------------------------------------------------- compute
def baseline_result(
    rw: Reweighter, scenarios: list[Scenario], results: list[ScenarioResult], frame, settings, say
) -> tuple[str, list[Scenario], list[ScenarioResult]]:
    """Name of the scenario equal to the fit's priors; adds one if no prior file matches the fit's."""
    same = [r.scenario for r in results if r.method == "psis (identical priors)"]
    if same:
        return same[0], scenarios, results
    own = Scenario(f"{rw.fit.priors.name} (fit)", rw.fit.priors)
    first = scenario_result(rw, own, frame, settings.refit, say)
    return own.name, [own, *scenarios], [first, *results]


def subsample(frame: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """The first ``fraction`` of the lesions in one fixed random order (so 10% lies inside 30%)."""
    order = np.random.default_rng(seed).permutation(len(frame))
    return frame.iloc[np.sort(order[: max(1, round(fraction * len(frame)))])].reset_index(drop=True)


def data_size_view(
    fit,
    frame: pd.DataFrame,
    scenarios: list[Scenario],
    full: list[ScenarioResult],
    baseline: str,
    settings: SensitivitySettings,
    say=print,
) -> pd.DataFrame:
    """Headline answers under the fit's priors and the compared scenarios at each data fraction."""
    refit = settings.refit
    if refit is None:
        raise ValueError("the data-size view refits the model: settings.refit must not be None")
    compare = [s for s in scenarios if s.name in settings.data_size_scenarios and s.name != baseline]
    keep = {baseline, *(s.name for s in compare)}
    parts = []
    for fraction in sorted(settings.fractions):
        if fraction >= 1.0:
            sub = frame
            results = [
                replace(r, method="the fit itself") if r.scenario == baseline else r for r in full if r.scenario in keep
            ]
        else:
            sub = subsample(frame, fraction, settings.seed)
            say(f"  {fraction:.0%} of the data ({len(sub)} lesions): refitting with the fit's priors ({refit.text()})")
            table, sub_fit = refit_headline(sub, fit.priors, fit.donors, refit)
            results = [
                ScenarioResult(
                    baseline,
                    table,
                    f"refit, {refit_note(sub_fit, refit)}",
                    float("nan"),
                    float(sub_fit.convergence.min_ess_bulk),
                )
            ]
            results += scenario_results(
                Reweighter.of(sub_fit, sub, donors=fit.donors), compare, sub, refit=refit, say=say
            )
        part = scenarios_frame(results)
        part.insert(0, "malignant", int(sub["malignant"].sum()))
        part.insert(0, "lesions", len(sub))
        part.insert(0, "fraction", fraction)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def compute_sensitivity(
    fit, extra_scenarios=None, say=print, settings: SensitivitySettings = SensitivitySettings()
) -> SensitivityResult:
    """All three views for a fit (no files written)."""
    scenarios = load_scenarios(extra_scenarios)  # a bad prior file stops the command before any work
    notes = []
    frame = training_frame(fit.donors)
    problem = rebuild_problem(fit, frame)
    if problem:
        notes.append(
            f"The training data could not be rebuilt from the fit file ({problem}): no refits and "
            "no data-size view; scenarios with Pareto k >= 0.7 are marked UNRELIABLE."
        )
        say("  " + notes[-1])
        frame = None

    if settings.refit is None:
        notes.append(
            "Refits were switched off: scenarios with Pareto k >= 0.7 are marked UNRELIABLE and "
            "there is no data-size view."
        )
    say("Power-scaling sensitivity (prior and likelihood raised to 0.99 and 1.01)")
    elements = element_sensitivity(fit.idata)
    keys, draws = headline_draws(fit.params(), fit.priors, fit.sites, fit.donors)
    names = [quantity_name(*k) for k in keys]
    quantities = quantity_sensitivity(fit.idata, names, draws)
    curves = pd.concat(
        [power_scaling_curve(fit.idata, e) for e in most_sensitive(elements, settings.curves)], ignore_index=True
    )

    say("Literature scenarios (PSIS reweighting where Pareto k < 0.7, else a refit)")
    rw = Reweighter.of(fit, frame)
    results = scenario_results(rw, scenarios, frame, refit=settings.refit, say=say)
    baseline, scenarios, results = baseline_result(rw, scenarios, results, frame, settings, say)

    if frame is not None and settings.refit is not None and settings.fractions:
        say("Data-size view")
        sizes = data_size_view(fit, frame, scenarios, results, baseline, settings, say)
    else:
        sizes = pd.DataFrame(
            columns=[
                "fraction",
                "lesions",
                "malignant",
                "scenario",
                "quantity",
                "mean",
                "ci_lower",
                "ci_upper",
                "method",
            ]
        )
    table = table_from_draws(keys, draws, fit.donors)
    reference = pd.DataFrame(
        {
            "quantity": names,
            "published_low": table["published_low"],
            "published_high": table["published_high"],
            "observed_n": table["observed_n"],
        }
    )
    return SensitivityResult(
        groups=group_sensitivity(elements),
        elements=elements,
        quantities=quantities,
        curves=curves,
        scenarios=results,
        scenario_table=scenarios_frame(results),
        data_size=sizes,
        baseline=baseline,
        notes=notes,
        descriptions={s.name: s.priors.description for s in scenarios},
        reference=reference,
    )


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


# --------------------------------------------------------------------------------------------- reading
def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def spread_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per quantity: lowest and highest scenario mean and the spread between them (largest first)."""
    rows = []
    for q, part in table.groupby("quantity", sort=False):
        lo, hi = part.loc[part["mean"].idxmin()], part.loc[part["mean"].idxmax()]
        rows.append(
            {
                "quantity": q,
                "lowest": f"{_pct(lo['mean'])} ({lo['scenario']})",
                "highest": f"{_pct(hi['mean'])} ({hi['scenario']})",
                "spread": hi["mean"] - lo["mean"],
            }
        )
    return pd.DataFrame(rows).sort_values("spread", ascending=False, kind="stable")


def reading(res: SensitivityResult) -> list[str]:
    """A short plain-language reading of the numbers (paragraphs of text)."""
    out = []
    g = res.groups
    conflict = g.loc[g["diagnosis"] == CONFLICT, "parameter"].tolist()
    weak = g.loc[g["diagnosis"] == WEAK, "parameter"].tolist()
    out.append(
        f"Power-scaling: of {len(g)} parameter groups, {len(conflict)} show a potential prior–data conflict "
        f"(prior and data both move the posterior: {', '.join(conflict) or 'none'}), {len(weak)} rest mainly "
        f"on the prior ({', '.join(weak) or 'none'}), and {len(g) - len(conflict) - len(weak)} are fine. "
        "Covariates that no training lesion records are informed by their priors alone by design."
    )
    q = res.quantities
    head = q.iloc[0]
    out.append(
        f"For the headline answer ({head['quantity']}) prior sensitivity is {head['prior_sensitivity']:.3f} and "
        f"likelihood sensitivity {head['likelihood_sensitivity']:.3f} ({head['diagnosis']}); "
        f"{int((q['diagnosis'] != 'fine').sum())} of {len(q)} headline quantities are flagged."
    )
    t = res.scenario_table
    spread = spread_table(t)
    first = t["quantity"].iloc[0]
    base = t[(t["scenario"] == res.baseline) & (t["quantity"] == first)].iloc[0]
    row = spread[spread["quantity"] == first].iloc[0]
    how = {
        f"obtained by importance reweighting (Pareto k < {PARETO_K_MAX})": [
            r.scenario for r in res.scenarios if r.method.startswith("psis") and "UNRELIABLE" not in r.method
        ],
        f"refitted because the Pareto k was ≥ {PARETO_K_MAX}": [
            r.scenario for r in res.scenarios if r.method.startswith("refit")
        ],
        f"UNRELIABLE (Pareto k ≥ {PARETO_K_MAX}, no refit)": [
            r.scenario for r in res.scenarios if "UNRELIABLE" in r.method
        ],
    }
    out.append(
        f"Scenarios: the {first} rate is {_pct(base['mean'])} under the fit's priors ({res.baseline}); across "
        f"{t['scenario'].nunique()} prior files it ranges from {row['lowest']} to {row['highest']}. The answers "
        f"that move most are "
        + "; ".join(f"{r.quantity} ({r.lowest} to {r.highest})" for r in spread.head(3).itertuples())
        + ". Prior files "
        + "; ".join(f"{label}: {', '.join(names)}" for label, names in how.items() if names)
        + "."
    )
    if len(res.data_size) and res.data_size["scenario"].nunique() > 1:
        out.append(data_size_reading(res.data_size, res.baseline, res.reference))
    return out


def prior_gap(sizes: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Per fraction and quantity: mean absolute difference between the baseline and the other prior files."""
    wide = sizes.pivot_table(index=["fraction", "quantity"], columns="scenario", values="mean")
    others = [c for c in wide.columns if c != baseline]
    return wide[others].sub(wide[baseline], axis=0).abs().mean(axis=1).rename("gap").reset_index()


def data_size_reading(sizes: pd.DataFrame, baseline: str, reference: pd.DataFrame) -> str:
    """Plain-language summary of how the gap between prior files changes with the data seen."""
    gap = prior_gap(sizes, baseline).merge(reference[["quantity", "observed_n"]], on="quantity")
    lo, hi = gap["fraction"].min(), gap["fraction"].max()
    others = ", ".join(sorted(set(sizes["scenario"]) - {baseline}))
    sentences = []
    for label, part in (
        ("findings the training data contain", gap[gap["observed_n"] > 0]),
        ("findings absent from the data (prior only)", gap[gap["observed_n"] == 0]),
    ):
        if part.empty:
            continue
        n = part["quantity"].nunique()
        a = 100 * part.loc[part["fraction"] == lo, "gap"].mean()
        b = 100 * part.loc[part["fraction"] == hi, "gap"].mean()
        trend = "shrinks" if b < 0.75 * a else "grows" if b > 1.25 * a else "stays about the same"
        sentences.append(
            f"for the {n} {label} the mean gap is {a:.1f} points with {lo:.0%} of the data and "
            f"{b:.1f} points with {hi:.0%} ({trend})"
        )
    head = sizes[sizes["quantity"] == sizes["quantity"].iloc[0]]
    width = head.assign(w=head["ci_upper"] - head["ci_lower"]).groupby("fraction")["w"].mean()
    return (
        f"Data size ({baseline} vs {others}): " + "; ".join(sentences) + ". The 95% interval of the "
        f"{head['quantity'].iloc[0]} is "
        + ", ".join(f"{100 * w:.0f} points wide at {f:.0%}" for f, w in width.items())
        + " of the data."
    )


# --------------------------------------------------------------------------------------------- page
def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(df: pd.DataFrame, percent: tuple[str, ...] = ()) -> str:
    shown = df.copy()
    for c in percent:
        shown[c] = shown[c].map(_pct)
    return shown.to_html(index=False, escape=True, border=0, float_format=lambda x: f"{x:.3f}")


def sensitivity_html(res: SensitivityResult, figures: dict[str, bytes], settings: SensitivitySettings) -> str:
    """The self-contained sensitivity page (figures inline as base64 PNG; no network)."""
    methods = pd.DataFrame(
        [
            {
                "scenario": r.scenario,
                "method": r.method,
                "effective draws": round(r.ess),
                "description": res.descriptions.get(r.scenario, ""),
            }
            for r in res.scenarios
        ]
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>microcalc: prior sensitivity</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}"
        "table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0 1.5em}td,th{padding:2px 8px;"
        "border-bottom:1px solid #ddd;text-align:left}img{max-width:100%}.warn{background:#fff3cd;padding:0.6em;"
        "border-left:4px solid #e0a800}</style></head><body>",
        "<h1>How much do the answers depend on the priors?</h1>",
        f"<p class='warn'><strong>{html.escape(DISCLAIMER)}</strong></p>",
        "<h2>Reading</h2>",
        *(f"<p>{html.escape(p)}</p>" for p in reading(res)),
        *(f"<p class='warn'>{html.escape(n)}</p>" for n in res.notes),
        "<h2>1. Power-scaling sensitivity</h2>",
        "<p>The prior (or the likelihood) is raised to a power α near 1 and the change of each posterior is "
        "measured without refitting (Kallioinen et al. 2023; arviz-stats <code>psense</code>, α = 0.99 and 1.01, "
        f"all priors scaled together). Threshold {THRESHOLD}: both sensitivities above it = potential "
        "prior–data conflict; only the prior = weak likelihood (the answer rests on the prior). Each group row "
        "shows its most serious element (<code>sensitivity_elements.csv</code> has every element).</p>",
        _table(res.groups),
        _img(figures["power_scaling"], "power-scaling scatter"),
        "<h3>Headline quantities</h3>",
        _table(res.quantities),
        "<h3>Power-scaling curves of the most sensitive elements</h3>",
        _img(figures["curves"], "power-scaling curves"),
        "<h2>2. Literature scenarios</h2>",
        "<p>Each prior file is compared with the fit's by Pareto-smoothed importance sampling of the fit's "
        f"draws (weights = scenario prior / fit prior); where the Pareto k is ≥ {PARETO_K_MAX} the weights "
        "cannot be trusted and the model is refitted with that prior file "
        + (
            f"({settings.refit.text()}, {settings.refit.tune} tuning steps per chain)."
            if settings.refit
            else "(refits were switched off for this run: such rows are marked UNRELIABLE)."
        )
        + "</p>",
        _table(methods),
        _img(figures["scenarios"], "headline quantities across scenarios"),
        "<h3>Which answers move most</h3>",
        _table(spread_table(res.scenario_table), ("spread",)),
        "<h2>3. Data size</h2>",
    ]
    if len(res.data_size):
        first = res.data_size["quantity"].iloc[0]
        shown = res.data_size[res.data_size["quantity"].isin(DATA_SIZE_FIGURE)]
        parts += [
            f"<p>The model refitted on nested random subsets of the training lesions (seed {settings.seed}); "
            f"headline quantities are defined on the full training table throughout. All quantities: "
            f"<code>data_size.csv</code>. The {html.escape(first)} and other selected answers:</p>",
            _img(figures["data_size"], "headline quantities by data size"),
            _table(shown.drop(columns=["method"]), ("mean", "ci_lower", "ci_upper")),
        ]
    else:
        parts.append("<p>Not computed (see the note above).</p>")
    parts += [
        "<h2>Files</h2><ul>" + "".join(f"<li><code>{n}</code></li>" for n in OUTPUT_FILES) + "</ul>",
        f"<p><em>{html.escape(DISCLAIMER)}</em></p></body></html>",
    ]
    return "\n".join(parts)


OUTPUT_FILES = (
    "sensitivity.csv",
    "sensitivity_elements.csv",
    "sensitivity_quantities.csv",
    "scenarios.csv",
    "data_size.csv",
    "power_scaling.png",
    "curves.png",
    "scenarios.png",
    "data_size.png",
    "sensitivity_summary.json",
    "sensitivity.html",
)


# --------------------------------------------------------------------------------------------- command
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


def _csv_writer(table: pd.DataFrame) -> Callable[[Path], object]:
    return lambda path: table.to_csv(path, index=False)


def _bytes_writer(data: bytes) -> Callable[[Path], object]:
    return lambda path: path.write_bytes(data)


def write_sensitivity(
    res: SensitivityResult, out_dir: str | Path, settings: SensitivitySettings = SensitivitySettings()
) -> list[Path]:
    """Write the CSV files, the figures (PNG) and sensitivity.html; returns the paths written."""
    out = Path(out_dir)
    tables = {
        "sensitivity.csv": res.groups[
            ["parameter", "prior_sensitivity", "likelihood_sensitivity", "diagnosis", "element", "flagged"]
        ],
        "sensitivity_elements.csv": res.elements,
        "sensitivity_quantities.csv": res.quantities,
        "scenarios.csv": res.scenario_table,
        "data_size.csv": res.data_size,
    }
    paths = [write_atomic(out / name, _csv_writer(t)) for name, t in tables.items()]
    figures = figures_of(res)
    paths += [write_atomic(out / f"{name}.png", _bytes_writer(b)) for name, b in figures.items()]
    paths.append(write_text_atomic(out / "sensitivity_summary.json", json.dumps(summary(res), indent=1)))
    paths.append(write_text_atomic(out / "sensitivity.html", sensitivity_html(res, figures, settings)))
    return paths


def summary(res: SensitivityResult) -> dict:
    """Short machine-readable findings (for the report): the reading, diagnoses and the headline's range."""
    head = res.scenario_table[res.scenario_table["quantity"] == res.scenario_table["quantity"].iloc[0]]
    return {
        "reading": reading(res),
        "baseline": res.baseline,
        "diagnosis_by_group": dict(zip(res.groups["parameter"], res.groups["diagnosis"])),
        "headline_quantity": str(head["quantity"].iloc[0]),
        "headline_by_scenario": {
            r.scenario: {"mean": r.mean, "ci_lower": r.ci_lower, "ci_upper": r.ci_upper, "method": r.method}
            for r in head.itertuples()
        },
        "disclaimer": DISCLAIMER,
    }


def run_sensitivity(
    fit,
    out_dir: str | Path,
    extra_scenarios: list[str | Path] | None = None,
    say=print,
    settings: SensitivitySettings = SensitivitySettings(),
) -> list[Path]:
    """The ``microcalc sensitivity`` command: compute all three views and write them to ``out_dir``."""
    res = compute_sensitivity(fit, extra_scenarios, say=say, settings=settings)
    paths = write_sensitivity(res, out_dir, settings)
    for paragraph in reading(res):
        say(paragraph)
    say(DISCLAIMER)
    return paths
