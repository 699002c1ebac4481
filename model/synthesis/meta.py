"""Random-effects meta-analysis of the studies table on the logit scale, and the MAP prior per model level.

Model (per unit u = finding level, as in RBesT's ``gMAP`` for binomial data)::

    malignant[s, u] ~ Binomial(total[s, u], expit(theta[s, u]))
    theta[s, u]     = mu[u] + shift[s] + tau[u] * z[s],   z[s] ~ N(0, 1)
    mu[u] ~ N(0, 2^2),  tau[u] ~ HalfNormal(1)

The meta-analytic-predictive (MAP) prior for a new study is the posterior predictive of theta_new =
mu + tau z (Neuenschwander et al. 2010). Computation is deterministic and fast:

* **Plain rows.** Each row's likelihood, integrated over its random effect z on a fine grid, is
  tabulated on a grid of (mu, tau) (161 x 81 points); the posterior of (mu, tau) is exact on that grid.
* **Pooled rows** (a study's rate over a union of levels, e.g. undivided BI-RADS 4 or 4th-edition
  groups) have rate sum_j w_j expit(mu_j + tau_j z[s]): a lesion-weighted mean of the component
  levels' rates in that study, with one study effect z[s] shared by the components (studies differ
  mainly by selection, which moves all levels of a study together; README caveat 1). Their
  likelihood couples the component levels, which form a *block*; the block posterior is the product
  of the grid posteriors of the components (plain rows) times the pooled rows' likelihood, computed
  by importance sampling from the grid posteriors (fixed seed; Kish ESS reported).
* **Restricted samples** (a study of only 4A or only amorphous lesions, reporting another finding)
  get a study-level shift: the restricting level's population log-odds minus the overall one,
  log-odds of sum_j w_j expit(mu_j) - mu[overall], with its posterior mean and SD taken from a first
  pass without restricted rows (an additive-logit approximation; the SD is added to tau in quadrature).
  Other selection effects (age >= 70, ultrasound-visible, reference standard) are left to tau.

Each unit's meta-analysis uses at most one term per study (rows of one partition are disjoint),
so no lesion enters a likelihood twice (see :mod:`microcalc.synthesis.studies`).

Levels without rows (punctate, diffuse, BI-RADS 2, most benign forms) get a *hand-set* prior:
normal at the published pooled figure with variance (published SE)^2 + tau_ref^2, tau_ref being the
median between-study SD of the synthesised levels of the same finding, so that it too is a prior for
a new study. Every prior is then robustified (weight 0.2, N(mean, 2); Schmidli et al. 2014).

This module holds the model's settings (:class:`MetaSpec`), the fitted posteriors (:class:`Synthesis`)
and the fitting (:func:`synthesise`: blocks of units, importance weights of pooled rows, restricted
samples' shifts). Its pieces live alongside: the grid numerics in :mod:`microcalc.synthesis.grid`, the
per-unit summaries and level priors in :mod:`microcalc.synthesis.levelpriors`, the hand-set table in
:mod:`microcalc.synthesis.handset`; their public names are re-exported here.

References
----------
Neuenschwander B, Capkun-Niggli G, Branson M, Spiegelhalter DJ. Summarizing historical information on
controls in clinical trials. Clin Trials 2010;7:5-18.
Schmidli H et al. Robust meta-analytic-predictive priors in clinical trials with historical control
information. Biometrics 2014;70:1023-1032.
Neuenschwander B, Weber S, Schmidli H, O'Hagan A. Predictively consistent prior effective sample
sizes. Biometrics 2020;76:578-587.
Rominger M, Wisgickl C, Timmesfeld N. Breast microcalcifications as type descriptors to stratify risk
of malignancy: a systematic review and meta-analysis of 10665 cases with special focus on round/punctate
microcalcifications. RöFo 2012;184:1144-1152.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from microcalc.synthesis import studies as st
from microcalc.synthesis._numerics import expit, logit
from microcalc.synthesis.grid import (
    LOG_ZC_WEIGHTS,
    THETA_CENTRES,
    THETA_EDGES,
    Z_COARSE,
    grid_posterior,
    log_rates,
    pooled_rate,
    row_loglik_from_rates,
    row_shift,
    sample_grid,
)
from microcalc.synthesis.handset import HAND_SET, HandSet
from microcalc.synthesis.levelpriors import (
    SynthesisPrior,
    UnitSummary,
    build_priors,
    model_units,
    predictive_masses,
    summarise,
    weighted_quantiles,
)
from microcalc.synthesis.levels import Unit
from microcalc.synthesis.mixture import ROBUST_WEIGHT, UNIT_INFORMATION_SD

if TYPE_CHECKING:  # annotations only: the synthesis itself needs no pandas
    import pandas as pd


@dataclass(frozen=True)
class MetaSpec:
    """Priors and numerical settings of the meta-analysis.

    ``mu_sd`` and ``tau_scale`` follow common RBesT ``gMAP`` choices for binomial data (beta.prior = 2,
    tau.dist = "HalfNormal", tau.prior = 1: heterogeneity up to about 2 logit plausible).
    """

    mu_mean: float = 0.0
    mu_sd: float = 2.0
    tau_scale: float = 1.0
    draws: int = 3000
    seed: int = 20100101
    robust_weight: float = ROBUST_WEIGHT
    robust_sd: float = UNIT_INFORMATION_SD
    max_components: int = 3


@dataclass
class UnitPosterior:
    """Weighted posterior draws of (mu, tau) for one unit; draws of a block share one weight vector."""

    unit: Unit
    mu: np.ndarray
    tau: np.ndarray
    weights: np.ndarray
    rows: list = field(default_factory=list)
    block: tuple[Unit, ...] = ()
    is_ess: float = float("nan")

    @property
    def studies(self) -> tuple[str, ...]:
        """The studies with a row (plain or pooled) at this unit, sorted."""
        return tuple(sorted({r.study_id for r in self.rows}))

    @property
    def lesions(self) -> int:
        """Lesions in this unit's own (plain) rows."""
        return int(sum(r.total for r in self.rows if not r.pooled))

    @property
    def malignant(self) -> int:
        """Malignant lesions in this unit's own (plain) rows."""
        return int(sum(r.malignant for r in self.rows if not r.pooled))

    @property
    def pooled_rows(self) -> list:
        """Rows over a union of levels that include this unit."""
        return [r for r in self.rows if r.pooled]

    @property
    def pooled_lesions(self) -> int:
        """Lesions of pooled rows including this unit (all levels of their union)."""
        return int(sum(r.total for r in self.rows if r.pooled))


