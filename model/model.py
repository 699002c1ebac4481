"""The hierarchical malignancy model, written once.

:func:`malignancy_probability` is the model's equation; :func:`build_model` wraps it in PyMC with
the priors of a :class:`~microcalc.priors.PriorSet`, and prediction evaluates the very same function
with NumPy on posterior draws. Everything else (fit, predict, report, sensitivity) reads from here.

    eta   = intercept + morphology_effect . w_morph + distribution_effect . w_dist
            + not_recorded . flags + covariate_effect . x + site_effect[site]
    P(malignant) = sum over BI-RADS slots s of  w_s * logistic(eta + birads_effect[s])

* descriptor effects (morphology, distribution) are partially pooled:
  effect_k = conditional_scale * (logit PPV_k - logit reference) + group_shift[benign|suspicious] + sd * z_k
* BI-RADS is ordinal: 2 < 3 < 4A < 4B (= 0, reference) < 4C < 5 through positive LogNormal steps;
  an unsplit 4 is a fixed mixture of 4A/4B/4C (weights from the prior file).
* site is a non-centred random effect (the centred form diverged in 59 of 100 SBC replications,
  mostly where the true site SD was small); a new or blank site is integrated over N(0, site_sd)
  by Gauss-Hermite quadrature instead of pretending to know it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from microcalc import schema
from microcalc.design import BIRADS_SLOTS, NOT_RECORDED_FLAGS, Design, Patterns
from microcalc.priors import BIRADS_STEPS_ABOVE_4B, BIRADS_STEPS_BELOW_4B, Prior, PriorSet

# Parameters the equation reads, in the order they are stored in a fit.
EQUATION_PARAMETERS: tuple[str, ...] = (
    "intercept", "morphology_effect", "distribution_effect", "not_recorded",
    "covariate_effect", "birads_effect", "site_effect", "site_sd",
)
# Free parameter groups, for diagnostics and sensitivity (deterministics excluded).
PARAMETER_GROUPS: tuple[str, ...] = (
    "intercept", "site_sd", "site_z", "morphology_group_shift", "morphology_sd", "morphology_z",
    "distribution_group_shift", "distribution_sd", "distribution_z", "not_recorded",
    "covariate_effect", "birads_step", "birads_category_0", "birads_not_recorded",
)
GAUSS_HERMITE_NODES = 9


@dataclass(frozen=True)
class Ops:
    """The two operations the equation needs, for NumPy or PyTensor."""

    dot: Callable
    sigmoid: Callable


def numpy_ops() -> Ops:
    from scipy.special import expit

    return Ops(dot=np.dot, sigmoid=expit)


def pytensor_ops() -> Ops:
    import pytensor.tensor as pt

    return Ops(dot=pt.dot, sigmoid=pt.sigmoid)


def new_site_nodes(k: int = GAUSS_HERMITE_NODES) -> tuple[tuple[float, float], ...]:
    """Gauss-Hermite nodes and weights for averaging over a standard normal site effect."""
    x, w = np.polynomial.hermite_e.hermegauss(k)
    return tuple(zip((w / w.sum()).tolist(), x.tolist()))


def linear_predictor(params: dict, d: Design, ops: Ops):
    """Log-odds before the BI-RADS category; params carry a trailing draw axis."""
    eta = (
        params["intercept"]
        + ops.dot(d.morphology, params["morphology_effect"])
        + ops.dot(d.distribution, params["distribution_effect"])
        + ops.dot(d.not_recorded, params["not_recorded"])
        + ops.dot(d.covariates, params["covariate_effect"])
    )
    return eta + params["site_effect"][d.site] * d.known_site[:, None]


def birads_components(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each lesion's BI-RADS slots with non-zero weight, as (slot index, weight) columns.

    A lesion has one slot, or three for an unsplit 4, so evaluating only these (not all eight
    slots) keeps the cost of a log-density evaluation low.
    """
    width = max(int((weights > 0).sum(axis=1).max()), 1) if len(weights) else 1
    slots = np.argsort(-weights, axis=1, kind="stable")[:, :width]
    return slots, np.take_along_axis(weights, slots, axis=1)


def malignancy_probability(params: dict, d: Design, ops: Ops, nodes=((1.0, 0.0),)):
    """P(malignant) per lesion and draw, shape (n, draws): BI-RADS mixture, site integrated if new."""
    eta = linear_predictor(params, d, ops)
    new_site = (1.0 - d.known_site)[:, None]
    if not new_site.any():
        nodes = ((1.0, 0.0),)
    slots, weights = birads_components(d.birads)
    p = 0.0
    for node_weight, z in nodes:
        shifted = eta + new_site * (z * params["site_sd"]) if z else eta
        for k in range(slots.shape[1]):
            effect = params["birads_effect"][slots[:, k]]
            p = p + node_weight * weights[:, k : k + 1] * ops.sigmoid(shifted + effect)
    return p


