"""Design: turn the canonical lesion frame into the numeric arrays the model reads.

One function, :func:`encode`, serves fitting and prediction alike, so a lesion is described to
the model the same way in both. Blank cells encode as follows:

* morphology / distribution / BI-RADS blank while *fitting*: a "not recorded" indicator (a training
  row without the descriptor). At prediction such blanks are first filled in by
  :mod:`microcalc.modelling.completion` (integration over what similar training lesions show).
* any other covariate blank: zero after centring on its prior prevalence, which is exactly the
  contribution of a model that never saw the covariate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from microcalc.io import schema
from microcalc.priors import PriorSet

# BI-RADS categories as model slots. 1 (negative) shares 2's slot; an unsplit 4 is a mixture of
# 4A/4B/4C; "not_recorded" is used only for training rows with a blank category.
BIRADS_SLOTS: tuple[str, ...] = ("0", "2", "3", "4A", "4B", "4C", "5", "not_recorded")
NOT_RECORDED_FLAGS: tuple[str, ...] = ("morphology", "distribution")
AGE_BAND_YEARS = 5.0


@dataclass(frozen=True)
class Design:
    """Numeric description of n lesions (rows) for the linear predictor."""

    morphology: np.ndarray  # (n, levels) weights; a lesion with k morphologies has 1/k on each
    distribution: np.ndarray  # (n, levels) weights, as morphology
    not_recorded: np.ndarray  # (n, 2) training-only flags: morphology blank, distribution blank
    covariates: np.ndarray  # (n, coefficients) centred indicators and age per decade (5-year band)
    birads: np.ndarray  # (n, slots) weights over BI-RADS slots (rows sum to 1)
    site: np.ndarray  # (n,) index into the training sites (0 where the site is new)
    known_site: np.ndarray  # (n,) 1.0 for a training site, 0.0 for a new or blank site

    @property
    def n(self) -> int:
        """Number of lesions (rows)."""
        return len(self.site)

    def stacked(self) -> np.ndarray:
        """All columns side by side (site as a float), for finding identical rows."""
        return np.column_stack(
            [
                self.morphology,
                self.distribution,
                self.not_recorded,
                self.covariates,
                self.birads,
                self.site.astype(float),
                self.known_site,
            ]
        )

    @classmethod
    def from_stacked(cls, m: np.ndarray, like: Design) -> Design:
        """Inverse of :meth:`stacked`, splitting columns as in ``like``."""
        widths = [
            a.shape[1] for a in (like.morphology, like.distribution, like.not_recorded, like.covariates, like.birads)
        ]
        morphology, distribution, not_recorded, covariates, birads, site = np.split(m, np.cumsum(widths), axis=1)
        return cls(
            morphology,
            distribution,
            not_recorded,
            covariates,
            birads,
            site=site[:, 0].astype(np.int64),
            known_site=site[:, 1],
        )


def multi_hot(values: pd.Series, levels: tuple[str, ...]) -> np.ndarray:
    """Weights per level for '|'-joined words: 1/k on each of a lesion's k words; blank = zeros."""
    out = np.zeros((len(values), len(levels)))
    codes, texts = pd.factorize(values.astype("string").fillna(""))
    for j, text in enumerate(texts):
        words = [w for w in str(text).split(schema.MULTI_SEPARATOR) if w]
        for w in words:
            out[codes == j, levels.index(w)] = 1.0 / len(words)
    return out


def birads_weights(birads: pd.Series, category4_mix: dict[str, float]) -> np.ndarray:
    """Slot weights per lesion: one-hot, except '4' spread over 4A/4B/4C and '1' placed with '2'."""
    slot_of = {"1": "2", **{s: s for s in BIRADS_SLOTS}}
    out = np.zeros((len(birads), len(BIRADS_SLOTS)))
    values = birads.astype("string").fillna("not_recorded").to_numpy()
    for value in np.unique(values):
        rows = values == value
        if value == "4":
            for sub, w in category4_mix.items():
                out[rows, BIRADS_SLOTS.index(sub)] = w
        else:
            out[rows, BIRADS_SLOTS.index(slot_of[value])] = 1.0
    return out


