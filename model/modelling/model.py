"""The hierarchical malignancy model, written once.

:func:`malignancy_probability` is the model's equation; :func:`build_model` wraps it in PyMC with
the priors of a :class:`~microcalc.priors.PriorSet`, and prediction evaluates the very same function
with NumPy on posterior draws. Everything else (fit, predict, report, sensitivity) reads from here.

    eta   = intercept + morphology_effect . w_morph + distribution_effect . w_dist
            + not_recorded . flags + covariate_effect . x + site_effect[site]
    P(malignant) = sum over BI-RADS slots s of  w_s * logistic(eta + birads_effect[s])

* descriptor effects (morphology, distribution) are partially pooled:
  effect_k = s * (logit PPV_k - logit reference) + group_shift[benign|suspicious] + sd_k * z_k
  where s is ``conditional_scale`` and sd_k = sqrt(sd^2 + (s * centre_sd_k)^2) (:func:`level_scale`).

  **Where the centres come from, and the marginal -> conditional link.** Both ``priors/default.toml``
  and ``priors/synthesis.toml`` derive them from the studies table (:mod:`microcalc.synthesis.priorfile`):
  the reference is the meta-analytic-predictive (MAP) mean of a new series' overall rate, and for every
  level that >= 2 studies report beside other levels, logit PPV_k - logit reference is the level's
  within-study contrast (random-effects mean of logit(level rate) - logit(study's rate over that
  finding): selection, which moves all levels of a study together, cancels, as site effects absorb it
  here), centre_sd_k its SE, so the literature's own uncertainty about each level enters its prior;
  other levels are hand-set and marked. The default takes a pooled figure from outside the table (Rominger
  2012) as the prior of the contrast, with s = 0.6 fixed, z ~ N(0, 1); ``priors/handset.toml``: the old one. (The levels' own MAP means as centres were tried first: they
  are confounded by which selected series report a level, and lost 0.003 log loss in CV.) Published PPVs are
  *marginal* (averaged over the other findings); the model's effects are *conditional* on BI-RADS, which
  radiologists assign largely from these same descriptors, and on the other descriptor, so the
  conditional contrast is an attenuated copy of the marginal one: s in (0, 1) is then a parameter with a
  Beta(3, 2) prior (mean 0.6, the old judgement), shared by morphology and distribution and learned
  from the training data, instead of a fixed number. This construction was chosen over a
  ``pm.Potential`` on the model-implied marginal rate per level (the robust MAP density of
  ``MixturePrior.logpdf_tensor`` evaluated at logit of the training case mix' average P(malignant |
  level)) because it keeps a proper generative prior (prior draws, SBC and PSIS sensitivity need one;
  a Potential is not sampled by ``sample_prior_predictive``), makes the prior independent of the
  training case mix, and costs nothing per gradient; the Potential would match marginal to marginal
  exactly, at the price of a data-dependent prior.
  **Robustness.** With ``[level_deviation] nu = 4`` the z_k are Student-t(4): a level whose data
  contradict its literature centre can leave it without inflating sd for every level (a continuous
  scale mixture, the robust-prior idea of Schmidli et al. 2014). The two-normal form
  (1 - w) N(0, 1) + w N(0, k) (``robust_weight``, ``robust_scale``) is supported too; on the bundled data
  it mixed too slowly at default settings (R-hat 1.017 on fine_pleomorphic's z), the t did not.
  Both are scale families in sd_k, so the non-centred z and the centred/non-centred equivalence hold.
* BI-RADS is ordinal: 2 < 3 < 4A < 4B (= 0, reference) < 4C < 5 through positive LogNormal steps;
  an unsplit 4 is a fixed mixture of 4A/4B/4C (weights from the prior file).
* site effects are a random effect N(0, site_sd); a new or blank site is integrated over
  N(0, site_sd) by Gauss-Hermite quadrature instead of pretending to know it.
* each level of a random effect (site, morphology, distribution) is sampled non-centred (z) unless
  the data behind it pin it down, then centred (the effect itself): see :func:`centred_levels`.
  At the bundled 617 lesions every level is non-centred.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from microcalc.io import schema
from microcalc.modelling.design import BIRADS_SLOTS, NOT_RECORDED_FLAGS, Design, Patterns
from microcalc.modelling.likelihood import clip_probability
from microcalc.priors import BIRADS_STEPS_ABOVE_4B, BIRADS_STEPS_BELOW_4B, Prior, PriorSet

# Parameters the equation reads, in the order they are stored in a fit.
EQUATION_PARAMETERS: tuple[str, ...] = (
    "intercept",
    "morphology_effect",
    "distribution_effect",
    "not_recorded",
    "covariate_effect",
    "birads_effect",
    "site_effect",
    "site_sd",
)
# Parameter groups, for diagnostics and sensitivity. Each *_z is the levels' standardised deviation
# (effect - mean) / sd: the free variable when every level is non-centred, else a deterministic of the
# free *_raw (see :func:`_level_effect`). ``conditional_scale`` exists only when the prior file makes it a
# parameter (``[conditional_scale]``, e.g. priors/synthesis.toml); consumers keep the groups a model has.
PARAMETER_GROUPS: tuple[str, ...] = (
    "intercept",
    "site_sd",
    "site_z",
    "conditional_scale",
    "morphology_group_shift",
    "morphology_sd",
    "morphology_z",
    "distribution_group_shift",
    "distribution_sd",
    "distribution_z",
    "not_recorded",
    "covariate_effect",
    "birads_step",
    "birads_category_0",
    "birads_not_recorded",
)
RANDOM_EFFECTS: tuple[str, ...] = ("site", "morphology", "distribution")
GAUSS_HERMITE_NODES = 9
# A level is sampled centred when its binomial information exceeds this: the data then fix its
# log-odds to within 1/sqrt(1000) = 0.03, narrower than all but the lowest ~4% of level SDs the
# priors allow. The bundled data's largest level carries 86 (fine pleomorphic, grouped), so it stays
# non-centred there with a margin of more than 10x.
CENTRED_INFORMATION = 1000.0


@dataclass(frozen=True)
class Ops:
    """The two operations the equation needs, for NumPy or PyTensor."""

    dot: Callable
    sigmoid: Callable


def logistic(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in NumPy (importing SciPy's expit costs 0.16 s per process).

    exp(-x) overflows to inf for x < -709, which gives the correct limit 0; the warning is silenced.
    """
    out = np.negative(x, dtype=np.float64, out=np.empty(np.shape(x)))  # one array, reused in place: prediction
    with np.errstate(over="ignore"):  # arrays are large, temporaries costly
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