@dataclass
class Synthesis:
    """The fitted meta-analysis: posteriors per unit and the study-level shifts used."""

    posteriors: dict[Unit, UnitPosterior]
    shifts: dict[tuple[str, str], tuple[float, float]]
    rows: list
    dropped: list
    spec: MetaSpec

    def draws_for(self, units: tuple[Unit, ...]) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """Aligned (mu, tau) draws of units of one block and their shared weights."""
        posts = [self.posteriors[u] for u in units]
        return [p.mu for p in posts], [p.tau for p in posts], posts[0].weights


# ------------------------------------------------------------------------------------------------
# fitting


def _blocks(rows, extra_units) -> list[tuple[Unit, ...]]:
    """Connected groups of units linked by pooled rows (union-find), each sorted."""
    parent: dict[Unit, Unit] = {}

    def find(u):
        parent.setdefault(u, u)
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    for u in extra_units:
        find(u)
    for r in rows:
        units = [(r.finding, lvl) for lvl in r.units]
        for u in units:
            find(u)
        for u in units[1:]:
            parent[find(u)] = find(units[0])
    groups: dict[Unit, list[Unit]] = {}
    for u in parent:
        groups.setdefault(find(u), []).append(u)
    return sorted(tuple(sorted(g)) for g in groups.values())


def _seed(spec: MetaSpec, unit: Unit) -> int:
    return (spec.seed + zlib.crc32(f"{unit[0]}:{unit[1]}".encode())) % (2**32)


_BLOCK_CACHE: dict = {}
_BLOCK_CACHE_SIZE = 512


