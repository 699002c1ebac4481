"""Literature scenarios: the headline answers under alternative prior files, without refitting where possible.

For each scenario prior file the fit's posterior draws are reweighted by the ratio of the scenario's
prior density to the fit's prior density, with Pareto-smoothed importance sampling (PSIS, Vehtari
et al. 2024). The Pareto k-hat of the weights says whether that is reliable; where k >= 0.7 the
model is refitted with the scenario's priors on the training data rebuilt from the fit file.

Parameter space. A descriptor level's effect is centre + shift[group] + sd * z, and the literature
centre depends on the prior file. Reweighting must leave the likelihood unchanged, so the densities
are compared on (shift, sd, effect): the scenario's free value of each level is recomputed from the
stored effect, z = (effect - centre - shift[group]) / sd for a non-centred level, the effect itself for
a centred one (:func:`microcalc.modelling.model.centred_levels`; the choice depends on the training data only,
so it is the same under both prior files). The Jacobian from z to effect (1/sd per level) is the
same under both prior files and cancels in the ratio; so does the log-transform Jacobian of positive
parameters, because both densities are evaluated on the constrained scale
(``pymc.stats.compute_log_density`` with value transforms removed).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from microcalc.io import schema
from microcalc.io.errors import LesionInputError
from microcalc.modelling.design import BIRADS_SLOTS, aggregate, encode
from microcalc.modelling.model import RANDOM_EFFECTS
from microcalc.modelling.predict import sample_last
from microcalc.priors import PriorSet, load_priors, scenario_paths
from microcalc.reporting.headline import blank_frame, headline_draws, headline_table

if TYPE_CHECKING:
    import xarray as xr

    from microcalc.modelling.fitting import Fit

PARETO_K_MAX = 0.7  # above it the importance weights are not trusted (Vehtari et al. 2024)
IDENTICAL_LOG_RATIO = 1e-9  # log weights flatter than this: the two prior files agree on every draw
CI = 0.95
DESCRIPTORS: tuple[str, ...] = ("morphology", "distribution")
REBUILT_COLUMNS: tuple[str, ...] = ("site", "morphology", "distribution", "birads", "breast_density")


@dataclass(frozen=True)
class RefitSettings:
    """Sampler settings of a refit: small on purpose (a scenario answer, not the main fit)."""

    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    seed: int = 20231

    def text(self) -> str:
        """Short description for the method column, e.g. '2x1000 draws'."""
        return f"{self.chains}x{self.draws} draws"


@dataclass(frozen=True)
class Scenario:
    """A named prior file to compare against the fit's priors."""

    name: str
    priors: PriorSet


@dataclass(frozen=True)
class ScenarioResult:
    """Headline table of one scenario and how it was obtained."""

    scenario: str
    table: pd.DataFrame  # headline_table columns: group, level, mean, ci_lower, ci_upper, published ...
    method: str  # e.g. "psis (k=0.43)" or "refit (k=1.20), 2x1000 draws"
    pareto_k: float  # nan when the priors are identical to the fit's
    ess: float  # effective sample size of the weighted (or refitted) draws


# --------------------------------------------------------------------------------------------- scenarios
def load_scenarios(extra: list[str | Path] | None = None) -> list[Scenario]:
    """The bundled prior files (default first) and any user files, named by file stem."""
    bundled = scenario_paths()
    paths = [bundled.pop("default"), *(bundled[k] for k in sorted(bundled)), *(Path(p) for p in extra or [])]
    out: list[Scenario] = []
    for path in paths:
        name, copy = Path(path).stem, 1
        while name in {s.name for s in out}:  # a user file named like a bundled one
            copy += 1
            name = f"{Path(path).stem} ({copy})"
        out.append(Scenario(name, load_priors(path)))
    return out


def design_difference(a: PriorSet, b: PriorSet) -> str | None:
    """Why two prior files encode lesions differently (None if they do not): reweighting needs equal designs."""
    if a.coefficient_names() != b.coefficient_names():
        return "different covariate levels"
    if a.category4_mix != b.category4_mix:
        return "different category4_mix"
    if a.age_centre != b.age_centre:
        return "different age centre"
    if any(a.covariates[k].prevalence != b.covariates[k].prevalence for k in a.covariates):
        return "different covariate prevalences"
    for d in DESCRIPTORS:
        if set(getattr(a, d).levels) != set(getattr(b, d).levels):
            return f"different {d} levels"
    return None


