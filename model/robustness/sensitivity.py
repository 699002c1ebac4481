"""``microcalc sensitivity FIT.nc --out DIR``: how much the answers depend on the priors.

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

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from microcalc import DISCLAIMER
from microcalc.io.atomic import write_atomic, write_text_atomic
from microcalc.reporting.headline import headline_draws, table_from_draws
from microcalc.robustness.conflicts import conflict_table
from microcalc.robustness.power_scaling import (
    element_sensitivity,
    group_sensitivity,
    most_sensitive,
    power_scaling_curve,
    quantity_sensitivity,
)
from microcalc.robustness.scenarios import (
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
from microcalc.robustness.sensitivity_figures import figures_of
from microcalc.robustness.sensitivity_page import OUTPUT_FILES, reading, sensitivity_html, spread_table
from microcalc.robustness.sensitivity_result import DATA_SIZE_FIGURE, SensitivityResult, SensitivitySettings
from microcalc.synthesis.evidence import level_evidence

__all__ = [
    "DATA_SIZE_FIGURE",
    "OUTPUT_FILES",
    "SensitivityResult",
    "SensitivitySettings",
    "compute_sensitivity",
    "figures_of",
    "reading",
    "run_sensitivity",
    "sensitivity_html",
    "spread_table",
    "summary",
    "write_sensitivity",
]


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
    groups = group_sensitivity(elements)
    evidence = level_evidence(fit.donors)
    return SensitivityResult(
        groups=groups,
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
        conflicts=conflict_table(groups, fit, evidence),
        evidence=evidence,
    )


# --------------------------------------------------------------------------------------------- command
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
    if res.conflicts is not None:
        tables["conflicts.csv"] = res.conflicts
    if res.evidence is not None:
        tables["literature_evidence.csv"] = res.evidence
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
