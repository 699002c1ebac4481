"""BI-RADS step priors derived from the studies table (``[meta] birads_steps = "studies"``); the category-4 mix checked.

The model's BI-RADS effect is ordinal: positive log-odds steps 2 -> 3 -> 4A -> 4B -> 4C -> 5
(:mod:`microcalc.modelling.model`). A step is a contrast *within* a population (a site's case selection
moves every category together), so it is taken from series that report both of its categories:

* each study's step is d = logit(rate of the upper category) - logit(rate of the lower one), +0.5
  continuity, variance 1/(y + 0.5) + 1/(n - y + 0.5) summed over the two rows (disjoint lesions);
* the studies are pooled by a Bayesian normal-normal random-effects model, mu flat, tau ~
  HalfNormal(:data:`TAU_SCALE`), integrated on a grid; the prior of the step is the **predictive
  distribution of a new population's step** (mean and SD: the pooled mean's uncertainty plus tau), the
  meta-analytic-predictive idea (Neuenschwander et al. 2010) applied to a contrast;
* a LogNormal with that mean and SD (moments matched) keeps the step positive, as the model needs.

Why Bayesian and not DerSimonian-Laird as for the level centres (:mod:`microcalc.synthesis.priorfile`):
a level centre only sets the mean of a level that has its own deviation SD, while a step prior is the
whole prior of a parameter the bundled data barely see (DDSM predates the 4A/4B/4C split). With two
studies DL puts tau at 0 for every step, and the prior would be as narrow as two series' sampling
error. ``TAU_SCALE = 0.5``: the level contrasts of the same table have DL tau 0-0.32, except coarse
heterogeneous (1.0); HalfNormal(0.5) has median 0.34 and allows 1.

Rows that pool categories give no step of their own: an undivided 4 is a mixture of 4A/4B/4C, and
Jksr 2009's 4BC of 4B/4C, so 3 -> 4A has one study (jksr2009, 0/4 against 3/40) and 2 -> 3 none: those
steps keep their hand-set priors, marked. The **category-4 mix** (the 4A/4B/4C shares of an unsplit 4)
stays the prior file's own number: it is part of how a lesion is encoded, and prior files that encode
lesions differently cannot be compared by reweighting one fit (:mod:`microcalc.robustness.scenarios`).
:func:`check_steps` checks it against the pooled share of the series that split 4 into all three
(321/366/238 lesions: 0.347/0.396/0.257, against the files' 0.348/0.399/0.253 from Eur J Radiol 2017).

The numbers are written into the prior file, as the level centres are, by
``python -m microcalc.synthesis.priorfile FILE``, and :func:`check_steps` says when they go stale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microcalc.synthesis._numerics import empirical_logit, empirical_logit_variance

MIN_STUDIES = 2
TAU_SCALE = 0.5
TAU_GRID = 2001
MIX_TOLERANCE = 0.01  # the file's category-4 shares may differ this much from the table's pooled shares
DIGITS = 3
# the ordinal steps below and above the 4B reference, with the categories each one separates
STEP_CATEGORIES: dict[str, tuple[str, str]] = {
    "step_2_to_3": ("2", "3"),
    "step_3_to_4A": ("3", "4A"),
    "step_4A_to_4B": ("4A", "4B"),
    "step_4B_to_4C": ("4B", "4C"),
    "step_4C_to_5": ("4C", "5"),
}
SUBCATEGORIES: tuple[str, ...] = ("4A", "4B", "4C")


@dataclass(frozen=True)
class StudyStep:
    """One study's log-odds step between two BI-RADS categories."""

    study_id: str
    lower: tuple[int, int]  # malignant, total of the lower category
    upper: tuple[int, int]
    step: float
    variance: float


@dataclass(frozen=True)
class DerivedStep:
    """A step's predictive prior for a new population: normal moments and the matching LogNormal."""

    name: str
    mean: float
    sd: float
    tau: float  # posterior mean of the between-study SD
    mu: float  # LogNormal parameters (log scale)
    sigma: float
    studies: tuple[StudyStep, ...]

    def provenance(self) -> str:
        """The source text written into the prior file."""
        lo, hi = STEP_CATEGORIES[self.name]
        parts = ", ".join(
            f"{s.study_id} {s.lower[0]}/{s.lower[1]} vs {s.upper[0]}/{s.upper[1]} ({s.step:+.2f})" for s in self.studies
        )
        return (
            f"studies table: within-study step {lo} -> {hi}, predictive for a new population mean {self.mean:.3f}, "
            f"SD {self.sd:.3f} (normal-normal random effects, tau ~ HalfNormal({TAU_SCALE}), posterior mean tau "
            f"{self.tau:.2f}; {len(self.studies)} studies: {parts}); LogNormal with these moments"
        )


