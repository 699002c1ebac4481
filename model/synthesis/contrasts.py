"""Within-study contrasts of a finding's levels, and their random-effects pooling.

A published series' rate of one level is confounded by how the series selected its lesions (a BI-RADS
4-5 series, women aged >= 70, a 4A-only sample). Its *contrast* against all the series' lesions of the
same finding is not: the selection moves every level of the series together and cancels. These
contrasts are what the derived level centres (:mod:`microcalc.synthesis.priorfile`) and the intercept
(:mod:`microcalc.synthesis.intercept`) are built from, pooled over series by DerSimonian-Laird and added
to the same reference, the MAP mean of a new series' overall rate (:func:`overall_reference`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from microcalc.io import schema
from microcalc.synthesis._numerics import empirical_logit, empirical_logit_variance
from microcalc.synthesis.levelpriors import SynthesisPrior
from microcalc.synthesis.meta import MetaSpec

DESCRIPTORS: tuple[str, ...] = ("morphology", "distribution")


@dataclass(frozen=True)
class OverallReference:
    """What every contrast is added to: the MAP prior of a new series' overall rate."""

    mean: float  # logit mean of the MAP prior
    se: float  # posterior SD of the meta-analysis mean mu (the uncertainty of that mean)
    prior: SynthesisPrior  # of the overall rows (studies, provenance, intervals)


def overall_reference(rows, spec: MetaSpec = MetaSpec()) -> OverallReference:
    """The random-effects meta-analysis of the table's ``overall`` rows, as an :class:`OverallReference`."""
    from microcalc.synthesis.meta import build_priors, synthesise

    syn = synthesise([r for r in rows if r.finding == "overall"], spec)
    prior = build_priors(syn, spec)["overall.all"]
    post = syn.posteriors[("overall", "all")]
    w = np.asarray(post.weights, float) / np.sum(post.weights)
    mu = np.asarray(post.mu, float)
    return OverallReference(float(prior.map_prior.mean()), float(np.sqrt(w @ (mu - w @ mu) ** 2)), prior)


@dataclass(frozen=True)
class StudyContrast:
    """One study's log-odds contrast of a level against all its lesions of the same finding."""

    study_id: str
    malignant: int
    total: int
    finding_malignant: int
    finding_total: int
    contrast: float
    variance: float


def within_study_contrasts(rows, findings: tuple[str, ...] = DESCRIPTORS) -> dict[tuple[str, str], list[StudyContrast]]:
    """Per (finding, level), each study's within-study contrast of the level against its finding.

    The contrast is d = logit(level rate) - logit(rate over the study's lesions of that finding).

    The study's rows of one finding partition its lesions (:mod:`microcalc.synthesis.studies`), so the
    reference is the same lesions the level is part of, and the study's selection (a BI-RADS 4-5 series,
    women aged >= 70, a 4A-only sample) cancels. Rates use +0.5 continuity; the variance is the level
    row's binomial logit variance 1/(y + 0.5) + 1/(n - y + 0.5) (the reference, which contains the
    level's lesions, is treated as known). Pooled rows (a union of levels) count towards the reference
    only; studies with one row in a finding have no contrast. ``findings``: the descriptors by default;
    ``("birads",)`` gives the categories' contrasts (:mod:`microcalc.synthesis.intercept`).
    """
    by_study: dict[tuple[str, str], list] = {}
    for r in rows:
        if r.finding in findings:
            by_study.setdefault((r.study_id, r.finding), []).append(r)
    out: dict[tuple[str, str], list[StudyContrast]] = {}
    for (study, finding), rs in sorted(by_study.items()):
        if len(rs) < 2:
            continue
        y_all, n_all = sum(r.malignant for r in rs), sum(r.total for r in rs)
        ref = empirical_logit(y_all, n_all)
        for r in rs:
            if r.pooled or r.level not in getattr(schema, finding.upper()):
                continue
            d = empirical_logit(r.malignant, r.total) - ref
            v = empirical_logit_variance(r.malignant, r.total)
            out.setdefault((finding, r.level), []).append(
                StudyContrast(study, r.malignant, r.total, y_all, n_all, d, v)
            )
    return out


def random_effects(d, v) -> tuple[float, float, float]:
    """DerSimonian-Laird random-effects pooled mean, its SE and the between-study SD tau."""
    d, v = np.asarray(d, float), np.asarray(v, float)
    w = 1.0 / v
    fixed = float(w @ d / w.sum())
    q = float(w @ (d - fixed) ** 2)
    denom = float(w.sum() - (w**2).sum() / w.sum())
    tau2 = max(0.0, (q - (len(d) - 1)) / denom) if len(d) > 1 and denom > 0 else 0.0
    ws = 1.0 / (v + tau2)
    return float(ws @ d / ws.sum()), float(math.sqrt(1.0 / ws.sum())), float(math.sqrt(tau2))
