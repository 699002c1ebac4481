"""Value of the literature priors: held-out log loss against training size, literature vs vague priors.

For each repeat, a case-grouped fifth of the lesions is held out (no woman on both sides); training
subsets of 25, 50, 100, 200 and all remaining lesions are nested draws from the rest (the first n of
one random order), so that sizes within a repeat differ only by the lesions added. The model is fitted
on each subset with the literature priors (``priors/default.toml``) and with the vague priors
(``priors/vague.toml``) and scored on the same held-out lesions. The comparison is paired: same
subset, same held-out set, only the priors differ.

Files (:data:`LEARNING_CURVE_FILES`): learning_curve.csv (per size: mean held-out log loss of each
prior set, mean paired difference vague - literature with its standard error, repeats won by the
literature priors), learning_curve_runs.csv (every fit, with its convergence) and learning_curve.png.

Run: ``microcalc learning-curve --out DIR`` (see ``microcalc learning-curve --help``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from microcalc.checks.evaluation import BAND_DRAWS, COLOURS, new_figure, save_figure, styled, write_csv
from microcalc.checks.folds import case_folds, vague_priors
from microcalc.checks.metrics import auc, brier, log_loss
from microcalc.io import schema
from microcalc.priors import PriorSet, load_priors

SIZES: tuple[int | None, ...] = (25, 50, 100, 200, None)  # None: every training lesion
HELD_OUT_FOLDS = 5  # one fifth held out
LEARNING_CURVE_FILES: dict[str, str] = {
    "learning_curve_table": "learning_curve.csv",
    "learning_curve_runs": "learning_curve_runs.csv",
    "learning_curve_figure": "learning_curve.png",
}


def held_out_split(frame: pd.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training pool and of the held-out fifth (grouped by woman)."""
    fold = case_folds(frame, HELD_OUT_FOLDS, seed)
    return np.flatnonzero(fold != 0), np.flatnonzero(fold == 0)


def score(fit, test: pd.DataFrame) -> dict[str, float]:
    """Held-out log loss, Brier score and AUC of a fit's posterior mean probabilities."""
    y = test[schema.OUTCOME].to_numpy(dtype=float)
    p = fit.probability_draws(test, max_draws=BAND_DRAWS).mean(axis=1)
    return {"log_loss": log_loss(y, p), "brier": brier(y, p), "auc": auc(y, p)}