def centred_covariates(frame: pd.DataFrame, priors: PriorSet) -> np.ndarray:
    """Indicator minus prior prevalence for each coefficient; blank = 0; age as decades from centre."""
    columns = []
    for cov in priors.covariates.values():
        raw = _covariate_levels(frame, cov.name)
        for level in cov.levels:
            x = (raw == level).astype(float) - cov.prevalence[level]
            columns.append(np.where(raw.isna().to_numpy(), 0.0, x.to_numpy(dtype=float, na_value=0.0)))
    age = frame["age"].astype("Float64") if "age" in frame else pd.Series(pd.NA, index=frame.index, dtype="Float64")
    columns.append(((age_band(age) - priors.age_centre) / 10.0).fillna(0.0).to_numpy(dtype=float))
    return np.column_stack(columns)


def _covariate_levels(frame: pd.DataFrame, name: str) -> pd.Series:
    """A covariate column as level words: calc_count becomes a count band, yes/no become words."""
    if name not in frame:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    col = frame[name]
    if name == "calc_count":
        count = col.astype("Float64")
        band = pd.Series(np.where(count.fillna(0) >= 5, "five_or_more", "fewer_than_5"), index=frame.index)
        return band.astype("string").mask(count.isna())
    if name in schema.YES_NO_COLUMNS:
        return col.astype("boolean").map({True: "yes", False: "no"}, na_action="ignore").astype("string")
    return col.astype("string")


def age_band(age: pd.Series) -> pd.Series:
    """Centre of the 5-year band holding each age (blank stays blank).

    Age enters the model per decade; rounding to 5-year bands (error at most 2.5 years, a log-odds
    error under 0.1 at the prior's effect size) keeps the number of distinct patterns small.
    """
    a = age.astype("Float64")
    return (np.floor(a / AGE_BAND_YEARS) * AGE_BAND_YEARS + AGE_BAND_YEARS / 2).astype("Float64")


def site_index(site: pd.Series, sites: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Index of each lesion's site among the training sites, and whether the site is known."""
    idx = pd.Index(sites).get_indexer(site.astype("string").fillna("\x00"))
    known = idx >= 0
    return np.where(known, idx, 0).astype(np.int64), known.astype(float)


def encode(frame: pd.DataFrame, priors: PriorSet, sites: tuple[str, ...]) -> Design:
    """The model's view of a canonical lesion frame (see module docstring for blanks)."""
    morph = frame.get("morphology", pd.Series(pd.NA, index=frame.index, dtype="string"))
    dist = frame.get("distribution", pd.Series(pd.NA, index=frame.index, dtype="string"))
    birads = frame.get("birads", pd.Series(pd.NA, index=frame.index, dtype="string"))
    site = frame.get("site", pd.Series(pd.NA, index=frame.index, dtype="string"))
    idx, known = site_index(site, sites)
    return Design(
        morphology=multi_hot(morph, schema.MORPHOLOGY),
        distribution=multi_hot(dist, schema.DISTRIBUTION),
        not_recorded=np.column_stack([morph.isna().to_numpy(), dist.isna().to_numpy()]).astype(float),
        covariates=centred_covariates(frame, priors),
        birads=birads_weights(birads, priors.category4_mix),
        site=idx,
        known_site=known,
    )


@dataclass(frozen=True)
class Patterns:
    """Distinct covariate patterns with binomial counts: the likelihood's unit of data."""

    design: Design
    trials: np.ndarray  # lesions per pattern
    malignant: np.ndarray  # malignant lesions per pattern
    inverse: np.ndarray  # pattern index of each input lesion


def aggregate(design: Design, malignant: np.ndarray | None = None) -> Patterns:
    """Collapse identical rows into patterns so that cost grows with patterns, not lesions."""
    unique, inverse = np.unique(design.stacked(), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    trials = np.bincount(inverse, minlength=len(unique))
    y = np.zeros(design.n) if malignant is None else np.asarray(malignant, dtype=float)
    cases = np.bincount(inverse, weights=y, minlength=len(unique)).astype(np.int64)
    return Patterns(Design.from_stacked(unique, design), trials.astype(np.int64), cases, inverse)