ROW_BLOCK = 128


def row_stable_dot(a: np.ndarray, b: np.ndarray, block: int = ROW_BLOCK) -> np.ndarray:
    """``a @ b`` whose every row is bit-identical whichever other rows come with it.

    BLAS picks its kernels by matrix shape, so the same design row multiplied as part of 7 rows or
    of 3,000 can differ in the last bit (seen: 2 of 2,468 predictions between a file scored whole
    and in Dask partitions). Multiplying in zero-padded blocks of a fixed height makes every call
    the same shape, so a lesion's prediction does not depend on how the file was split. It costs
    nothing measurable (BLAS still does the work).
    """
    if a.ndim != 2 or b.ndim != 2:
        return np.dot(a, b)
    n, dtype = a.shape[0], np.result_type(a, b, np.float64)
    padded = np.zeros((-(-n // block) * block, a.shape[1]), dtype)
    padded[:n] = a
    b = np.ascontiguousarray(b, dtype)
    out = np.empty((padded.shape[0], b.shape[1]), dtype)
    for start in range(0, padded.shape[0], block):
        np.dot(padded[start : start + block], b, out=out[start : start + block])
    return out[:n]


def numpy_ops() -> Ops:
    """The equation's operations in NumPy, for prediction from posterior draws.

    The product is :func:`row_stable_dot`, so a lesion's prediction does not depend on the rows scored with it.
    """
    return Ops(dot=row_stable_dot, sigmoid=logistic)


def pytensor_ops() -> Ops:
    """The equation's operations in PyTensor, for building the PyMC model."""
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


def centred_levels(
    trials: np.ndarray, malignant: np.ndarray, weights: np.ndarray, threshold: float = CENTRED_INFORMATION
) -> np.ndarray:
    """Which levels to sample centred: those whose binomial information n p (1 - p) exceeds ``threshold``.

    ``weights`` (patterns, levels) says how much of each pattern's lesions belong to each level.
    A non-centred level (effect = mean + sd * z) mixes well when the data say little about it, but
    when the data fix the effect, z and sd form a narrow ridge (z = (effect - mean) / sd) that the
    sampler crosses in hundreds of tiny steps; a centred level (effect ~ N(mean, sd)) is the reverse
    (a funnel where data are thin: 59 of 100 SBC replications diverged with centred sites at 617
    lesions). The information uses p = (malignant + 0.5) / (n + 1), so a level with no malignant (or
    no benign) lesions counts as thin: its data bound the effect on one side only.
    """
    n = weights.T @ trials
    m = weights.T @ malignant
    p = (m + 0.5) / (n + 1.0)
    return n * p * (1.0 - p) > threshold


def level_weights(patterns: Patterns, n_sites: int) -> dict[str, np.ndarray]:
    """Share of each pattern's lesions in each level of every random effect (a new site counts nowhere)."""
    d = patterns.design
    site = np.zeros((len(d.site), n_sites))
    if n_sites:
        site[np.arange(len(d.site)), d.site] = d.known_site
    return {"site": site, "morphology": d.morphology, "distribution": d.distribution}


def parameterisation(patterns: Patterns, n_sites: int) -> dict[str, np.ndarray]:
    """Per random effect, which of its levels are sampled centred (at the module's CENTRED_INFORMATION)."""
    return {
        name: centred_levels(patterns.trials, patterns.malignant, w, CENTRED_INFORMATION)
        for name, w in level_weights(patterns, n_sites).items()
    }


def _random_variable(pm, name: str, prior: Prior, **kwargs):
    """A PyMC random variable from a prior-file entry."""
    if prior.distribution == "Normal":
        return pm.Normal(name, mu=prior.mu, sigma=prior.sigma, **kwargs)
    if prior.distribution == "HalfNormal":
        return pm.HalfNormal(name, sigma=prior.sigma, **kwargs)
    if prior.distribution == "LogNormal":
        return pm.LogNormal(name, mu=prior.mu, sigma=prior.sigma, **kwargs)
    if prior.distribution == "Beta":
        return pm.Beta(name, alpha=prior.alpha, beta=prior.beta, **kwargs)
    raise ValueError(f"unsupported prior distribution {prior.distribution!r} for {name}")


def _level_effect(pm, pt, name: str, mean, sd, centred: np.ndarray, robust=None):
    """Levels with effect ~ N(mean, sd) (or a robust scale mixture), each sampled centred or non-centred.

    All non-centred (the bundled data): the free variable is ``{name}_z``, effect = mean + sd * z, with
    z ~ N(0, 1), or with ``robust`` (a :class:`~microcalc.priors.RobustDeviation`) z ~ (1 - w) N(0, 1) +
    w N(0, k): the deviation's prior is then (1 - w) N(0, sd) + w N(0, k sd), a scale family in sd, so z
    stays independent of sd and the non-centred geometry is unchanged. Otherwise the free variable
    ``{name}_raw`` holds the effect where ``centred`` and z elsewhere (the same prior on the effect
    either way), and ``{name}_z`` = (effect - mean) / sd is stored as a deterministic, so downstream
    code reads ``{name}_z`` and ``{name}_effect`` in both.
    """

    def prior(var: str, mu, sigma):
        if robust is None:
            return pm.Normal(var, mu=mu, sigma=sigma, dims=name)
        if robust.nu is not None:
            return pm.StudentT(var, nu=robust.nu, mu=mu, sigma=sigma, dims=name)
        mu2 = pt.stack([mu + pt.zeros_like(sigma), mu + pt.zeros_like(sigma)], axis=-1)
        sigma2 = pt.stack([sigma + pt.zeros_like(mu), robust.scale * sigma + pt.zeros_like(mu)], axis=-1)
        return pm.NormalMixture(var, w=np.array([1.0 - robust.weight, robust.weight]), mu=mu2, sigma=sigma2, dims=name)

    n = len(centred)
    if not centred.any():
        z = prior(f"{name}_z", pt.zeros(n), pt.ones(n))
        return pm.Deterministic(f"{name}_effect", mean + sd * z, dims=name)
    mean_v = mean + pt.zeros(n)
    raw = prior(f"{name}_raw", pt.where(centred, mean_v, 0.0), pt.where(centred, sd, 1.0) + pt.zeros(n))
    pm.Deterministic(f"{name}_z", pt.where(centred, (raw - mean) / sd, raw), dims=name)
    return pm.Deterministic(f"{name}_effect", pt.where(centred, raw, mean + sd * raw), dims=name)


def level_scale(sd, scale, centre_sd):
    """SD of each level's effect around its centre: sqrt(sd^2 + (scale * centre_sd)^2).

    ``centre_sd`` is the uncertainty of the published contrast itself (the SE of the level's pooled
    within-study contrast, :mod:`microcalc.synthesis.priorfile`): the true marginal contrast is N(contrast, centre_sd^2), so its
    conditional copy scale * contrast carries scale * centre_sd on top of the site's own deviation sd.
    A level the literature knows well is held to its centre; one resting on a few studies is not.
    Works for NumPy draws and PyTensor variables alike.
    """
    return (sd**2 + (scale * centre_sd) ** 2) ** 0.5


def _descriptor_effect(pm, pt, name: str, levels: tuple[str, ...], priors: PriorSet, centred: np.ndarray, scale):
    """Partially pooled level effects around a benign and a suspicious group shift.

    centre_k = scale * (logit ppv_k - logit reference): ``scale`` is the fixed number of the prior file or
    the learned ``conditional_scale`` parameter (shared by morphology and distribution). Each level's
    deviation has SD :func:`level_scale` (sd itself when the file gives no ``centre_sd``).
    """
    spec = getattr(priors, name)
    missing = [lvl for lvl in levels if lvl not in spec.levels]
    if missing:
        raise ValueError(f"prior file has no {name} entry for {', '.join(missing)}")
    contrast = priors.literature_contrast(name)
    centre = scale * np.array([contrast[lvl] for lvl in levels])
    group = np.array([spec.groups.index(spec.levels[lvl].group) for lvl in levels])
    shift = _random_variable(pm, f"{name}_group_shift", spec.group_shift, dims="lexicon_group")
    sd = _random_variable(pm, f"{name}_sd", spec.level_sd)
    centre_sd = priors.centre_sd(name)
    u = np.array([centre_sd[lvl] for lvl in levels])
    if u.any():
        sd = level_scale(sd, scale, u)
    return _level_effect(pm, pt, name, centre + shift[group], sd, centred, priors.level_deviation)


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
    centred = parameterisation(patterns, len(sites))
    with pm.Model(coords=coords(priors, sites, len(patterns.trials))) as model:
        intercept = _random_variable(pm, "intercept", priors.intercept)
        site_sd = _random_variable(pm, "site_sd", priors.site_sd)
        site_effect = _level_effect(pm, pt, "site", 0.0, site_sd, centred["site"])
        scale_prior = priors.scale_prior
        scale = (
            _random_variable(pm, "conditional_scale", scale_prior) if scale_prior is not None else priors.scale_value
        )
        morphology = _descriptor_effect(pm, pt, "morphology", schema.MORPHOLOGY, priors, centred["morphology"], scale)
        distribution = _descriptor_effect(
            pm, pt, "distribution", schema.DISTRIBUTION, priors, centred["distribution"], scale
        )
        flags = pm.Normal("not_recorded", priors.not_recorded.mu, priors.not_recorded.sigma, dims="not_recorded_flag")
        mus, sds = priors.coefficient_priors()
        coefficient = pm.Normal("covariate_effect", mu=np.array(mus), sigma=np.array(sds), dims="covariate")
        birads = _birads_effect(pm, pt, priors)
        params = {
            "intercept": intercept,
            "morphology_effect": morphology,
            "distribution_effect": distribution,
            "not_recorded": flags,
            "covariate_effect": coefficient,
            "birads_effect": birads,
            "site_effect": site_effect,
            "site_sd": site_sd,
        }
        padded = {k: pt.shape_padright(v) for k, v in params.items()}
        p = malignancy_probability(padded, d, pytensor_ops())[:, 0]
        pm.Binomial(
            "malignant",
            n=patterns.trials,
            p=clip_probability(p),
            observed=patterns.malignant,
            dims="pattern",
        )
    return model