def run_learning_curve(
    frame: pd.DataFrame,
    out_dir: str | Path,
    sizes: tuple[int | None, ...] = SIZES,
    repeats: int = 5,
    draws: int = 1000,
    tune: int | None = None,
    chains: int = 4,
    seed: int = 1,
    say: Callable[[str], None] = print,
    site: str | None = None,
    priors: PriorSet | str | Path | None = None,
) -> pd.DataFrame:
    """Fit both prior sets on nested training subsets, score them on held-out lesions, write the files.

    Blank sites are named first, as in :func:`microcalc.checks.crossval.run_crossval`. ``priors`` is the
    prior file measured against the vague one (default: the bundled literature priors).
    """
    from microcalc.modelling.fitting import fit, training_sites

    frame = training_sites(frame, site)
    chosen = priors if isinstance(priors, PriorSet) else load_priors(priors)
    prior_sets = {"literature": chosen, "vague": vague_priors()}
    runs = []
    for r in range(repeats):
        pool, test_rows = held_out_split(frame, seed + r)
        order = np.random.default_rng(seed + 1000 + r).permutation(pool)
        test = frame.iloc[test_rows]
        for size in sizes:
            n = len(order) if size is None or size >= len(order) else size
            train = frame.iloc[np.sort(order[:n])]
            for name, prior_set in prior_sets.items():
                t0 = time.perf_counter()
                result = fit(train, priors=prior_set, draws=draws, tune=tune or draws, chains=chains, seed=seed + r)
                c = result.convergence
                runs.append(
                    {
                        "repeat": r,
                        "size": "all" if size is None else size,
                        "n_train": n,
                        "n_test": len(test),
                        "priors": name,
                        **score(result, test),
                        "seconds": time.perf_counter() - t0,
                        "converged": c.ok,
                        "max_rhat": c.max_rhat,
                        "min_ess_bulk": c.min_ess_bulk,
                        "divergences": c.divergences,
                    }
                )
                say(
                    f"repeat {r + 1}/{repeats}, n={n:>3}, {name:<10}: held-out log loss "
                    f"{runs[-1]['log_loss']:.3f} ({c.text().split(' — ')[-1]})"
                )
    runs_df = pd.DataFrame(runs)
    table = summarise(runs_df)
    out = Path(out_dir)
    write_csv(runs_df, out / LEARNING_CURVE_FILES["learning_curve_runs"])
    write_csv(table, out / LEARNING_CURVE_FILES["learning_curve_table"])
    save_figure(plot_learning_curve(runs_df, table), out / LEARNING_CURVE_FILES["learning_curve_figure"])
    return table


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per training size: mean log loss per prior set and the paired difference (vague - literature)."""
    wide = runs.pivot_table(index=["size", "repeat"], columns="priors", values="log_loss", sort=False)
    diff = (wide["vague"] - wide["literature"]).groupby(level="size", sort=False)
    means = wide.groupby(level="size", sort=False).mean()
    n_train = runs.groupby("size", sort=False)["n_train"].mean()
    return pd.DataFrame(
        {
            "size": means.index,
            "n_train": n_train.loc[means.index].round().astype(int).to_numpy(),
            "log_loss_literature": means["literature"].to_numpy(),
            "log_loss_vague": means["vague"].to_numpy(),
            "difference_vague_minus_literature": diff.mean().to_numpy(),
            "difference_se": (diff.std() / np.sqrt(diff.count())).to_numpy(),
            "literature_wins": (wide["vague"] > wide["literature"]).groupby(level="size", sort=False).sum().to_numpy(),
            "repeats": diff.count().to_numpy(),
            "fits_not_converged": runs.groupby("size", sort=False)["converged"]
            .apply(lambda c: int((~c).sum()))
            .loc[means.index]
            .to_numpy(),
        }
    )


@styled
def plot_learning_curve(runs: pd.DataFrame, table: pd.DataFrame):
    """Left: held-out log loss against training size. Right: paired difference vague - literature."""
    fig, (ax, ax_diff) = new_figure(10.0, 4.2, ncols=2)
    colours = {"literature": COLOURS["model"], "vague": COLOURS["vague"]}
    offsets = {"literature": -0.03, "vague": 0.03}
    for name, colour in colours.items():
        sub = runs[runs["priors"] == name]
        ax.plot(
            sub["n_train"].to_numpy(dtype=float) * np.exp(offsets[name]),
            sub["log_loss"],
            "o",
            color=colour,
            alpha=0.35,
            markersize=3.5,
        )
        ax.plot(
            table["n_train"] * np.exp(offsets[name]),
            table[f"log_loss_{name}"],
            "-o",
            color=colour,
            markersize=5,
            linewidth=1.8,
            label=f"{name} priors (mean over repeats)",
        )
    wide = runs.pivot_table(index=["n_train", "repeat"], columns="priors", values="log_loss").reset_index()
    ax_diff.axhline(0, color=COLOURS["reference"], linewidth=1)
    ax_diff.plot(
        wide["n_train"], wide["vague"] - wide["literature"], "o", color=COLOURS["model"], alpha=0.35, markersize=3.5
    )
    ax_diff.errorbar(
        table["n_train"],
        table["difference_vague_minus_literature"],
        yerr=table["difference_se"],
        fmt="-o",
        color=COLOURS["model"],
        markersize=5,
        linewidth=1.8,
        capsize=3,
        label="mean ± SE over repeats",
    )
    for a in (ax, ax_diff):
        a.set_xscale("log")
        a.set_xticks(table["n_train"], [str(n) for n in table["n_train"]])
        a.minorticks_off()
        a.set_xlabel("training lesions")
    ax.set_ylabel("held-out log loss (lower is better)")
    ax_diff.set_ylabel("log loss, vague minus literature\n(> 0: literature priors better)")
    ax.set_title("Value of the literature priors", fontsize=10)
    ax_diff.set_title("Paired difference (same subsets, same held-out lesions)", fontsize=10)
    ax.legend(fontsize=8)
    ax_diff.legend(fontsize=8)
    return fig