def study_steps(rows) -> dict[str, list[StudyStep]]:
    """Per step, each study reporting both of its categories as rows of their own (not pooled)."""
    by_study: dict[str, dict[str, tuple[int, int]]] = {}
    for r in rows:
        if r.finding == "birads" and not r.pooled:
            by_study.setdefault(r.study_id, {})[r.level] = (r.malignant, r.total)
    out: dict[str, list[StudyStep]] = {}
    for name, (lo, hi) in STEP_CATEGORIES.items():
        for study, levels in sorted(by_study.items()):
            if lo in levels and hi in levels:
                a, b = levels[lo], levels[hi]
                d = empirical_logit(*b) - empirical_logit(*a)
                v = empirical_logit_variance(*a) + empirical_logit_variance(*b)
                out.setdefault(name, []).append(StudyStep(study, a, b, d, v))
    return out


def predictive(d, v, tau_scale: float = TAU_SCALE) -> tuple[float, float, float]:
    """Mean and SD of a new study's effect under normal-normal random effects, and the posterior mean tau.

    mu has a flat prior (integrated analytically given tau), tau ~ HalfNormal(tau_scale) on a grid to
    4 * tau_scale; the predictive is the mixture over tau of N(mu_hat(tau), V(tau) + tau^2).
    """
    d, v = np.asarray(d, float), np.asarray(v, float)
    taus = np.linspace(0.0, 4.0 * tau_scale, TAU_GRID)[:, None]
    w = 1.0 / (v + taus**2)
    mean_t = (w * d).sum(axis=1, keepdims=True) / w.sum(axis=1, keepdims=True)
    var_t = 1.0 / w.sum(axis=1, keepdims=True)
    log_post = (
        -0.5 * (np.log(v + taus**2) + (d - mean_t) ** 2 * w).sum(axis=1, keepdims=True)
        + 0.5 * np.log(var_t)
        - 0.5 * (taus / tau_scale) ** 2
    )
    p = np.exp(log_post - log_post.max())
    p /= p.sum()
    mean = float((p * mean_t).sum())
    second = float((p * (var_t + taus**2 + mean_t**2)).sum())
    return mean, math.sqrt(max(second - mean**2, 0.0)), float((p * taus).sum())


def lognormal_moments(mean: float, sd: float) -> tuple[float, float]:
    """(mu, sigma) of the LogNormal with this mean and SD (mean > 0)."""
    if mean <= 0:
        raise ValueError(f"a BI-RADS step must be positive on average, got a pooled mean of {mean:.3f}")
    sigma = math.sqrt(math.log(1.0 + (sd / mean) ** 2))
    return math.log(mean) - 0.5 * sigma**2, sigma


def derived_steps(studies_path: str | Path | None = None, tau_scale: float = TAU_SCALE) -> dict[str, DerivedStep]:
    """The steps with >= :data:`MIN_STUDIES` studies, keyed by step name (``step_4A_to_4B``, ...)."""
    from microcalc.synthesis import studies as st

    rows, _ = st.likelihood_rows(st.load_studies(studies_path))
    out = {}
    for name, found in study_steps(rows).items():
        if len(found) < MIN_STUDIES:
            continue
        mean, sd, tau = predictive([s.step for s in found], [s.variance for s in found], tau_scale)
        mu, sigma = lognormal_moments(mean, sd)
        out[name] = DerivedStep(name, mean, sd, tau, round(mu, DIGITS), round(sigma, DIGITS), tuple(found))
    return out


def category4_mix(studies_path: str | Path | None = None) -> tuple[dict[str, float], str]:
    """The 4A/4B/4C shares of an unsplit 4 and their provenance.

    They are the pooled lesion shares of the series that split category 4 into all three (the same
    weights the synthesis gives a pooled "4" row).
    """
    from microcalc.synthesis import studies as st
    from microcalc.synthesis.terms import component_weights, weights_source

    table = st.load_studies(studies_path)
    mix = {c: round(w, DIGITS) for c, w in component_weights(table, "birads", SUBCATEGORIES)}
    return mix, f"studies table: 4A / 4B / 4C {weights_source(table, 'birads', SUBCATEGORIES)}"


def check_steps(priors, studies_path: str | Path | None = None) -> list[str]:
    """Differences between a prior set's derived BI-RADS steps and a fresh synthesis of the table.

    Also flags a category-4 mix further than :data:`MIX_TOLERANCE` from the table's pooled shares.
    """
    if priors.birads_steps_origin != "studies":
        return []
    derived = derived_steps(studies_path)
    problems = []
    for name, prior in priors.birads_steps.items():
        step = derived.get(name)
        if step is None:
            if name in priors.birads_derived:
                problems.append(f"birads.{name} is marked origin = studies but has fewer than {MIN_STUDIES} studies")
        elif name not in priors.birads_derived:
            problems.append(f"birads.{name} has {len(step.studies)} studies but is hand-set")
        elif abs(prior.mu - step.mu) > 5e-4 or abs(prior.sigma - step.sigma) > 5e-4:
            problems.append(f"birads.{name} LogNormal({prior.mu}, {prior.sigma}) != derived ({step.mu}, {step.sigma})")
    mix, _ = category4_mix(studies_path)
    if any(abs(priors.category4_mix[c] - mix[c]) > MIX_TOLERANCE for c in SUBCATEGORIES):
        problems.append(
            f"birads.category4_mix {priors.category4_mix} is more than {MIX_TOLERANCE} from the table's {mix}"
        )
    return problems