def _fit_block(block: tuple[Unit, ...], rows, spec: MetaSpec, shifts) -> dict[Unit, UnitPosterior]:
    """Posterior draws of a block's units, memoised on (block, its rows, their shifts, spec).

    The memo makes leave-one-out refits cheap: a study without rows in a block leaves the block's fit unchanged.
    """
    mine = tuple(
        sorted((r for r in rows if (r.finding, r.units[0]) in block), key=lambda r: (r.study_id, r.level, r.lines))
    )
    used_shifts = tuple(
        sorted(
            {
                r.restriction[:2]: tuple(round(v, 9) for v in shifts[r.restriction[:2]])
                for r in mine
                if r.restriction is not None
            }.items()
        )
    )
    key = (block, mine, used_shifts, spec)
    if key not in _BLOCK_CACHE:
        if len(_BLOCK_CACHE) >= _BLOCK_CACHE_SIZE:
            _BLOCK_CACHE.pop(next(iter(_BLOCK_CACHE)))
        _BLOCK_CACHE[key] = _fit_block_uncached(block, list(mine), spec, shifts)
    return _BLOCK_CACHE[key]


def _fit_block_uncached(block: tuple[Unit, ...], rows, spec: MetaSpec, shifts) -> dict[Unit, UnitPosterior]:
    plain = {u: [r for r in rows if not r.pooled and (r.finding, r.level) == u] for u in block}
    pooled = [r for r in rows if r.pooled and (r.finding, r.units[0]) in block]
    draws = {}
    for u in block:
        rng = np.random.default_rng(_seed(spec, u))
        draws[u] = sample_grid(grid_posterior(plain[u], spec, shifts), spec.draws, rng)
    logw = np.zeros(spec.draws)
    rates: dict = {}  # rows over the same union (e.g. five undivided BI-RADS 4 rows) share p(z)
    for r in pooled:
        key = (r.components, row_shift(r, shifts))
        if key not in rates:
            units = [(r.finding, lvl) for lvl in r.units]
            rates[key] = log_rates(
                [draws[u][0] for u in units], [draws[u][1] for u in units], [w for _, w in r.components], key[1]
            )
        logw += row_loglik_from_rates(r, *rates[key])
    w = np.exp(logw - logw.max())
    w /= w.sum()
    ess = float(1.0 / np.sum(w**2))
    out = {}
    for u in block:
        used = plain[u] + [r for r in pooled if u[1] in r.units]
        out[u] = UnitPosterior(u, draws[u][0], draws[u][1], w, used, block, ess)
    return out


def _shift(restriction, posteriors, draws: int, seed: int) -> tuple[float, float] | None:
    """Posterior mean and SD of logit(rate of the restricting level) - mu[overall] (population means)."""
    finding, level, comps = restriction
    units = [(finding, u) for u, _ in comps]
    overall = ("overall", "all")
    if overall not in posteriors or any(u not in posteriors for u in units):
        return None
    rng = np.random.default_rng(seed)
    post = posteriors[units[0]]
    i = rng.choice(len(post.weights), size=draws, p=post.weights)
    rate = sum(w * expit(posteriors[u].mu[i]) for u, (_, w) in zip(units, comps))
    o = posteriors[overall]
    k = rng.choice(len(o.weights), size=draws, p=o.weights)
    d = logit(rate) - o.mu[k]
    # rounded to SHIFT_STEP (a tenth of its SD or less): refits that barely move it reuse cached fits
    return _round(float(d.mean())), _round(float(d.std()))


SHIFT_STEP = 0.05


def _round(x: float) -> float:
    return round(round(x / SHIFT_STEP) * SHIFT_STEP, 6)


