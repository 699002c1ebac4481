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
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.special import logsumexp, ndtr

from microcalc.synthesis import studies as st
from microcalc.synthesis._numerics import binom_loglik_logit, expit, log_binom_coef, logit
from microcalc.synthesis.mixture import ROBUST_WEIGHT, UNIT_INFORMATION_SD, MixturePrior, fit_mixture

MU_GRID: np.ndarray = np.linspace(-8.0, 8.0, 161)
TAU_GRID: np.ndarray = np.linspace(0.0, 4.0, 81)
# coarser z grid for pooled rows and predictions: step 0.1 still resolves the table's largest pooled
# row (676 lesions, ~0.09 logit wide, i.e. ~0.08 in z at tau 1.1) to about 1e-4
Z_COARSE: np.ndarray = np.linspace(-5.5, 5.5, 111)
LOG_ZC_WEIGHTS: np.ndarray = -0.5 * Z_COARSE**2 - logsumexp(-0.5 * Z_COARSE**2)
THETA_EDGES: np.ndarray = np.linspace(-14.0, 14.0, 701)  # 0.04-logit bins
THETA_CENTRES: np.ndarray = 0.5 * (THETA_EDGES[1:] + THETA_EDGES[:-1])

Unit = tuple[str, str]  # (finding, level)


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


@dataclass(frozen=True)
class HandSet:
    """A hand-set prior for a level with no rows: published point estimate and SE of its logit."""

    rate: float
    se: float
    source: str


_BENIGN_FORMS_SOURCE = (
    "hand-set: ACR BI-RADS atlas, typically benign; Eur J Radiol 2017;86:221 4th-edition "
    "typically benign group 2% (1/55; SE of the logit 0.83), the form not reported separately"
)
HAND_SET: dict[Unit, HandSet] = {
    ("morphology", "punctate"): HandSet(
        0.09,
        0.217,
        "hand-set: Rominger 2012 meta-analysis, round/punctate 9% (6-13%), 40 studies; no lesion counts, so not a row",
    ),
    ("distribution", "diffuse"): HandSet(
        0.03,
        0.7,
        "hand-set: Choi 2021 diffuse amorphous 2.6% (reader-averaged, n not "
        "given), Kim D 2023 diffuse 0%; ACR atlas typically benign; SE judgement",
    ),
    ("birads", "2"): HandSet(
        0.005, 1.0, "hand-set: ACR BI-RADS 5th ed., category 2 essentially 0% malignant; centre 0.5%, SE judgement"
    ),
    **{
        ("morphology", form): HandSet(0.02, 0.83, _BENIGN_FORMS_SOURCE)
        for form in (
            "skin",
            "vascular",
            "coarse_popcorn",
            "large_rodlike",
            "round",
            "rim",
            "dystrophic",
            "milk_of_calcium",
            "suture",
        )
    },
}


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
        return tuple(sorted({r.study_id for r in self.rows}))

    @property
    def lesions(self) -> int:
        """Lesions in this unit's own (plain) rows."""
        return int(sum(r.total for r in self.rows if not r.pooled))

    @property
    def malignant(self) -> int:
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
# likelihood pieces

# fine theta grid for the row likelihood (0.02 logit: 3.5 points per SD of a 1,000-lesion row); MU_GRID
# points lie on it (step 0.1 = 5 steps)
_THETA_STEP = 0.02
_THETA_FINE: np.ndarray = np.round(np.arange(-16.0, 16.0 + _THETA_STEP / 2, _THETA_STEP), 10)
_FLOOR = 1e-14


# the base table extends tau beyond TAU_GRID so that sqrt(tau^2 + s^2) stays inside for shifts s <= 2
_TAU_BASE: np.ndarray = np.linspace(0.0, 4.5, 91)


@lru_cache(maxsize=1024)
def _base_table(y: int, n: int) -> tuple[np.ndarray, float]:
    """Row likelihood integrated over N(theta; c, tau^2) for every c on the fine theta grid and tau in
    :data:`_TAU_BASE`, relative to its maximum (returned too).

    Per tau a discrete convolution of the likelihood on a 0.02-logit grid with the normal's bin
    probabilities, by FFT (exact for tau = 0, where the kernel is a single bin). FFT round-off is
    ~1e-16 of the maximum, so values below :data:`_FLOOR` (e^-32) of it are floored: every such cell
    is at least 25 log units below the row's best cells and carries no posterior mass.
    """
    ll = binom_loglik_logit(y, n, _THETA_FINE)
    top = float(ll.max())
    like = np.exp(ll - top)
    size = 1 << int(np.ceil(np.log2(2 * len(_THETA_FINE))))
    f_like = np.fft.rfft(like, size)
    table = np.empty((len(_TAU_BASE), len(_THETA_FINE)))
    for j, t in enumerate(_TAU_BASE):
        if t == 0.0:
            table[j] = like
            continue
        half = int(min(np.ceil(8 * t / _THETA_STEP) + 1, len(_THETA_FINE) - 1))
        off = np.arange(-half, half + 1) * _THETA_STEP
        kern = np.diff(ndtr(np.append(off - _THETA_STEP / 2, off[-1] + _THETA_STEP / 2) / t))
        table[j] = np.fft.irfft(f_like * np.fft.rfft(kern[::-1], size), size)[half : half + len(_THETA_FINE)]
    table = np.log(np.maximum(table, _FLOOR))
    table.setflags(write=False)
    return table, top


