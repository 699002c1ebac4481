"""Grouped cross-validation and PSIS-LOO: ``microcalc crossval DATA --by case|site --out DIR``.

Folds are grouped so that nothing about a held-out lesion leaks into training:

* ``by="case"``: K folds of women (``patient_id``; a lesion without one is its own group), so no
  woman has lesions in two folds;
* ``by="site"``: leave one site (institution) out, so every prediction is a transport to a new
  institution, integrated over the site random effect.

On the same folds it compares (see :data:`VARIANTS`): this model with the literature priors; the same
fit with BI-RADS left blank at prediction (the issue-4 target); the same model with vague priors;
the model fitted and scored without BI-RADS ("descriptors only", the reference a blank BI-RADS must
match); a BI-RADS-only model (every other input blanked, site kept); and the training base rate.
Metrics are computed on the pooled out-of-fold predictions (definitions in :mod:`microcalc.checks.metrics`);
fold-to-fold SDs and the paired per-lesion log-loss difference from the literature model
(``delta_log_loss`` +- ``delta_se``) are given beside them.

PSIS-LOO (``arviz_stats.loo``) is computed per *lesion* (Bernoulli log-likelihood from the posterior
draws; the fit's own log_likelihood group is per covariate pattern, which would leave out whole
patterns) for each fitted variant on all the data, with Pareto-k diagnostics.

The base rate is one number per fold, so its pooled AUC and calibration slope only reflect
differences between the folds' training rates; read its log loss and Brier score.

Files written (:data:`CROSSVAL_FILES`): crossval.csv (one row per variant), crossval_folds.csv (per
fold and variant), crossval_fits.csv (convergence of every fit), crossval_predictions.csv
(out-of-fold p per lesion and variant), crossval.png (log loss and AUC per variant with fold
points), crossval_reliability.png (pooled out-of-fold reliability of the literature model),
loo.csv, crossval_settings.json.

This module runs it; the parts live beside it (:mod:`~microcalc.checks.folds`,
:mod:`~microcalc.checks.fold_scoring`, :mod:`~microcalc.checks.loo` and
:mod:`~microcalc.checks.crossval_summary`), and their public names are importable from here too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from microcalc import DISCLAIMER
from microcalc.checks.crossval_summary import CROSSVAL_FILES, TARGETS, plot_comparison, pooled_table, write_tables
from microcalc.checks.evaluation import plot_reliability, save_figure, write_csv, write_json
from microcalc.checks.fold_scoring import Scored, base_rate_draws, fit_variant, score_fold
from microcalc.checks.folds import BIRADS_ONLY_BLANKS, VARIANTS, Variant, blank, case_folds, site_folds, vague_priors
from microcalc.checks.loo import LOO_PARETO_K, lesion_log_likelihood, lesion_loo, loo_table
from microcalc.io.errors import LesionInputError
from microcalc.priors import PriorSet, load_priors

__all__ = [
    "BIRADS_ONLY_BLANKS",
    "CROSSVAL_FILES",
    "LOO_PARETO_K",
    "TARGETS",
    "VARIANTS",
    "Scored",
    "Variant",
    "base_rate_draws",
    "blank",
    "case_folds",
    "fit_variant",
    "lesion_log_likelihood",
    "lesion_loo",
    "loo_table",
    "plot_comparison",
    "pooled_table",
    "run_crossval",
    "score_fold",
    "site_folds",
    "vague_priors",
]


def run_crossval(
    frame: pd.DataFrame,
    out_dir: str | Path,
    by: str = "case",
    folds: int = 5,
    draws: int = 500,
    seed: int = 1,
    say: Callable[[str], None] = print,
    *,
    tune: int | None = None,
    chains: int = 4,
    variants: tuple[Variant, ...] = VARIANTS,
    loo: bool = True,
    site: str | None = None,
    priors: PriorSet | str | Path | None = None,
) -> pd.DataFrame:
    """Cross-validate the variants on grouped folds, write the files, return the pooled table.

    Blank sites are named first (``site``, as :func:`microcalc.fit` names them), so held-out lesions
    of a file without sites are predicted at the site they were drawn from. ``priors`` is the prior
    file of the "literature" variants (default: the bundled literature priors), e.g. a scenario such
    as ``priors/synthesis.toml``, compared with the vague priors on the same folds.
    """
    from microcalc.modelling.fitting import training_sites

    if by not in ("case", "site"):
        raise LesionInputError("--by", "folds are grouped by 'case' or 'site'", value=by, allowed="case, site")
    frame = training_sites(frame, site)
    started = time.perf_counter()
    out = Path(out_dir)
    chosen = priors if isinstance(priors, PriorSet) else load_priors(priors)
    prior_sets = {"literature": chosen, "vague": vague_priors()}
    sampler = {"draws": draws, "tune": tune or draws, "chains": chains, "seed": seed}
    if by == "case":
        fold = case_folds(frame, folds, seed)
        fold_names = [f"fold {k + 1}" for k in range(folds)]
    else:
        fold, fold_names = site_folds(frame)
    scored, fit_rows = [], []
    for k, name in enumerate(fold_names):
        test_rows = np.flatnonzero(fold == k)
        say(f"{name} ({len(test_rows)} held-out lesions, {len(frame) - len(test_rows)} training)")
        s, f = score_fold(frame, test_rows, prior_sets, {**sampler, "seed": seed + k}, variants, say)
        scored += s
        fit_rows += [{"fold": k, "held_out": name, **r} for r in f]
    table, per_fold, evaluations = pooled_table(frame, scored, fold, variants)
    per_fold["held_out"] = [fold_names[i] for i in per_fold["fold"]]
    convergence = pd.DataFrame(fit_rows)
    scheme = f"case-grouped {folds}-fold" if by == "case" else "leave-one-site-out"
    title = f"{scheme} CV, {len(frame)} lesions"
    write_tables(out, frame, scored, table, per_fold, convergence)
    targets = TARGETS if by == "case" else None  # the issues' targets are for case-grouped folds
    save_figure(plot_comparison(table, per_fold, title, targets), out / CROSSVAL_FILES["crossval_figure"])
    if "literature" in evaluations:
        save_figure(
            plot_reliability(evaluations["literature"].reliability, "(out-of-fold, literature priors)"),
            out / CROSSVAL_FILES["crossval_reliability"],
        )
    if loo:
        say("PSIS-LOO on all lesions")
        write_csv(loo_table(frame, prior_sets, sampler, variants, say), out / CROSSVAL_FILES["loo"])
    settings = {
        "by": by,
        "folds": fold_names,
        "draws": draws,
        "tune": sampler["tune"],
        "chains": chains,
        "seed": seed,
        "lesions": len(frame),
        "priors": {k: p.name for k, p in prior_sets.items()},
        "fits": len(convergence),
        "fits_converged": int(convergence["ok"].sum()) if len(convergence) else 0,
        "seconds": round(time.perf_counter() - started, 1),
        "disclaimer": DISCLAIMER,
    }
    write_json(settings, out / CROSSVAL_FILES["crossval_settings"])
    return table
