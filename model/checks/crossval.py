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
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from microcalc import DISCLAIMER
from microcalc.checks.evaluation import (
    BAND_DRAWS,
    COLOURS,
    evaluate_predictions,
    new_figure,
    plot_reliability,
    save_figure,
    styled,
    write_csv,
    write_json,
)
from microcalc.io import schema
from microcalc.io.errors import LesionInputError
from microcalc.modelling.predict import MODEL_INPUTS
from microcalc.priors import PriorSet, load_priors, scenario_paths

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
LOO_PARETO_K = 0.7  # above it the PSIS estimate of that lesion is unreliable
BIRADS_ONLY_BLANKS: tuple[str, ...] = tuple(c for c in MODEL_INPUTS if c not in ("birads", "site"))
# Targets of issues 4 and 7 for case-grouped CV (drawn on the figure; never used to choose anything).
TARGETS = {"literature": {"log_loss": 0.46, "auc": 0.83}, "birads_blank": {"log_loss": 0.52, "auc": 0.78}}


@dataclass(frozen=True)
class Variant:
    """One model compared on the folds: which priors, and which columns are blanked where."""

    name: str
    label: str
    priors: str | None  # "literature", "vague", or None for the base rate
    blank_in_training: tuple[str, ...] = ()
    blank_at_prediction: tuple[str, ...] = ()

    @property
    def fit_key(self) -> tuple | None:
        """Variants with the same key share one fit per fold."""
        return None if self.priors is None else (self.priors, self.blank_in_training)


VARIANTS: tuple[Variant, ...] = (
    Variant("literature", "literature priors", "literature"),
    Variant(
        "birads_blank", "literature priors, BI-RADS blank at prediction", "literature", blank_at_prediction=("birads",)
    ),
    Variant("vague", "vague priors", "vague"),
    Variant("descriptors_only", "fitted without BI-RADS", "literature", ("birads",), ("birads",)),
    Variant("birads_only", "BI-RADS only (+ site)", "literature", BIRADS_ONLY_BLANKS, BIRADS_ONLY_BLANKS),
    Variant("base_rate", "training base rate", None),
)


# --- priors and data ----------------------------------------------------------------------------


def vague_priors() -> PriorSet:
    """The bundled vague-prior scenario (``priors/vague.toml``): the same model without literature."""
    return load_priors(scenario_paths()["vague"])


