"""Literature scenarios: the headline answers under alternative prior files, without refitting where possible.

For each scenario prior file the fit's posterior draws are reweighted by the ratio of the scenario's
prior density to the fit's prior density, with Pareto-smoothed importance sampling (PSIS, Vehtari
et al. 2024). The Pareto k-hat of the weights says whether that is reliable; where k >= 0.7 the
model is refitted with the scenario's priors on the training data rebuilt from the fit file.

This module chooses between the two per scenario and tables the answers. The parts live beside it:
:mod:`~microcalc.robustness.scenario_files` (loading the prior files, whether their designs agree),
:mod:`~microcalc.robustness.rebuilt` (the training lesions rebuilt from the fit file),
:mod:`~microcalc.robustness.log_prior` (the densities compared, and on which parameter space),
:mod:`~microcalc.robustness.psis` (the weights and weighted answers) and
:mod:`~microcalc.robustness.refits` (refits); their public names are importable from here too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from microcalc.io.errors import LesionInputError
from microcalc.robustness.log_prior import (
    SCALE,
    SCALE_SEED,
    free_values,
    likelihood_elements,
    log_prior,
    scenario_params,
    with_scale,
)
from microcalc.robustness.psis import (
    IDENTICAL_LOG_RATIO,
    PARETO_K_MAX,
    Reweighter,
    effective_sample_size,
    headline_keys_table,
    psis_weights,
    weighted_summary,
)
from microcalc.robustness.rebuilt import REBUILT_COLUMNS, rebuild_problem, training_frame
from microcalc.robustness.refits import RefitSettings, refit_headline, refit_note
from microcalc.robustness.scenario_files import CI, DESCRIPTORS, Scenario, design_difference, load_scenarios

__all__ = [
    "CI",
    "DEFAULT_REFIT",
    "DESCRIPTORS",
    "IDENTICAL_LOG_RATIO",
    "PARETO_K_MAX",
    "REBUILT_COLUMNS",
    "SCALE",
    "SCALE_SEED",
    "RefitSettings",
    "Reweighter",
    "Scenario",
    "ScenarioResult",
    "design_difference",
    "effective_sample_size",
    "free_values",
    "headline_keys_table",
    "likelihood_elements",
    "load_scenarios",
    "log_prior",
    "psis_weights",
    "quantity_name",
    "rebuild_problem",
    "refit_headline",
    "refit_note",
    "scenario_params",
    "scenario_result",
    "scenario_results",
    "scenarios_frame",
    "training_frame",
    "weighted_summary",
    "with_scale",
]

DEFAULT_REFIT = RefitSettings()  # the refits of scenario_results unless told otherwise (frozen, so shared)


@dataclass(frozen=True)
class ScenarioResult:
    """Headline table of one scenario and how it was obtained."""

    scenario: str
    table: pd.DataFrame  # headline_table columns: group, level, mean, ci_lower, ci_upper, published ...
    method: str  # e.g. "psis (k=0.43)" or "refit (k=1.20), 2x1000 draws"
    pareto_k: float  # nan when the priors are identical to the fit's
    ess: float  # effective sample size of the weighted (or refitted) draws


def scenario_result(
    rw: Reweighter, sc: Scenario, frame: pd.DataFrame | None, refit: RefitSettings | None, say=print
) -> ScenarioResult:
    """One scenario's headline answers: PSIS where k < 0.7, else a refit.

    Without training data (``frame`` None) or with refits switched off (``refit`` None) a large k
    is reported as it is, with the method marked UNRELIABLE.

    References
    ----------
    Vehtari A, Simpson D, Gelman A, Yao Y, Gabry J. Pareto smoothed importance sampling. Journal of
    Machine Learning Research 25, 1-58 (2024).
    """
    reason = design_difference(rw.fit.priors, sc.priors)
    w, k = rw.weights(sc.priors) if reason is None else (None, float("inf"))
    no_refit = (
        "training data not in the fit file" if frame is None else "refits switched off" if refit is None else None
    )
    if w is not None and (np.isnan(k) or k < PARETO_K_MAX or no_refit):
        method = "psis (identical priors)" if np.isnan(k) else f"psis (k={k:.2f})"
        if k >= PARETO_K_MAX:
            method = f"psis (k={k:.2f}; UNRELIABLE: {no_refit})"
        return ScenarioResult(sc.name, rw.headline(sc.priors, w), method, k, effective_sample_size(w))
    if no_refit:
        raise LesionInputError(
            sc.priors.path,
            f"this prior file encodes lesions differently ({reason}), so "
            f"it needs a refit, which is not possible here ({no_refit})",
        )
    assert frame is not None and refit is not None  # else no_refit is set and the branch above raised
    why = f"k={k:.2f}" if reason is None else reason
    say(f"  {sc.name}: Pareto k too large ({why}); refitting ({refit.text()})")
    table, new = refit_headline(frame, sc.priors, rw.donors, refit)
    return ScenarioResult(
        sc.name, table, f"refit ({why}), {refit_note(new, refit)}", k, float(new.convergence.min_ess_bulk)
    )


def scenario_results(
    rw: Reweighter,
    scenarios: list[Scenario],
    frame: pd.DataFrame | None,
    *,
    refit: RefitSettings | None = DEFAULT_REFIT,
    say=print,
) -> list[ScenarioResult]:
    """Headline answers per scenario: PSIS reweighting of ``rw``'s fit where k < 0.7, else a refit.

    ``frame`` is the training data (None: refits impossible, PSIS is reported whatever k is, flagged;
    likewise with ``refit`` None).
    """
    results = []
    for sc in scenarios:
        results.append(scenario_result(rw, sc, frame, refit, say))
        say(f"  {sc.name}: {results[-1].method}")
    return results


def scenarios_frame(results: list[ScenarioResult]) -> pd.DataFrame:
    """The scenarios.csv table: scenario, quantity, mean, ci_lower, ci_upper, method."""
    rows = []
    for r in results:
        for t in r.table.itertuples():
            rows.append(
                {
                    "scenario": r.scenario,
                    "quantity": quantity_name(t.group, t.level),
                    "mean": t.mean,
                    "ci_lower": t.ci_lower,
                    "ci_upper": t.ci_upper,
                    "method": r.method,
                }
            )
    return pd.DataFrame(rows, columns=["scenario", "quantity", "mean", "ci_lower", "ci_upper", "method"])


def quantity_name(group: str, level: str) -> str:
    """'morphology: amorphous'; the headline keeps its own words."""
    return level if group == "headline" else f"{group}: {level}"