# --------------------------------------------------------------------------------------------- training data
def training_frame(donors: pd.DataFrame) -> pd.DataFrame:
    """Canonical lesion frame rebuilt from a fit's key table (one row per training lesion).

    The key table holds every column the bundled data record (site, morphology, distribution,
    BI-RADS, breast density, age band) with lesion and malignant counts; ages become their 5-year
    band centre, which the design rounds to anyway. :func:`rebuild_problem` checks the result.
    """
    rows = donors.loc[donors.index.repeat(donors["count"].to_numpy())]
    rank = rows.groupby(level=0).cumcount().to_numpy()
    n = len(rows)
    frame = blank_frame(n)
    frame["lesion_id"] = pd.array([f"rebuilt-{i + 1}" for i in range(n)], dtype="string")
    for col in REBUILT_COLUMNS:
        frame[col] = rows[col].astype("string").to_numpy()
    frame["age"] = rows["age_band"].astype("Float64").to_numpy()
    frame[schema.OUTCOME] = pd.array((rank < rows["malignant"].to_numpy()).astype(int), dtype="Int64")
    return frame


def rebuild_problem(fit, frame: pd.DataFrame) -> str | None:
    """None if ``frame`` reproduces the fit's likelihood exactly, else what differs.

    The stored pointwise log-likelihood is compared with the rebuilt data's at every posterior draw:
    a training column the key table does not hold (e.g. ``change``) would make them differ.
    """
    from microcalc.modelling.fitting import log_likelihood_group

    y = frame[schema.OUTCOME].to_numpy(dtype=float)
    patterns = aggregate(encode(frame, fit.priors, fit.sites), y)
    stored = fit.idata["log_likelihood"][schema.OUTCOME]
    if stored.sizes["pattern"] != len(patterns.trials):
        return f"{len(patterns.trials)} covariate patterns rebuilt, {stored.sizes['pattern']} in the fit"
    rebuilt = log_likelihood_group(fit.idata, patterns)[schema.OUTCOME]
    gap = float(np.max(np.abs(rebuilt.values - stored.transpose(*rebuilt.dims).values)))
    return None if gap < 1e-6 else f"log-likelihood differs by up to {gap:.3g}"


# --------------------------------------------------------------------------------------------- log prior
def likelihood_elements(patterns) -> dict[str, np.ndarray]:
    """Per free parameter, which elements the likelihood reads (the rest are informed by the prior alone).

    A coefficient whose covariate no training lesion records, a descriptor level no training lesion
    shows, or the not-recorded BI-RADS slot when no training lesion has it, is a priori independent of
    everything the data see: its posterior is its prior whatever the scenario, and it must not enter
    the density ratio (it would only add noise to the weights). None of them enters a headline answer
    (blank covariates contribute zero; blanks are completed at prediction), except descriptor levels
    the data never show, which are redrawn from the scenario's conditional prior (see
    :func:`scenario_params`). Every other element always counts (keeping one is never wrong).
    """
    d = patterns.design
    return {
        "covariate_effect": d.covariates.any(axis=0),
        "not_recorded": d.not_recorded.any(axis=0),
        **{f"{r}_{form}": getattr(d, r).any(axis=0) for r in DESCRIPTORS for form in ("z", "raw")},
        "birads_not_recorded": np.array(d.birads[:, BIRADS_SLOTS.index("not_recorded")].any()),
    }


def free_values(posterior, priors: PriorSet, names: list[str], centred: dict[str, np.ndarray]):
    """Draws of the free parameters ``names`` of the model for ``priors``, recomputed from the stored effects.

    Each level's free value is z for ``priors``' centres where non-centred, the effect where ``centred``
    (:func:`microcalc.modelling.model.parameterisation`).
    """
    levels = {f"{r}_{form}": r for r in RANDOM_EFFECTS for form in ("z", "raw") if f"{r}_{form}" in names}
    out = posterior[[n for n in names if n not in levels]].copy()
    for name, r in levels.items():
        z = _centred_z(posterior, priors, r)
        out[name] = (("chain", "draw", r), np.where(centred[r], _draws(posterior, f"{r}_effect"), z))
    return out


