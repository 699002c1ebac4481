"""The clinical population: a new clinical biopsy series drawn from the literature studies' distribution.

The model is fitted to DDSM, an archive enriched for cancer whose four sites range from 14% to 73%
malignant; a "new site" (``population="new-site"``) is a new site *like DDSM's*: its site effect is
integrated over N(0, site_sd), and blank cells are completed from DDSM's own case mix. The question the
model answers in clinical practice is about a *clinical* biopsy population, which is what the published
series measure. ``population="clinical"`` answers that question:

1. **Case mix.** Blank cells are completed (:mod:`microcalc.modelling.completion`) from the training lesions
   re-weighted to the BI-RADS mix of the clinical biopsy series: lesions sent to biopsy are BI-RADS 3,
   4 and 5 in the shares of the studies in ``priors/studies.csv`` that partition their whole sample by
   BI-RADS category (:func:`clinical_series`); BI-RADS 0 and 2 lesions are not biopsied and get weight
   0 (a lesion *recorded* as BI-RADS 2 is still completed from BI-RADS 2 lesions: weights are uniform
   within a category, so P(other findings | category) is DDSM's, only P(category) changes). The studies'
   morphology and distribution rows do not partition whole samples often enough to re-weight on them.
   Tried and not kept (2026-12-07): raking the biopsied lesions also by outcome, so that the lesions of
   each morphology and distribution level are as often malignant as the literature says (within-study
   contrasts, :mod:`microcalc.synthesis.priorfile`; hand-set rates elsewhere) and the whole mix as often as
   the series. It moved the case mix as asked (punctate lesions 31% -> 9% malignant, regional 65% -> 35%)
   but the single-finding answers little (regional 58% -> 47%, punctate 20.2% -> 20.6%, headline 38.7% ->
   38.5%; diffuse 47% -> 36%, when diffuse still borrowed regional's mix: see completion.MATCH_KEYS): those
   answers are set by the model's conditional effects, learnt from DDSM's lesions, not by the mix.
2. **Offset.** A clinical series is a new site whose effect is drawn from the literature's distribution of
   studies: o ~ N(delta, tau^2), in place of DDSM's N(0, site_sd^2). Each posterior draw is paired with a
   draw (mu, tau) of the random-effects meta-analysis of the studies' overall rates (the between-study
   mean and SD of the logit rate; fixed seed), and delta solves

       sum_i pi_i E_z[ P(malignant | pattern i, offset delta + tau z) ] = E_z[ expit(mu + tau z) ],

   pi_i being the clinical case mix of 1. (the re-weighted biopsied training lesions), z ~ N(0, 1) by
   Gauss-Hermite nodes. So, averaged over a clinical case mix, the model's marginal malignancy equals the
   literature's rate for a new clinical series, integrated over the between-study SD; across draws the
   right side is the meta-analytic-predictive (MAP) mean rate (Neuenschwander et al. 2010), and its
   uncertainty (the pooled mean's and tau's) is carried into every clinical answer.

**How published marginal rates are linked to the model's conditional effects.** A published PPV of a
level is marginal: P(malignant | level) averaged over that series' mix of the other findings. The
model's effects are conditional (on BI-RADS, the other descriptor, covariates and site). The link used
here is exact in the model: the marginal implied for a population is the model's conditional
probability averaged over that population's mix of the other findings (completion) and over its
offset distribution. Only one marginal quantity, the overall rate, is matched to the literature (by
delta); every single-finding answer of the clinical population is then a *prediction* of the
corresponding published rate, which is how they are checked (``headline.clinical_checks``), not tuned.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import pandas as pd

from microcalc.io import schema
from microcalc.modelling.completion import complete
from microcalc.modelling.design import aggregate, encode
from microcalc.modelling.model import birads_components, linear_predictor, logistic, new_site_nodes, numpy_ops

BIOPSIED_GROUPS: tuple[str, ...] = ("3", "4", "5")  # BI-RADS categories sent to biopsy (4 = 4, 4A, 4B, 4C)
_GROUP = {"3": "3", "4": "4", "4A": "4", "4B": "4", "4C": "4", "4BC": "4", "5": "5"}
SERIES_SEED = 20140101  # pairs posterior draws with meta-analysis draws reproducibly
NEWTON_STEPS = 20
NEWTON_TOLERANCE = 1e-9  # logit; reached in 3 steps on the bundled fit


@dataclass(frozen=True, eq=False)
class ClinicalSeries:
    """What the literature says about a clinical biopsy population, from the studies table."""

    birads_share: dict[str, float]  # share of biopsied lesions per BI-RADS group 3, 4, 5
    birads_studies: tuple[str, ...]  # studies whose BI-RADS rows partition their whole sample
    birads_lesions: int
    rate_mean: float  # MAP predictive mean of a new series' overall malignancy rate
    tau_median: float  # posterior median of the between-study SD of the overall logit rate
    overall_studies: int
    overall_lesions: int
    mu: np.ndarray  # posterior sample of the meta-analysis of the overall rows (mu, tau, weights)
    tau: np.ndarray
    weights: np.ndarray

    def draws(self, n: int, seed: int = SERIES_SEED) -> tuple[np.ndarray, np.ndarray]:
        """``n`` draws of (mu, tau) from the meta-analysis posterior (fixed seed: reproducible answers)."""
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(self.mu), size=n, p=self.weights / self.weights.sum())
        return self.mu[pick], self.tau[pick]

    def describe(self) -> str:
        """One sentence on the series for reports: its overall rate, between-study SD and BI-RADS mix."""
        shares = ", ".join(f"{g} {100 * v:.1f}%" for g, v in self.birads_share.items())
        return (
            f"overall rate {100 * self.rate_mean:.1f}% for a new series (MAP predictive "
            f"mean; {self.overall_studies} studies, {self.overall_lesions} lesions; between-study SD "
            f"{self.tau_median:.2f} logit); BI-RADS mix of biopsied lesions {shares} "
            f"({len(self.birads_studies)} studies, {self.birads_lesions} lesions)"
        )


@lru_cache(maxsize=4)
def clinical_series(studies_path: str | None = None) -> ClinicalSeries:
    """The clinical series' overall rate (random-effects MAP of the ``overall`` rows) and BI-RADS mix."""
    from microcalc.synthesis import meta
    from microcalc.synthesis import studies as st

    table = st.load_studies(studies_path)
    rows, _ = st.likelihood_rows(table)
    syn = meta.synthesise([r for r in rows if r.finding == "overall"])
    post = syn.posteriors[("overall", "all")]
    summary = meta.summarise(post, syn.spec)
    used = table[~table["study_id"].isin(st.EXCLUDED_STUDIES)]
    overall = used[used["finding"] == "overall"].set_index("study_id")["total"]
    birads = used[(used["finding"] == "birads") & used["level"].isin(_GROUP)]
    counts = {g: 0 for g in BIOPSIED_GROUPS}
    studies = []
    for study, part in birads.groupby("study_id", sort=True):
        if study in overall.index and int(part["total"].sum()) == int(overall[study]):  # a whole partition
            studies.append(str(study))
            for level, n in zip(part["level"], part["total"]):
                counts[_GROUP[level]] += int(n)
    total = sum(counts.values())
    share = {g: counts[g] / total for g in BIOPSIED_GROUPS}
    return ClinicalSeries(
        share,
        tuple(studies),
        total,
        summary.predictive_mean,
        summary.tau,
        len(post.studies),
        post.lesions,
        np.asarray(post.mu, dtype=float),
        np.asarray(post.tau, dtype=float),
        np.asarray(post.weights, dtype=float),
    )