def blank(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """A copy of the frame with the given model inputs set to not recorded."""
    if not columns:
        return frame
    return frame.assign(**{c: pd.Series(pd.NA, index=frame.index, dtype=schema.DTYPES[c]) for c in columns})


def case_folds(frame: pd.DataFrame, folds: int, seed: int) -> np.ndarray:
    """Fold number per lesion: women shuffled, then cut into folds of nearly equal lesion counts."""
    groups = frame["patient_id"].astype("string").fillna(frame["lesion_id"].astype("string")).to_numpy()
    names, codes = np.unique(groups, return_inverse=True)
    if folds < 2 or folds > len(names):
        raise LesionInputError("--folds", f"need 2 to {len(names)} folds for {len(names)} women", value=folds)
    order = np.random.default_rng(seed).permutation(len(names))
    sizes = np.bincount(codes, minlength=len(names))[order]
    start = np.cumsum(sizes) - sizes  # lesions placed before each woman
    fold_of_group = np.empty(len(names), dtype=np.int64)
    fold_of_group[order] = np.minimum(start * folds // len(frame), folds - 1)
    return fold_of_group[codes]


def site_folds(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Fold number per lesion for leave-one-site-out, and the site of each fold."""
    site = frame["site"].astype("string") if "site" in frame else pd.Series(pd.NA, index=frame.index)
    if site.isna().all() or site.nunique() < 2:
        raise LesionInputError("<data>", "leave-one-site-out needs at least two sites in column 'site'", column="site")
    names = sorted(site.dropna().unique().tolist())
    fold = site.map({s: i for i, s in enumerate(names)}).fillna(-1).to_numpy(dtype=np.int64)
    return fold, names  # fold -1 (blank site) is always training


# --- one fold -----------------------------------------------------------------------------------


@dataclass
class Scored:
    """Out-of-fold predictions of one variant on one fold."""

    variant: str
    rows: np.ndarray  # positions in the full frame
    p: np.ndarray
    draws: np.ndarray


def base_rate_draws(y_train: np.ndarray, n_test: int, draws: int, seed: int) -> np.ndarray:
    """Posterior draws of the training base rate (Beta(1 + k, 1 + n - k)), the same for every lesion."""
    k, n = float(y_train.sum()), float(len(y_train))
    rate = np.random.default_rng(seed).beta(1 + k, 1 + n - k, size=draws)
    return np.broadcast_to(rate, (n_test, draws))


def fit_variant(train: pd.DataFrame, priors: PriorSet, blanks: tuple[str, ...], sampler: dict):
    """Fit the model to a training frame with some inputs blanked."""
    from microcalc.modelling.fitting import fit

    return fit(blank(train, blanks), priors=priors, **sampler)


def score_fold(
    frame: pd.DataFrame,
    test_rows: np.ndarray,
    priors: dict[str, PriorSet],
    sampler: dict,
    variants: tuple[Variant, ...],
    say: Callable,
) -> tuple[list[Scored], list[dict]]:
    """Fit each distinct variant on the training part and predict the held-out part."""
    train_mask = np.ones(len(frame), dtype=bool)
    train_mask[test_rows] = False
    train, test = frame.iloc[np.flatnonzero(train_mask)], frame.iloc[test_rows]
    fits, fit_rows, scored = {}, [], []
    for v in variants:
        if v.priors is None:  # the base rate (no fit_key)
            y_train = train[schema.OUTCOME].to_numpy(dtype=float)
            d = base_rate_draws(y_train, len(test), BAND_DRAWS, sampler["seed"])
            scored.append(Scored(v.name, test_rows, d.mean(axis=1), d))
            continue
        if v.fit_key not in fits:
            t0 = time.perf_counter()
            fits[v.fit_key] = fit_variant(train, priors[v.priors], v.blank_in_training, sampler)
            c = fits[v.fit_key].convergence
            fit_rows.append({"fit": v.name, "seconds": time.perf_counter() - t0, **c.to_dict()})
            say(f"  fitted {v.name} on {len(train)} lesions in {fit_rows[-1]['seconds']:.0f} s: {c.text()}")
        d = fits[v.fit_key].probability_draws(blank(test, v.blank_at_prediction), max_draws=BAND_DRAWS)
        scored.append(Scored(v.name, test_rows, d.mean(axis=1), d))
    return scored, fit_rows


# --- PSIS-LOO -----------------------------------------------------------------------------------


def lesion_log_likelihood(fit, frame: pd.DataFrame):
    """Bernoulli log-likelihood of each training lesion per draw, DataArray (chain, draw, lesion)."""
    from microcalc.modelling.design import encode
    from microcalc.modelling.likelihood import bernoulli_log_likelihood, per_draw
    from microcalc.modelling.model import malignancy_probability, new_site_nodes, numpy_ops

    p = malignancy_probability(fit.params(), encode(frame, fit.priors, fit.sites), numpy_ops(), new_site_nodes())
    ll = bernoulli_log_likelihood(p, frame[schema.OUTCOME].to_numpy(dtype=float))
    return per_draw(ll, fit.idata["posterior"], "lesion", frame["lesion_id"].astype(str).to_numpy())


def lesion_loo(fit, frame: pd.DataFrame) -> dict:
    """PSIS-LOO per lesion of a fit on ``frame`` (its training data): elpd, SE, p_loo, Pareto k."""
    import arviz_stats as azs
    import xarray as xr

    tree = xr.DataTree.from_dict(
        {
            "posterior": fit.idata["posterior"].to_dataset(),
            "log_likelihood": xr.Dataset({"malignant": lesion_log_likelihood(fit, frame)}),
        }
    )
    with warnings.catch_warnings():  # the Pareto-k values are reported in the returned dict
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto", category=UserWarning)
        result = azs.loo(tree, pointwise=True, var_name="malignant")
    k = np.asarray(result.pareto_k)
    return {
        "n": int(result.n_data_points),
        "elpd_loo": float(result.elpd),
        "se": float(result.se),
        "p_loo": float(result.p),
        "loo_log_loss": float(-result.elpd / result.n_data_points),
        "max_pareto_k": float(k.max()),
        f"pareto_k_above_{LOO_PARETO_K}": int((k > LOO_PARETO_K).sum()),
    }


def loo_table(
    frame: pd.DataFrame, priors: dict[str, PriorSet], sampler: dict, variants: tuple[Variant, ...], say: Callable
) -> pd.DataFrame:
    """PSIS-LOO of every distinct fitted variant on all lesions."""
    rows, seen = [], set()
    for v in variants:
        if v.priors is None or v.fit_key in seen:
            continue
        seen.add(v.fit_key)
        data = blank(frame, v.blank_in_training)
        f = fit_variant(frame, priors[v.priors], v.blank_in_training, sampler)
        row = {"model": v.name, **lesion_loo(f, data), "converged": f.convergence.ok}
        say(f"  LOO {v.name}: elpd {row['elpd_loo']:.1f} (SE {row['se']:.1f}), max Pareto k {row['max_pareto_k']:.2f}")
        rows.append(row)
    return pd.DataFrame(rows)


# --- tables and figures -------------------------------------------------------------------------


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


# --- driver -------------------------------------------------------------------------------------


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
    _write_tables(out, frame, scored, table, per_fold, convergence)
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


def _write_tables(
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