def _centre_and_group(posterior, priors: PriorSet, descriptor: str) -> tuple[np.ndarray, list[int]]:
    """Literature centre and lexicon-group index of each level, in the posterior's level order.

    The centre is scale * contrast: shape (levels,) for a fixed scale, (chain, draw, levels) when the
    scale is a parameter (its posterior draws; :func:`design_difference` makes sure the fit has them).
    """
    spec = getattr(priors, descriptor)
    levels = [str(v) for v in posterior[descriptor].values]
    by_level = priors.literature_contrast(descriptor)
    contrast = np.array([by_level[lvl] for lvl in levels])
    groups = [spec.groups.index(spec.levels[lvl].group) for lvl in levels]
    if priors.scale_is_random:
        return _draws(posterior, "conditional_scale")[..., None] * contrast, groups
    return priors.scale_value * contrast, groups


def _draws(posterior, name: str) -> np.ndarray:
    """A posterior variable as an array with chain and draw first."""
    return posterior[name].transpose("chain", "draw", ...).values


def _centred_z(posterior, priors: PriorSet, effect: str) -> np.ndarray:
    """The z that gives the stored effect under ``priors``.

    z = (effect - centre - shift[group]) / sd for a descriptor level, effect / sd for a site.
    """
    if effect == "site":
        return _draws(posterior, "site_effect") / _draws(posterior, "site_sd")[..., None]
    centre, group = _centre_and_group(posterior, priors, effect)
    shift = _draws(posterior, f"{effect}_group_shift")[..., group]
    return (_draws(posterior, f"{effect}_effect") - centre - shift) / _level_sd(posterior, priors, effect)


def _level_sd(posterior, priors: PriorSet, descriptor: str) -> np.ndarray:
    """Per draw and level the SD of the level's deviation (:func:`microcalc.modelling.model.level_scale`), (chain, draw, level)."""
    from microcalc.modelling.model import level_scale

    levels = [str(v) for v in posterior[descriptor].values]
    centre_sd = priors.centre_sd(descriptor)
    u = np.array([centre_sd[lvl] for lvl in levels])
    sd = _draws(posterior, f"{descriptor}_sd")[..., None]
    scale = _draws(posterior, "conditional_scale")[..., None] if priors.scale_is_random else priors.scale_value
    return level_scale(sd, scale, u) if u.any() else sd + 0.0 * u