@lru_cache(maxsize=8192)
def _grid_loglik(y: int, n: int, shift_mean: float, shift_sd: float) -> np.ndarray:
    """log of the row likelihood integrated over its random effect, on the (mu, tau) grid.

    L(mu, tau) = integral of Binom(y | n, expit(theta)) N(theta; mu + m, tau^2 + s^2) dtheta: the
    base table (:func:`_base_table`) read at centre mu + m and SD sqrt(tau^2 + s^2), with linear
    interpolation of the log in both (the grid steps are 0.02 logit and 0.05 in tau).
    """
    table, top = _base_table(y, n)
    pos = (MU_GRID + shift_mean - _THETA_FINE[0]) / _THETA_STEP
    i0 = np.clip(np.floor(pos).astype(int), 0, len(_THETA_FINE) - 2)
    fi = np.clip(pos - i0, 0.0, 1.0)
    tpos = np.sqrt(TAU_GRID**2 + shift_sd**2) / (_TAU_BASE[1] - _TAU_BASE[0])
    j0 = np.clip(np.floor(tpos).astype(int), 0, len(_TAU_BASE) - 2)
    fj = np.clip(tpos - j0, 0.0, 1.0)
    a = table[j0][:, i0] * (1 - fi) + table[j0][:, i0 + 1] * fi
    b = table[j0 + 1][:, i0] * (1 - fi) + table[j0 + 1][:, i0 + 1] * fi
    out = (a * (1 - fj)[:, None] + b * fj[:, None]).T + top
    out.setflags(write=False)
    return out


@lru_cache(maxsize=8)
def _grid_logprior(mu_mean: float, mu_sd: float, tau_scale: float) -> np.ndarray:
    dmu = np.gradient(MU_GRID)
    dtau = np.gradient(TAU_GRID)
    dtau[0] = dtau[-1] = 0.5 * (TAU_GRID[1] - TAU_GRID[0])
    # N(mu_mean, mu_sd) and HalfNormal(tau_scale) log densities written out (scipy.stats costs 0.5 s to import,
    # and prediction for the clinical population imports this module)
    log_mu = -0.5 * ((MU_GRID - mu_mean) / mu_sd) ** 2 - np.log(mu_sd) - 0.5 * np.log(2 * np.pi)
    log_tau = np.log(2.0) - 0.5 * (TAU_GRID / tau_scale) ** 2 - np.log(tau_scale) - 0.5 * np.log(2 * np.pi)
    lp = log_mu[:, None] + log_tau[None, :]
    return lp + np.log(dmu)[:, None] + np.log(dtau)[None, :]


def _row_shift(row, shifts) -> tuple[float, float]:
    if row.restriction is None:
        return 0.0, 0.0
    return shifts[row.restriction[:2]]


def grid_posterior(rows, spec: MetaSpec, shifts) -> np.ndarray:
    """Normalised posterior masses of (mu, tau) on the grid from plain rows of one unit."""
    lp = _grid_logprior(spec.mu_mean, spec.mu_sd, spec.tau_scale).copy()
    for r in rows:
        m, s = _row_shift(r, shifts)
        lp += _grid_loglik(r.malignant, r.total, round(m, 6), round(s, 6))
    lp -= logsumexp(lp)
    return np.exp(lp)