def clinical_donors(donors: pd.DataFrame, series: ClinicalSeries) -> pd.DataFrame:
    """The training key table with a ``weight`` column: the clinical case mix (module docstring, 1.).

    ``count`` is kept (matching still asks for enough real lesions); completion weighs by ``weight``.
    Without biopsied BI-RADS categories in the training data the weights are the counts.
    """
    group = donors["birads"].astype("string").map(_GROUP, na_action="ignore")
    count = donors["count"].to_numpy(dtype=float)
    present = [g for g in BIOPSIED_GROUPS if count[(group == g).to_numpy(dtype=bool)].sum() > 0]
    if not present:
        return donors.assign(weight=count)
    biopsied = group.isin(present).to_numpy(dtype=bool)
    n_biopsied = count[biopsied].sum()
    share_total = sum(series.birads_share[g] for g in present)
    weight = np.where(donors["birads"].isna().to_numpy(), count, 0.0)  # unknown category: as recorded
    for g in present:
        hit = (group == g).to_numpy(dtype=bool)
        weight[hit] = count[hit] * (series.birads_share[g] / share_total) * n_biopsied / count[hit].sum()
    return donors.assign(weight=weight)


def case_mix_frame(donors: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The clinical case mix as canonical lesions (site blank: a new population) and their weights."""
    rows = donors[donors["weight"].to_numpy() > 0]
    frame = pd.DataFrame({c: pd.Series([pd.NA] * len(rows), dtype=t) for c, t in schema.DTYPES.items()})
    for col in ("morphology", "distribution", "birads", "breast_density"):
        frame[col] = rows[col].astype("string").to_numpy()
    frame["age"] = rows["age_band"].astype("Float64").to_numpy()
    return frame, rows["weight"].to_numpy(dtype=float)


def solve_offset(
    logits: np.ndarray, weights: np.ndarray, spread: np.ndarray, target: np.ndarray, steps: int = NEWTON_STEPS
) -> np.ndarray:
    """The offset delta per draw that makes the weighted mean probability equal the target (Newton).

    Per draw d, delta_d solves sum_r weights_r E_z[expit(logits_rd + delta_d + spread_d z)] = target_d.

    ``logits`` (rows, draws); ``weights`` (rows,); ``spread``, ``target`` (draws,); z by the
    Gauss-Hermite nodes of :func:`microcalc.modelling.model.new_site_nodes`. The left side rises monotonically in delta,
    so Newton from a logit-difference start converges in a few steps (stops when every step < 1e-9).
    """
    w = weights / weights.sum()
    mean = w @ logistic(logits)
    delta = np.log(target / (1 - target)) - np.log(mean / (1 - mean))
    # expit(L + c) = 1 / (1 + exp(-L) exp(-c)): exp(-L) once, then a product per node and step (3x faster
    # than an exp per element; logits are clipped at +-700 so exp stays finite, which moves p by < 1e-300)
    decay = np.exp(-np.clip(logits, -700.0, 700.0))
    nodes = new_site_nodes()
    for _ in range(steps):
        f = np.zeros(logits.shape[1])
        df = np.zeros(logits.shape[1])
        for wn, z in nodes:
            p = decay * np.exp(-(delta + z * spread))[None, :]
            p += 1.0
            np.reciprocal(p, out=p)
            f += wn * (w @ p)
            p *= 1.0 - p
            df += wn * (w @ p)
        step = (f - target) / np.maximum(df, 1e-12)
        delta = delta - step
        if np.max(np.abs(step)) < NEWTON_TOLERANCE:
            break
    return np.asarray(delta, dtype=float)


def case_mix_logits(
    params: dict, priors, sites: tuple[str, ...], donors: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds of every (case-mix pattern, BI-RADS slot) at a new population with offset 0, and weights."""
    frame, weights = case_mix_frame(donors)
    expanded = complete(frame, donors, sites)
    row_weight = weights[expanded["row"].to_numpy()] * expanded["weight"].to_numpy()
    patterns = aggregate(encode(expanded, priors, sites))
    w = np.bincount(patterns.inverse, weights=row_weight, minlength=len(patterns.trials))
    d = patterns.design
    eta = linear_predictor(params, replace(d, known_site=np.zeros_like(d.known_site)), numpy_ops())
    slots, slot_w = birads_components(d.birads)
    logits, weights_out = [], []
    for k in range(slots.shape[1]):
        keep = slot_w[:, k] > 0
        logits.append(eta[keep] + params["birads_effect"][slots[keep, k]])
        weights_out.append(w[keep] * slot_w[keep, k])
    return np.vstack(logits), np.concatenate(weights_out)


def series_rate(mu: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """E_z[expit(mu + tau z)] per draw: a new series' expected overall rate (Gauss-Hermite)."""
    return np.asarray(sum(w * logistic(mu + z * tau) for w, z in new_site_nodes()))


@dataclass(frozen=True, eq=False)
class ClinicalPopulation:
    """Everything prediction needs for the clinical population of one set of draws."""

    series: ClinicalSeries
    donors: pd.DataFrame  # training key table with the clinical ``weight``
    offset: np.ndarray  # delta per draw
    spread: np.ndarray  # tau per draw (the between-study SD of the paired meta-analysis draw)
    target: np.ndarray  # the literature's expected overall rate per draw

    def params(self, params: dict) -> dict:
        """Equation parameters whose new-site term is the clinical offset N(delta, tau^2).

        The intercept moves by delta and the new-site SD is tau; training sites keep their effect
        (their stored effect minus delta).
        """
        return {
            **params,
            "intercept": params["intercept"] + self.offset,
            "site_effect": params["site_effect"] - self.offset[None, :],
            "site_sd": self.spread,
        }


def clinical_population(
    params: dict, priors, sites: tuple[str, ...], donors: pd.DataFrame, series: ClinicalSeries | None = None
) -> ClinicalPopulation:
    """The clinical population for these draws (module docstring)."""
    series = series or clinical_series()
    cd = clinical_donors(donors, series)
    logits, weights = case_mix_logits(params, priors, sites, cd)
    mu, tau = series.draws(logits.shape[1])
    target = series_rate(mu, tau)
    return ClinicalPopulation(series, cd, solve_offset(logits, weights, tau, target), tau, target)


_CACHE: list[tuple[tuple, ClinicalPopulation]] = []


def cached_population(params: dict, priors, sites: tuple[str, ...], donors: pd.DataFrame) -> ClinicalPopulation:
    """:func:`clinical_population`, computed once per (draws, priors, sites, donors) seen recently.

    Prediction calls this for every chunk of patterns; the parameters of one fit are the same arrays
    throughout, so identity (with the objects kept alive in the cache) is a safe key.
    """
    key = (tuple((k, id(v)) for k, v in sorted(params.items())), id(priors), sites, id(donors))
    for k, pop in _CACHE:
        if k == key:
            return pop
    pop = clinical_population(params, priors, sites, donors)
    _CACHE.insert(0, (key, pop))
    _KEEP.insert(0, (params, priors, donors))
    del _CACHE[4:], _KEEP[4:]
    return pop


_KEEP: list[tuple] = []  # keeps the cached keys' objects alive, so their ids are not reused