def log_prior(
    posterior,
    priors: PriorSet,
    sites: tuple[str, ...],
    patterns,
    informed: dict[str, np.ndarray] | None = None,
    exclude: tuple[str, ...] = (),
) -> np.ndarray:
    """Log prior density of ``priors`` at every posterior draw (chain-major, like ``Fit.params``).

    Only the elements in ``informed`` (see :func:`likelihood_elements`) are summed; None sums all.
    Free variables named in ``exclude`` are left out of the sum (see :func:`with_scale`).
    """
    import xarray as xr
    from pymc.stats.log_density import compute_log_density

    from microcalc.modelling.model import build_model, parameterisation

    model = build_model(patterns, priors, sites)
    free = [rv.name for rv in model.free_RVs]
    centred = parameterisation(patterns, len(sites))
    tree = xr.DataTree.from_dict({"posterior": free_values(posterior, priors, free, centred)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dens = compute_log_density(tree, model=model, kind="prior", extend_inferencedata=False, progressbar=False)
    total = 0.0
    for name in (n for n in free if n not in exclude):
        values = dens[name].transpose("chain", "draw", ...).values
        values = values.reshape(values.shape[0] * values.shape[1], -1)
        keep = np.ones(values.shape[1], dtype=bool) if informed is None or name not in informed else informed[name]
        total = total + values[:, np.atleast_1d(keep)].sum(axis=1)
    return np.asarray(total, dtype=float)


def scenario_params(params: dict, posterior, priors: PriorSet, informed: dict[str, np.ndarray]) -> dict:
    """Equation parameters under ``priors``: levels the data never show are redrawn from its prior.

    Such a level's effect is centre + shift[group] + sd * z with z ~ N(0, 1) under every prior file,
    so keeping the draw's z and using the scenario's centre is an exact draw from the scenario's
    conditional prior, while observed levels keep their (reweighted) posterior effect. (When the two
    files give z different distributions, normal vs robust ``level_deviation``, the kept z is a draw
    from the fit's z prior: an approximation for levels no training lesion shows.)
    """
    out = dict(params)
    for d in DESCRIPTORS:
        unseen = ~informed[f"{d}_z"]
        if not unseen.any():
            continue
        centre, group = _centre_and_group(posterior, priors, d)
        centre = centre[:, None] if centre.ndim == 1 else sample_last(centre, ("chain", "draw", d))
        z, shift = (sample_last(posterior[f"{d}_{v}"].values, posterior[f"{d}_{v}"].dims) for v in ("z", "group_shift"))
        sd = sample_last(_level_sd(posterior, priors, d), ("chain", "draw", d))
        effect = np.array(params[f"{d}_effect"], copy=True)
        redrawn = centre + shift[group] + sd * z
        effect[unseen] = redrawn[unseen]
        out[f"{d}_effect"] = effect
    return out


SCALE = "conditional_scale"
SCALE_SEED = 20140102


def with_scale(posterior, fit_priors: PriorSet, priors: PriorSet):
    """The posterior to reweight to ``priors``, and the variables both log priors leave out.

    When one prior file learns the conditional scale and the other fixes it, the two models have
    different parameters. Importance sampling then runs on the augmented space: a fit without the scale
    gets draws of it from the scenario's own scale prior (fixed seed), and in either direction the
    scale's own prior density is left out of both log priors. The weights are then p_s(theta | s) /
    p_f(theta) (or p_s(theta) / p_f(theta | s)): exact importance weights from the fit's posterior times
    the scale's prior to the scenario's posterior (Gelman & Meng: a density ratio on a common space).
    """
    if priors.scale_is_random == fit_priors.scale_is_random:
        return posterior, ()
    prior = priors.scale_prior
    if prior is not None and SCALE not in posterior:
        shape = (posterior.sizes["chain"], posterior.sizes["draw"])
        draws = np.random.default_rng(SCALE_SEED).beta(*prior.beta_parameters(), size=shape)
        posterior = posterior.assign({SCALE: (("chain", "draw"), draws)})
    return posterior, (SCALE,)


# --------------------------------------------------------------------------------------------- PSIS
def psis_weights(log_ratio: np.ndarray) -> tuple[np.ndarray, float]:
    """Normalised Pareto-smoothed importance weights and their k-hat (nan: identical priors, uniform weights).

    References
    ----------
    Vehtari A, Simpson D, Gelman A, Yao Y, Gabry J. Pareto smoothed importance sampling. Journal of
    Machine Learning Research 25, 1-58 (2024).
    """
    from arviz_stats.base import array_stats

    if np.ptp(log_ratio) < IDENTICAL_LOG_RATIO:
        return np.full(len(log_ratio), 1.0 / len(log_ratio)), float("nan")
    # psislw smooths the weights exp(-x) (it is written for leave-one-out log-likelihoods)
    log_w, k = array_stats.psislw(-np.asarray(log_ratio, dtype=float))
    w = np.exp(log_w - log_w.max())
    return w / w.sum(), float(k)


def weighted_summary(draws: np.ndarray, w: np.ndarray, ci: float = CI) -> pd.DataFrame:
    """Weighted mean and equal-tailed interval of each row of ``draws`` (quantities x draws).

    Equal weights give numpy's default quantiles, exactly as :func:`~microcalc.reporting.headline.headline_table`;
    unequal weights use the weighted inverse CDF (``numpy.quantile(..., method="inverted_cdf")``).
    """
    probs = [(1 - ci) / 2, (1 + ci) / 2]
    if np.all(w == w[0]):
        lo, hi = np.quantile(draws, probs, axis=1)
    else:
        lo, hi = np.quantile(draws, probs, axis=1, weights=np.broadcast_to(w, draws.shape), method="inverted_cdf")
    return pd.DataFrame({"mean": draws @ w, "ci_lower": lo, "ci_upper": hi})


def effective_sample_size(w: np.ndarray) -> float:
    """Kish effective sample size of normalised importance weights."""
    return float(1.0 / np.sum(w**2))


# --------------------------------------------------------------------------------------------- answers
def headline_keys_table(keys: list[tuple[str, str]], summary: pd.DataFrame) -> pd.DataFrame:
    """Headline rows (group, level, mean, ci_lower, ci_upper) from keys and a weighted summary."""
    return pd.concat([pd.DataFrame(keys, columns=["group", "level"]), summary.reset_index(drop=True)], axis=1)


def refit_headline(
    frame: pd.DataFrame, priors: PriorSet, donors: pd.DataFrame, settings: RefitSettings
) -> tuple[pd.DataFrame, Fit]:
    """Refit with ``priors`` and return the headline table (quantities defined by ``donors``) and the fit."""
    from microcalc.modelling.fitting import fit

    refit = fit(
        frame, priors=priors, draws=settings.draws, tune=settings.tune, chains=settings.chains, seed=settings.seed
    )
    return headline_table(refit.params(), refit.priors, refit.sites, donors, ci=CI), refit


def refit_note(refit: Fit, settings: RefitSettings) -> str:
    """Short method note for a refit, with its convergence verdict."""
    note = settings.text()
    return note if refit.convergence.ok else f"{note}; NOT CONVERGED: {'; '.join(refit.convergence.problems())}"


@dataclass
class Reweighter:
    """A fit's posterior made ready for reweighting to other prior files (base log prior computed once)."""

    fit: Fit
    posterior: xr.Dataset  # the fit's posterior
    patterns: object  # training patterns (to build the scenario models)
    informed: dict[str, np.ndarray] | None  # elements the likelihood reads; None = all (data not rebuilt)
    base: np.ndarray  # log prior of the fit's own priors per draw
    donors: pd.DataFrame  # defines the headline quantities
    population: str | None = None  # of the headline's blank-site lesions (None: the default population)

    @classmethod
    def of(
        cls, fit: Fit, frame: pd.DataFrame | None, donors: pd.DataFrame | None = None, population: str | None = None
    ) -> Reweighter:
        """``frame`` = the training data, or None if it could not be rebuilt (then every element counts)."""
        source = frame if frame is not None else training_frame(fit.donors)
        patterns = aggregate(encode(source, fit.priors, fit.sites), source[schema.OUTCOME].to_numpy(dtype=float))
        informed = likelihood_elements(patterns) if frame is not None else None
        posterior = fit.idata["posterior"].to_dataset()
        base = log_prior(posterior, fit.priors, fit.sites, patterns, informed)
        return cls(fit, posterior, patterns, informed, base, fit.donors if donors is None else donors, population)

    def weights(self, priors: PriorSet) -> tuple[np.ndarray, float]:
        """PSIS weights from the fit's priors to ``priors`` and their Pareto k-hat."""
        posterior, exclude = with_scale(self.posterior, self.fit.priors, priors)
        base = (
            self.base
            if not exclude
            else log_prior(self.posterior, self.fit.priors, self.fit.sites, self.patterns, self.informed, exclude)
        )
        return psis_weights(log_prior(posterior, priors, self.fit.sites, self.patterns, self.informed, exclude) - base)

    def headline(self, priors: PriorSet, w: np.ndarray) -> pd.DataFrame:
        """Weighted headline table under ``priors``."""
        params = self.fit.params()
        if self.informed is not None:
            posterior, _ = with_scale(self.posterior, self.fit.priors, priors)
            params = scenario_params(params, posterior, priors, self.informed)
        keys, draws = headline_draws(params, self.fit.priors, self.fit.sites, self.donors, self.population)
        return headline_keys_table(keys, weighted_summary(draws, w))


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
    refit: RefitSettings | None = RefitSettings(),
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
