"""Simulation-based calibration (Talts et al. 2018) of the model's inference. Not a pytest test.

Run (slow: 11-18 s per replication on 2 cores; 100 replications took 22 minutes):

    .venv/bin/python tests/sbc.py --reps 100 --out /tmp/sbc              # 2 chains x 1000 draws, L = 100
    .venv/bin/python tests/sbc.py --reps 100 --out /tmp/sbc --plot-only  # redraw from saved ranks

Procedure: the design of the bundled DDSM data (its 617 lesions, their covariate patterns and sites)
is kept fixed. Parameters are drawn from the default literature priors; outcomes are simulated from
the model's binomial likelihood given those parameters; the model is fitted to the simulated data
with nutpie; for every scalar free parameter (every element of the groups in
``microcalc.modelling.model.PARAMETER_GROUPS``), the rank of the true value among ``L`` thinned posterior draws
is recorded, as is whether the central 50% and 90% posterior intervals hold it. If the inference is
right, ranks are uniform on 0..L and the intervals cover 50% and 90% of true values.

Files in --out: sbc_ranks.csv (one row per replication and scalar parameter, appended as replications
finish; a rerun resumes where it stopped), sbc_fits.csv (diagnostics per replication),
sbc_coverage.csv (per parameter group: 50% and 90% coverage with binomial standard errors, a
chi-square test of rank uniformity), sbc_ecdf.png (ECDF difference of the normalised ranks per
group, with a 95% pointwise band) and sbc_ranks.png (rank histograms per group).

Groups pool their scalars (e.g. 14 morphology_z x 100 replications); scalars of one replication are
correlated, so the pooled bands and standard errors are somewhat too narrow for groups of several
scalars. Most covariate_effect elements have no data in DDSM (posterior = prior), so their ranks are
uniform by construction; the informative groups are the others. The script is named so that pytest
does not collect it.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from microcalc.checks.evaluation import COLOURS, save_figure, style_axes, styled, write_csv
from microcalc.io.readers import bundled_data_path, read_lesions
from microcalc.modelling.fitting import SamplerSettings, sample_posterior, training_patterns
from microcalc.modelling.model import PARAMETER_GROUPS, build_model
from microcalc.priors import load_priors

HISTOGRAM_BINS = 10


def scalar_values(dataset, names) -> dict[str, np.ndarray]:
    """Each scalar element of the named variables as 'name[label]' -> draws over (chain, draw)."""
    out = {}
    for name in names:
        da = dataset[name]
        other = [d for d in da.dims if d not in ("chain", "draw")]
        if not other:
            out[name] = np.asarray(da.values).reshape(-1) if da.ndim else np.asarray([da.values])
            continue
        stacked = da.stack(element=other).transpose(..., "element")
        labels = ["|".join(map(str, np.atleast_1d(v))) for v in stacked["element"].values]
        values = np.asarray(stacked.values).reshape(-1, len(labels))
        for j, label in enumerate(labels):
            out[f"{name}[{label}]"] = values[:, j]
    return out


def group_of(parameter: str) -> str:
    """The parameter group of a scalar name such as 'morphology_z[rim]'."""
    return parameter.split("[", 1)[0]


GROUPS: list[str] = list(PARAMETER_GROUPS)  # the groups the model has (conditional_scale only if learned)


def simulate(patterns, priors, sites, reps: int, seed: int):
    """Prior draws of every free parameter and outcomes simulated from them (one per replication)."""
    import pymc as pm

    with build_model(patterns, priors, sites):
        draws = pm.sample_prior_predictive(draws=reps, var_names=[*GROUPS, "malignant"], random_seed=seed)
    return draws["prior"].to_dataset().isel(chain=0), draws["prior_predictive"]["malignant"].values[0]


def fit_replication(patterns, priors, sites, malignant: np.ndarray, args, seed: int):
    """Posterior draws (as a Dataset) and diagnostics of one fit to simulated outcomes."""
    from microcalc.modelling.diagnostics import check_convergence

    model = build_model(replace(patterns, malignant=malignant.astype(np.int64)), priors, sites)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = sample_posterior(model, SamplerSettings(args.draws, args.tune, args.chains, seed))
    return idata["posterior"].to_dataset(), check_convergence(idata, list(GROUPS))


def rank_rows(rep: int, truth: dict[str, float], posterior: dict[str, np.ndarray], thin: int) -> list[dict]:
    """Rank of the truth among thinned draws, and whether the 50%/90% central intervals hold it."""
    rows = []
    for name, draws in posterior.items():
        t = float(truth[name])
        kept = draws[::thin]
        q05, q25, q75, q95 = np.quantile(draws, [0.05, 0.25, 0.75, 0.95])
        rows.append(
            {
                "rep": rep,
                "parameter": name,
                "group": group_of(name),
                "truth": t,
                "rank": int(np.sum(kept < t)),
                "L": int(len(kept)),
                "inside50": bool(q25 <= t <= q75),
                "inside90": bool(q05 <= t <= q95),
            }
        )
    return rows


def run(args) -> None:
    """Simulate, fit and rank until --reps replications are stored in --out."""
    out = Path(args.out)
    frame = read_lesions(bundled_data_path(), require_outcome=True)
    priors = load_priors(args.priors)
    sites, patterns = training_patterns(frame, priors)
    GROUPS[:] = [g for g in PARAMETER_GROUPS if g in build_model(patterns, priors, sites).named_vars]
    truths, outcomes = simulate(patterns, priors, sites, args.reps, args.seed)
    ranks_path, fits_path = out / "sbc_ranks.csv", out / "sbc_fits.csv"
    ranks = pd.read_csv(ranks_path) if ranks_path.is_file() else pd.DataFrame()
    fits = pd.read_csv(fits_path) if fits_path.is_file() else pd.DataFrame()
    done = set(fits["rep"]) if len(fits) else set()
    for rep in range(args.reps):
        if rep in done:
            continue
        t0 = time.perf_counter()
        truth = {k: v[0] for k, v in scalar_values(truths.isel(draw=[rep]).expand_dims(chain=[0]), GROUPS).items()}
        posterior, conv = fit_replication(patterns, priors, sites, outcomes[rep], args, args.seed + 1 + rep)
        rows = rank_rows(rep, truth, scalar_values(posterior, GROUPS), args.thin)
        ranks = pd.concat([ranks, pd.DataFrame(rows)], ignore_index=True)
        fits = pd.concat(
            [
                fits,
                pd.DataFrame(
                    [
                        {
                            "rep": rep,
                            "seconds": time.perf_counter() - t0,
                            "malignant": int(outcomes[rep].sum()),
                            **conv.to_dict(),
                        }
                    ]
                ),
            ],
            ignore_index=True,
        )
        write_csv(ranks, ranks_path)
        write_csv(fits, fits_path)
        print(
            f"rep {rep + 1}/{args.reps}: {fits['seconds'].iloc[-1]:.0f} s, {int(outcomes[rep].sum())} malignant, "
            f"{conv.text().split(' — ')[-1]}",
            flush=True,
        )
    summarise(out)


def coverage_table(ranks: pd.DataFrame) -> pd.DataFrame:
    """Per parameter group: scalars, replications, coverage of 50% and 90% intervals, rank uniformity."""
    from scipy.stats import chisquare

    rows = []
    for group in [g for g in PARAMETER_GROUPS if g in set(ranks["group"])]:
        g = ranks[ranks["group"] == group]
        n = len(g)
        bins = np.minimum((g["rank"] / (g["L"] + 1) * HISTOGRAM_BINS).astype(int), HISTOGRAM_BINS - 1)
        counts = np.bincount(bins, minlength=HISTOGRAM_BINS)
        rows.append(
            {
                "group": group,
                "scalars": g["parameter"].nunique(),
                "replications": g["rep"].nunique(),
                "n": n,
                "coverage50": g["inside50"].mean(),
                "se50": np.sqrt(0.25 / n),
                "coverage90": g["inside90"].mean(),
                "se90": np.sqrt(0.09 / n),
                "rank_chisq_p": float(chisquare(counts).pvalue),
            }
        )
    return pd.DataFrame(rows)


def summarise(out: Path) -> pd.DataFrame:
    """Coverage table and figures from the stored ranks."""
    ranks = pd.read_csv(out / "sbc_ranks.csv")
    table = coverage_table(ranks)
    write_csv(table, out / "sbc_coverage.csv")
    save_figure(plot_ecdf(ranks), out / "sbc_ecdf.png")
    save_figure(plot_histograms(ranks), out / "sbc_ranks.png")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return table


def _grid(n: int):
    """A figure with a grid of small panels, one per parameter group (unused panels hidden)."""
    from matplotlib.figure import Figure

    cols = 4
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(11.0, 2.3 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).reshape(-1)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


@styled
def plot_ecdf(ranks: pd.DataFrame):
    """ECDF of normalised ranks minus the uniform CDF, per group, with a pointwise 95% binomial band."""
    from scipy.stats import binom

    groups = [g for g in PARAMETER_GROUPS if g in set(ranks["group"])]
    fig, axes = _grid(len(groups))
    z = np.linspace(0, 1, 201)
    for ax, group in zip(axes, groups):
        style_axes(ax)
        g = ranks[ranks["group"] == group]
        u = (g["rank"].to_numpy() + 0.5) / (g["L"].to_numpy() + 1)
        n = len(u)
        ecdf = np.searchsorted(np.sort(u), z, side="right") / n
        lo, hi = binom.ppf(0.025, n, z) / n - z, binom.ppf(0.975, n, z) / n - z
        ax.fill_between(z, lo, hi, color=COLOURS["band"], alpha=0.6, linewidth=0)
        ax.plot(z, ecdf - z, color=COLOURS["model"], linewidth=1.3)
        ax.axhline(0, color=COLOURS["reference"], linewidth=0.8)
        ax.set_title(f"{group} ({g['parameter'].nunique()} x {g['rep'].nunique()})", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("SBC: ECDF of normalised rank minus uniform (band: 95% pointwise for uniform ranks)", fontsize=9)
    return fig


@styled
def plot_histograms(ranks: pd.DataFrame):
    """Rank histograms per group with the expected count and its 95% band."""
    from scipy.stats import binom

    groups = [g for g in PARAMETER_GROUPS if g in set(ranks["group"])]
    fig, axes = _grid(len(groups))
    for ax, group in zip(axes, groups):
        style_axes(ax)
        g = ranks[ranks["group"] == group]
        bins = np.minimum((g["rank"] / (g["L"] + 1) * HISTOGRAM_BINS).astype(int), HISTOGRAM_BINS - 1)
        counts = np.bincount(bins, minlength=HISTOGRAM_BINS)
        n = len(g)
        ax.axhspan(
            binom.ppf(0.025, n, 1 / HISTOGRAM_BINS),
            binom.ppf(0.975, n, 1 / HISTOGRAM_BINS),
            color=COLOURS["band"],
            alpha=0.5,
            linewidth=0,
        )
        ax.bar(np.arange(HISTOGRAM_BINS), counts, color=COLOURS["model"], width=0.85)
        ax.set_title(group, fontsize=8)
        ax.set_xticks([])
        ax.tick_params(labelsize=7)
    fig.suptitle(f"SBC rank histograms ({HISTOGRAM_BINS} bins; band: 95% range for uniform ranks)", fontsize=9)
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Simulation-based calibration of the microcalc model.")
    p.add_argument("--reps", type=int, default=100, help="replications (default 100)")
    p.add_argument("--out", type=Path, default=Path("sbc"), help="output folder (default ./sbc)")
    p.add_argument("--draws", type=int, default=1000, help="posterior draws per chain (default 1000)")
    p.add_argument("--tune", type=int, default=500, help="tuning steps per chain (default 500)")
    p.add_argument("--chains", type=int, default=2, help="chains (default 2)")
    p.add_argument("--thin", type=int, default=20, help="keep every k-th draw for ranks (default 20: L = 100)")
    p.add_argument("--seed", type=int, default=2018)
    p.add_argument("--priors", default=None, help="prior file (default: the bundled default.toml)")
    p.add_argument("--plot-only", action="store_true", help="only redraw table and figures from saved ranks")
    args = p.parse_args(argv)
    if args.plot_only:
        summarise(args.out)
    else:
        run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