def synthesise(rows, spec: MetaSpec = MetaSpec()) -> Synthesis:
    """Fit every unit's random-effects meta-analysis from likelihood rows (:func:`studies.likelihood_rows`).

    Two passes: without rows of restricted samples, then (for blocks that have such rows) with them,
    each shifted by the restricting level's log-odds contrast with the overall rate from the first pass.

    References
    ----------
    Neuenschwander B, Capkun-Niggli G, Branson M, Spiegelhalter DJ. Summarizing historical information
    on controls in clinical trials. Clinical Trials 7, 5-18 (2010).
    """
    rows = list(rows)
    units = {(r.finding, lvl) for r in rows for lvl in r.units}
    blocks = _blocks(rows, units)
    free = [r for r in rows if r.restriction is None]
    posteriors: dict[Unit, UnitPosterior] = {}
    for b in blocks:
        posteriors.update(_fit_block(b, free, spec, {}))
    shifts: dict[tuple[str, str], tuple[float, float]] = {}
    dropped = []
    for r in rows:
        if r.restriction is None or r.restriction[:2] in shifts:
            continue
        value = _shift(r.restriction, posteriors, spec.draws, spec.seed)
        if value is not None:
            shifts[r.restriction[:2]] = value
    kept = [r for r in rows if r.restriction is None or r.restriction[:2] in shifts]
    dropped = [r for r in rows if r not in kept]
    for b in blocks:
        if any(r.restriction is not None and (r.finding, r.units[0]) in b for r in kept):
            posteriors.update(_fit_block(b, kept, spec, shifts))
    # a unit reached only through dropped rows has no data: remove it
    posteriors = {u: p for u, p in posteriors.items() if p.rows}
    return Synthesis(posteriors, shifts, kept, dropped, spec)


@dataclass(frozen=True)
class SynthesisRun:
    """A studies table synthesised: its likelihood rows, the posterior per unit, their summaries and priors."""

    table: pd.DataFrame  # the validated studies table (microcalc.synthesis.studies.load_studies)
    rows: list[st.StudyRow]
    uses: list[st.RowUse]  # how each table row was used, or why not
    synthesis: Synthesis
    summaries: dict[Unit, UnitSummary]
    priors: dict[str, SynthesisPrior]


def run_synthesis(table: pd.DataFrame, spec: MetaSpec = MetaSpec()) -> SynthesisRun:
    """The random-effects synthesis of a validated studies table and the robust level priors built from it."""
    rows, uses = st.likelihood_rows(table)
    syn = synthesise(rows, spec)
    summaries = {u: summarise(p, spec) for u, p in syn.posteriors.items()}
    return SynthesisRun(table, rows, uses, syn, summaries, build_priors(syn, spec, summaries))


def level_priors(studies_path: str | Path | None = None, spec: MetaSpec = MetaSpec()) -> dict[str, SynthesisPrior]:
    """Per model parameter level, the robust prior on the logit of its marginal rate in a new study.

    Parameters
    ----------
    studies_path
        A studies table (default: the bundled ``priors/studies.csv``).
    spec
        Meta-analysis settings.

    Returns
    -------
    dict
        'finding.level' (e.g. 'morphology.amorphous', 'birads.4A', 'overall.all') ->
        :class:`SynthesisPrior`, with provenance: the studies used, or the hand-set source.

    References
    ----------
    Neuenschwander B, Capkun-Niggli G, Branson M, Spiegelhalter DJ. Summarizing historical information
    on controls in clinical trials. Clinical Trials 7, 5-18 (2010).
    Schmidli H, Gsteiger S, Roychoudhury S, O'Hagan A, Spiegelhalter D, Neuenschwander B. Robust
    meta-analytic-predictive priors in clinical trials with historical control information.
    Biometrics 70, 1023-1032 (2014).
    """
    return run_synthesis(st.load_studies(studies_path), spec).priors


def without(syn_rows, cohort: str):
    """Rows of every cohort but ``cohort``."""
    return [r for r in syn_rows if r.cohort != cohort]


__all__ = [
    "MetaSpec",
    "UnitPosterior",
    "Synthesis",
    "synthesise",
    "level_priors",
    "without",
    # re-exported from levelpriors, handset and grid
    "HandSet",
    "HAND_SET",
    "UnitSummary",
    "SynthesisPrior",
    "summarise",
    "build_priors",
    "model_units",
    "predictive_masses",
    "weighted_quantiles",
    "pooled_rate",
    "grid_posterior",
    "Z_COARSE",
    "LOG_ZC_WEIGHTS",
    "THETA_EDGES",
    "THETA_CENTRES",
    "Unit",
]
