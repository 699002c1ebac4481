"""From a fitted meta-analysis to the robust prior of every model level: per-unit summaries and priors.

A unit's posterior draws of (mu, tau) are summarised (:func:`summarise`: pooled rate, between-study SD,
the predictive distribution of theta_new = mu + tau z for a new study on fine theta bins, and its
normal-mixture approximation, the MAP prior). :func:`build_priors` turns the summaries into one
:class:`SynthesisPrior` per model level: the MAP mixture where the level has rows, else the hand-set
normal (:mod:`microcalc.synthesis.handset`) widened by the finding's median tau; each is then
robustified (Schmidli et al. 2014) and carries its provenance. The fitting itself is
:mod:`microcalc.synthesis.meta`, which re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import ndtr

from microcalc.synthesis._numerics import expit, logit
from microcalc.synthesis.grid import THETA_CENTRES, THETA_EDGES
from microcalc.synthesis.handset import HAND_SET
from microcalc.synthesis.levels import GROUP_UNITS, MODEL_LEVELS, SYNTHESIS_FINDINGS, Unit
from microcalc.synthesis.mixture import MixturePrior, fit_mixture

if TYPE_CHECKING:
    from microcalc.synthesis.meta import MetaSpec, Synthesis, UnitPosterior


def weighted_quantiles(x: np.ndarray, w: np.ndarray, q) -> np.ndarray:
    """Quantiles ``q`` of the weighted sample (``x``, ``w``), by interpolating its cumulative weights.

    The meta-analysis draws are importance-weighted, so plain quantiles would be wrong.
    """
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    cw /= cw[-1]
    return np.interp(np.atleast_1d(q), cw, x[order])


def predictive_masses(post: UnitPosterior) -> np.ndarray:
    """Masses of theta_new = mu + tau z on :data:`THETA_EDGES` bins (exact for every draw's normal)."""
    tau = np.maximum(post.tau, 1e-9)
    masses = np.zeros(len(THETA_CENTRES))
    for chunk in np.array_split(np.arange(len(tau)), max(1, len(tau) // 500)):
        c = ndtr((THETA_EDGES[None, :] - post.mu[chunk, None]) / tau[chunk, None])
        masses += post.weights[chunk] @ np.diff(c, axis=1)
    return masses / masses.sum()


@dataclass(frozen=True)
class UnitSummary:
    """Per unit: pooled rate (population median study), tau, and predictive intervals for a new study."""

    finding: str
    level: str
    pooled_rate: float
    pooled_lower_95: float
    pooled_upper_95: float
    tau: float
    tau_lower_95: float
    tau_upper_95: float
    predictive_mean: float
    predictive_lower_90: float
    predictive_upper_90: float
    predictive_lower_95: float
    predictive_upper_95: float
    mixture: MixturePrior
    mixture_kl: float
    is_ess: float


def summarise(post: UnitPosterior, spec: MetaSpec) -> UnitSummary:
    """Summary of one unit's meta-analysis and its MAP prior as a mixture of normals.

    The pooled rate and tau with 95% intervals, the 90% and 95% predictive intervals of a new study's
    rate, and the predictive distribution of theta_new = mu + tau z fitted by a normal mixture (EM on
    binned masses, at most ``spec.max_components`` components), the meta-analytic-predictive prior.

    References
    ----------
    Neuenschwander B, Capkun-Niggli G, Branson M, Spiegelhalter DJ. Summarizing historical information
    on controls in clinical trials. Clinical Trials 7, 5-18 (2010).
    """
    pr = weighted_quantiles(expit(post.mu), post.weights, [0.5, 0.025, 0.975])
    tq = weighted_quantiles(post.tau, post.weights, [0.5, 0.025, 0.975])
    masses = predictive_masses(post)
    cdf = np.cumsum(masses)
    q = np.interp([0.05, 0.95, 0.025, 0.975], cdf, THETA_EDGES[1:])
    # EM on 0.08-logit cells (2 bins each): ample for a prior whose SD is 0.4 logit or more
    coarse = masses.reshape(-1, 2).sum(axis=1)
    centres = THETA_CENTRES.reshape(-1, 2).mean(axis=1)
    mix, kl = fit_mixture(centres, coarse, spec.max_components)
    lo90, hi90, lo95, hi95 = (float(v) for v in expit(q))
    return UnitSummary(
        finding=post.unit[0],
        level=post.unit[1],
        pooled_rate=float(pr[0]),
        pooled_lower_95=float(pr[1]),
        pooled_upper_95=float(pr[2]),
        tau=float(tq[0]),
        tau_lower_95=float(tq[1]),
        tau_upper_95=float(tq[2]),
        predictive_mean=float(masses @ expit(THETA_CENTRES)),
        predictive_lower_90=lo90,
        predictive_upper_90=hi90,
        predictive_lower_95=lo95,
        predictive_upper_95=hi95,
        mixture=mix,
        mixture_kl=kl,
        is_ess=post.is_ess,
    )


@dataclass(frozen=True)
class SynthesisPrior:
    """The robust prior on the logit of a level's marginal malignancy rate in a new study (site).

    ``map_prior`` is the non-robust part (the MAP mixture, or the hand-set normal); ``prior`` adds the
    weakly informative component. ``source`` is "meta-analysis" or "hand-set"; ``provenance`` says which
    studies (or publications) it rests on.
    """

    parameter: str
    finding: str
    level: str
    source: str
    map_prior: MixturePrior
    prior: MixturePrior
    provenance: str
    studies: tuple[str, ...] = ()
    lesions: int = 0
    malignant: int = 0
    summary: UnitSummary | None = None

    @property
    def ess_map(self) -> float:
        """ELIR effective sample size of the MAP prior before robustification."""
        return self.map_prior.ess_elir()

    @property
    def ess(self) -> float:
        """ELIR effective sample size of the prior the model uses (robustified)."""
        return self.prior.ess_elir()


def model_units() -> list[Unit]:
    """Every model parameter level that takes a literature prior, in schema order."""
    out: list[Unit] = [("overall", "all")]
    for f in ("morphology", "distribution", "birads"):
        out += [(f, lvl) for lvl in MODEL_LEVELS[f]]
    return out


def build_priors(
    syn: Synthesis, spec: MetaSpec | None = None, summaries: dict[Unit, UnitSummary] | None = None
) -> dict[str, SynthesisPrior]:
    """Robust MAP priors for every model level (and group units), keyed 'finding.level'."""
    spec = spec or syn.spec
    if summaries is None:
        summaries = {u: summarise(p, spec) for u, p in syn.posteriors.items()}
    tau_ref = {}
    for f in SYNTHESIS_FINDINGS:
        taus = [s.tau for (ff, _), s in summaries.items() if ff == f and len(syn.posteriors[(ff, _)].studies) >= 2]
        tau_ref[f] = float(np.median(taus)) if taus else spec.tau_scale
    out: dict[str, SynthesisPrior] = {}
    units = model_units() + [(f, g) for f, gs in GROUP_UNITS.items() for g in gs]
    for u in units:
        name = f"{u[0]}.{u[1]}"
        post = syn.posteriors.get(u)
        if post is not None and u in summaries:
            s = summaries[u]
            n_studies = len(post.studies)
            prov = (
                f"meta-analysis of {n_studies} stud{'y' if n_studies == 1 else 'ies'} "
                f"({', '.join(post.studies)}; {post.lesions} lesions in rows of this level)"
            )
            pooled = post.pooled_rows
            if pooled:
                prov += "; pooled rows " + ", ".join(f"{r.study_id} {r.level} ({r.total} lesions)" for r in pooled)
            shifted = [r for r in post.rows if r.restriction is not None]
            if shifted:
                prov += "; shifted rows " + ", ".join(f"{r.study_id} (within {r.restriction[1]})" for r in shifted)
            if n_studies == 1:
                prov += "; single study: between-study SD from its prior only"
            mp = s.mixture
            out[name] = SynthesisPrior(
                name,
                u[0],
                u[1],
                "meta-analysis",
                mp,
                mp.robustify(spec.robust_weight, sd=spec.robust_sd),
                prov,
                post.studies,
                post.lesions,
                post.malignant,
                s,
            )
        elif u in HAND_SET:
            h = HAND_SET[u]
            sd = float(np.sqrt(h.se**2 + tau_ref[u[0]] ** 2))
            mp = MixturePrior.normal(float(logit(h.rate)), sd)
            prov = f"{h.source}; SD = sqrt(SE^2 + tau_ref^2), tau_ref = {tau_ref[u[0]]:.2f} ({u[0]} median)"
            out[name] = SynthesisPrior(
                name, u[0], u[1], "hand-set", mp, mp.robustify(spec.robust_weight, sd=spec.robust_sd), prov
            )
    return out


__all__ = [
    "UnitSummary",
    "SynthesisPrior",
    "summarise",
    "build_priors",
    "model_units",
    "predictive_masses",
    "weighted_quantiles",
]