def coords(priors: PriorSet, sites: tuple[str, ...], n_patterns: int) -> dict[str, list]:
    """Named dimensions of the model (and of the stored posterior)."""
    return {
        "morphology": list(schema.MORPHOLOGY),
        "distribution": list(schema.DISTRIBUTION),
        "lexicon_group": ["benign", "suspicious"],
        "not_recorded_flag": list(NOT_RECORDED_FLAGS),
        "covariate": priors.coefficient_names(),
        "step": [*BIRADS_STEPS_BELOW_4B, *BIRADS_STEPS_ABOVE_4B],
        "birads_slot": list(BIRADS_SLOTS),
        "site": list(sites),
        "pattern": list(range(n_patterns)),
    }


def _random_variable(pm, name: str, prior: Prior, **kwargs):
    """A PyMC random variable from a prior-file entry."""
    if prior.distribution == "Normal":
        return pm.Normal(name, mu=prior.mu, sigma=prior.sigma, **kwargs)
    if prior.distribution == "HalfNormal":
        return pm.HalfNormal(name, sigma=prior.sigma, **kwargs)
    if prior.distribution == "LogNormal":
        return pm.LogNormal(name, mu=prior.mu, sigma=prior.sigma, **kwargs)
    raise ValueError(f"unsupported prior distribution {prior.distribution!r} for {name}")


def _descriptor_effect(pm, name: str, levels: tuple[str, ...], priors: PriorSet):
    """Partially pooled level effects around a benign and a suspicious group shift."""
    spec = getattr(priors, name)
    missing = [lvl for lvl in levels if lvl not in spec.levels]
    if missing:
        raise ValueError(f"prior file has no {name} entry for {', '.join(missing)}")
    literature = priors.literature_logit(name)
    centre = np.array([literature[lvl] for lvl in levels])
    group = np.array([spec.groups.index(spec.levels[lvl].group) for lvl in levels])
    shift = _random_variable(pm, f"{name}_group_shift", spec.group_shift, dims="lexicon_group")
    sd = _random_variable(pm, f"{name}_sd", spec.level_sd)
    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=name)
    return pm.Deterministic(f"{name}_effect", centre + shift[group] + sd * z, dims=name)


def _birads_effect(pm, pt, priors: PriorSet):
    """Ordered BI-RADS slot effects (4B = 0) from positive steps, plus free 0 and not-recorded."""
    names = [*BIRADS_STEPS_BELOW_4B, *BIRADS_STEPS_ABOVE_4B]
    steps = pm.LogNormal(
        "birads_step",
        mu=np.array([priors.birads_steps[k].mu for k in names]),
        sigma=np.array([priors.birads_steps[k].sigma for k in names]),
        dims="step",
    )
    cat0 = _random_variable(pm, "birads_category_0", priors.birads_category_0)
    blank = _random_variable(pm, "birads_not_recorded", priors.not_recorded)
    e4a = -steps[0]
    e3 = e4a - steps[1]
    e2 = e3 - steps[2]
    e4c = steps[3]
    e5 = e4c + steps[4]
    slots = pt.stack([cat0, e2, e3, e4a, pt.zeros(()), e4c, e5, blank])
    return pm.Deterministic("birads_effect", slots, dims="birads_slot")


def build_model(patterns: Patterns, priors: PriorSet, sites: tuple[str, ...]):
    """The PyMC model of malignancy for aggregated training patterns (binomial likelihood)."""
    import pymc as pm
    import pytensor.tensor as pt

    d = patterns.design
    with pm.Model(coords=coords(priors, sites, len(patterns.trials))) as model:
        intercept = _random_variable(pm, "intercept", priors.intercept)
        site_sd = _random_variable(pm, "site_sd", priors.site_sd)
        site_z = pm.Normal("site_z", 0.0, 1.0, dims="site")
        site_effect = pm.Deterministic("site_effect", site_sd * site_z, dims="site")
        morphology = _descriptor_effect(pm, "morphology", schema.MORPHOLOGY, priors)
        distribution = _descriptor_effect(pm, "distribution", schema.DISTRIBUTION, priors)
        flags = pm.Normal("not_recorded", priors.not_recorded.mu, priors.not_recorded.sigma, dims="not_recorded_flag")
        mus, sds = priors.coefficient_priors()
        coefficient = pm.Normal("covariate_effect", mu=np.array(mus), sigma=np.array(sds), dims="covariate")
        birads = _birads_effect(pm, pt, priors)
        params = {
            "intercept": intercept, "morphology_effect": morphology, "distribution_effect": distribution,
            "not_recorded": flags, "covariate_effect": coefficient, "birads_effect": birads,
            "site_effect": site_effect, "site_sd": site_sd,
        }
        padded = {k: pt.shape_padright(v) for k, v in params.items()}
        p = malignancy_probability(padded, d, pytensor_ops())[:, 0]
        pm.Binomial(
            "malignant", n=patterns.trials, p=pt.clip(p, 1e-12, 1 - 1e-12),
            observed=patterns.malignant, dims="pattern",
        )
    return model