def _sample_grid(post: np.ndarray, draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draws of (mu, tau) from grid masses, jittered uniformly within each cell (tau kept >= 0)."""
    flat = post.ravel()
    idx = rng.choice(flat.size, size=draws, p=flat / flat.sum())
    i, j = np.unravel_index(idx, post.shape)
    hmu = 0.5 * (MU_GRID[1] - MU_GRID[0])
    htau = 0.5 * (TAU_GRID[1] - TAU_GRID[0])
    mu = MU_GRID[i] + rng.uniform(-hmu, hmu, draws)
    lo = np.maximum(TAU_GRID[j] - htau, 0.0)
    hi = np.minimum(TAU_GRID[j] + htau, TAU_GRID[-1])
    tau = lo + (hi - lo) * rng.uniform(0.0, 1.0, draws)
    return mu, tau


def pooled_rate(mus, taus, weights, z, shift=(0.0, 0.0)) -> np.ndarray:
    """Rate sum_j w_j expit(mu_j + m + sqrt(tau_j^2 + s^2) z) for draws x z nodes (shared study effect z)."""
    m, s = shift
    p = None
    for mu, tau, w in zip(mus, taus, weights):
        theta = np.multiply.outer(np.sqrt(tau**2 + s**2) if s else tau, z)
        theta += (mu + m)[:, None]
        term = expit(theta)
        if w != 1.0:
            term *= w
        p = term if p is None else p + term
    return p


def _log_rates(mus, taus, weights, shift) -> tuple[np.ndarray, np.ndarray]:
    """log p and log(1 - p) of :func:`pooled_rate` on :data:`Z_COARSE` (shared by rows of one union)."""
    p = np.clip(pooled_rate(mus, taus, weights, Z_COARSE, shift), 1e-300, 1.0 - 1e-16)
    return np.log(p), np.log1p(-p)


def _row_loglik_from_rates(row, log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """log of the pooled row's likelihood per draw: sum over z nodes of Binom(y | n, p(z)) weights."""
    a = row.malignant * log_p + (row.total - row.malignant) * log_q + LOG_ZC_WEIGHTS[None, :]
    top = a.max(axis=1)
    return np.log(np.exp(a - top[:, None]).sum(axis=1)) + top + float(log_binom_coef(row.malignant, row.total))


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
    """Posterior draws of a block's units; memoised on (block, its rows, their shifts, spec), which makes
    leave-one-out refits cheap (a study without rows in a block leaves the block's fit unchanged)."""
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
        draws[u] = _sample_grid(grid_posterior(plain[u], spec, shifts), spec.draws, rng)
    logw = np.zeros(spec.draws)
    rates: dict = {}  # rows over the same union (e.g. five undivided BI-RADS 4 rows) share p(z)
    for r in pooled:
        key = (r.components, _row_shift(r, shifts))
        if key not in rates:
            units = [(r.finding, lvl) for lvl in r.units]
            rates[key] = _log_rates(
                [draws[u][0] for u in units], [draws[u][1] for u in units], [w for _, w in r.components], key[1]
            )
        logw += _row_loglik_from_rates(r, *rates[key])
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


# ------------------------------------------------------------------------------------------------
# summaries and the MAP prior


def weighted_quantiles(x: np.ndarray, w: np.ndarray, q) -> np.ndarray:
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
    pr = weighted_quantiles(expit(post.mu), post.weights, [0.5, 0.025, 0.975])
    tq = weighted_quantiles(post.tau, post.weights, [0.5, 0.025, 0.975])
    masses = predictive_masses(post)
    cdf = np.cumsum(masses)
    q = np.interp([0.05, 0.95, 0.025, 0.975], cdf, THETA_EDGES[1:])
    # EM on 0.08-logit cells (2 bins each): ample for a prior whose SD is 0.4 logit or more
    coarse = masses.reshape(-1, 2).sum(axis=1)
    centres = THETA_CENTRES.reshape(-1, 2).mean(axis=1)
    mix, kl = fit_mixture(centres, coarse, spec.max_components)
    return UnitSummary(
        post.unit[0],
        post.unit[1],
        *map(float, pr),
        *map(float, tq),
        float(masses @ expit(THETA_CENTRES)),
        *map(float, expit(q)),
        mix,
        kl,
        post.is_ess,
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
        return self.map_prior.ess_elir()

    @property
    def ess(self) -> float:
        return self.prior.ess_elir()


def model_units() -> list[Unit]:
    """Every model parameter level that takes a literature prior, in schema order."""
    out: list[Unit] = [("overall", "all")]
    for f in ("morphology", "distribution", "birads"):
        out += [(f, lvl) for lvl in st.MODEL_LEVELS[f]]
    return out


def build_priors(
    syn: Synthesis, spec: MetaSpec | None = None, summaries: dict[Unit, UnitSummary] | None = None
) -> dict[str, SynthesisPrior]:
    """Robust MAP priors for every model level (and group units), keyed 'finding.level'."""
    spec = spec or syn.spec
    if summaries is None:
        summaries = {u: summarise(p, spec) for u, p in syn.posteriors.items()}
    tau_ref = {}
    for f in st.SYNTHESIS_FINDINGS:
        taus = [s.tau for (ff, _), s in summaries.items() if ff == f and len(syn.posteriors[(ff, _)].studies) >= 2]
        tau_ref[f] = float(np.median(taus)) if taus else spec.tau_scale
    out: dict[str, SynthesisPrior] = {}
    units = model_units() + [(f, g) for f, gs in st.GROUP_UNITS.items() for g in gs]
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
    """
    table = st.load_studies(studies_path)
    rows, _ = st.likelihood_rows(table)
    return build_priors(synthesise(rows, spec), spec)


def without(syn_rows, cohort: str):
    """Rows of every cohort but ``cohort``."""
    return [r for r in syn_rows if r.cohort != cohort]


__all__ = [
    "MetaSpec",
    "HandSet",
    "HAND_SET",
    "UnitPosterior",
    "Synthesis",
    "UnitSummary",
    "SynthesisPrior",
    "synthesise",
    "summarise",
    "build_priors",
    "level_priors",
    "model_units",
    "predictive_masses",
    "pooled_rate",
    "grid_posterior",
    "weighted_quantiles",
]
