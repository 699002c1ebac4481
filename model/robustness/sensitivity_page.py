"""The sensitivity page in words and HTML.

The plain-language reading of the numbers and the self-contained ``sensitivity.html`` (figures inline).
"""

from __future__ import annotations

import base64
import html

import pandas as pd

from microcalc import DISCLAIMER
from microcalc.reporting.evidence import EVIDENCE_NOTE, evidence_html
from microcalc.reporting.markup import estimate
from microcalc.robustness.conflicts import conflict_reading, explanations
from microcalc.robustness.power_scaling import CONFLICT, THRESHOLD, WEAK
from microcalc.robustness.scenarios import PARETO_K_MAX
from microcalc.robustness.sensitivity_result import DATA_SIZE_FIGURE, SensitivityResult, SensitivitySettings
from microcalc.synthesis.evidence import conflict_sentence


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
    if res.conflicts is not None:
        out.append(conflict_reading(res.conflicts))
        out += explanations(res.conflicts)
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
        *_conflict_parts(res),
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
    "conflicts.csv",
    "literature_evidence.csv",
    "power_scaling.png",
    "curves.png",
    "scenarios.png",
    "data_size.png",
    "sensitivity_summary.json",
    "sensitivity.html",
)


def _conflict_parts(res: SensitivityResult) -> list[str]:
    """The page's account of each flagged group and of the literature levels beside the training counts."""
    if res.conflicts is None:
        return []
    parts = [
        "<h3>Why each flagged group conflicts</h3>",
        f"<p>{html.escape(conflict_reading(res.conflicts))} Prior and posterior: mean and 90% interval of the "
        "group's most sensitive element; shift: posterior minus prior mean in prior SDs; literature: the published "
        "levels that inform the element (ESS in lesions, prior predictive p of the training count).</p>",
    ]
    if len(res.conflicts):
        shown = pd.DataFrame(
            {
                "element": res.conflicts["element"],
                "prior (90%)": [
                    estimate(r.prior_mean, r.prior_lower, r.prior_upper) for r in res.conflicts.itertuples()
                ],
                "posterior (90%)": [
                    estimate(r.post_mean, r.post_lower, r.post_upper) for r in res.conflicts.itertuples()
                ],
                "shift (prior SDs)": [f"{v:+.1f}" for v in res.conflicts["shift_sd"]],
                "literature": res.conflicts["literature"],
            }
        )
        parts.append(_table(shown))
        parts.append(
            "<ul>"
            + "".join(
                f"<li><strong>{html.escape(r.parameter)}</strong>: {html.escape(r.why)}</li>"
                for r in res.conflicts.itertuples()
            )
            + "</ul>"
        )
    if res.evidence is not None and len(res.evidence):
        parts += [
            "<h3>The published rates beside the training data</h3>",
            f"<p>{html.escape(conflict_sentence(res.evidence))}</p>",
            f"<p>{html.escape(EVIDENCE_NOTE)}</p>",
            evidence_html(res.evidence),
        ]
    return parts
