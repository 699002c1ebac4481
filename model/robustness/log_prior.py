"""The log prior density of a prior file at a fit's posterior draws (the numerator and denominator of PSIS).

Parameter space. A descriptor level's effect is centre + shift[group] + sd * z, and the literature
centre depends on the prior file. Reweighting must leave the likelihood unchanged, so the densities
are compared on (shift, sd, effect): the scenario's free value of each level is recomputed from the
stored effect, z = (effect - centre - shift[group]) / sd for a non-centred level, the effect itself for
a centred one (:func:`microcalc.modelling.model.centred_levels`; the choice depends on the training data only,
so it is the same under both prior files). The Jacobian from z to effect (1/sd per level) is the
same under both prior files and cancels in the ratio; so does the log-transform Jacobian of positive
parameters, because both densities are evaluated on the constrained scale
(``pymc.stats.compute_log_density`` with value transforms removed).

Also here: which parameter elements the likelihood reads (the others are left out of the ratio), the
equation parameters under a scenario (levels the data never show redrawn from its prior), and the
common space of two prior files of which only one learns the conditional scale.
"""

from __future__ import annotations

import warnings

import numpy as np

from microcalc.modelling.design import BIRADS_SLOTS
from microcalc.modelling.model import RANDOM_EFFECTS
from microcalc.modelling.predict import sample_last
from microcalc.priors import PriorSet
from microcalc.robustness.scenario_files import DESCRIPTORS


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
    scale is a parameter (its posterior draws;
    :func:`~microcalc.robustness.scenario_files.design_difference` makes sure the fit has them).
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
