"""The folds of cross-validation and the models compared on them.

Folds are grouped so that nothing about a held-out lesion leaks into training: by woman
(:func:`case_folds`) or by site (:func:`site_folds`, leave one institution out). :data:`VARIANTS`
are the models compared on the same folds, each a choice of priors and of the inputs blanked in
training and at prediction (:func:`blank`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from microcalc.io import schema
from microcalc.io.errors import LesionInputError
from microcalc.modelling.predict import MODEL_INPUTS
from microcalc.priors import PriorSet, load_priors, scenario_paths

BIRADS_ONLY_BLANKS: tuple[str, ...] = tuple(c for c in MODEL_INPUTS if c not in ("birads", "site"))


@dataclass(frozen=True)
class Variant:
    """One model compared on the folds: which priors, and which columns are blanked where."""

    name: str
    label: str
    priors: str | None  # "literature", "vague", or None for the base rate
    blank_in_training: tuple[str, ...] = ()
    blank_at_prediction: tuple[str, ...] = ()

    @property
    def fit_key(self) -> tuple | None:
        """Variants with the same key share one fit per fold."""
        return None if self.priors is None else (self.priors, self.blank_in_training)


VARIANTS: tuple[Variant, ...] = (
    Variant("literature", "literature priors", "literature"),
    Variant(
        "birads_blank", "literature priors, BI-RADS blank at prediction", "literature", blank_at_prediction=("birads",)
    ),
    Variant("vague", "vague priors", "vague"),
    Variant("descriptors_only", "fitted without BI-RADS", "literature", ("birads",), ("birads",)),
    Variant("birads_only", "BI-RADS only (+ site)", "literature", BIRADS_ONLY_BLANKS, BIRADS_ONLY_BLANKS),
    Variant("base_rate", "training base rate", None),
)


def vague_priors() -> PriorSet:
    """The bundled vague-prior scenario (``priors/vague.toml``): the same model without literature."""
    return load_priors(scenario_paths()["vague"])


def blank(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """A copy of the frame with the given model inputs set to not recorded."""
    if not columns:
        return frame
    return frame.assign(**{c: pd.Series(pd.NA, index=frame.index, dtype=schema.DTYPES[c]) for c in columns})


def case_folds(frame: pd.DataFrame, folds: int, seed: int) -> np.ndarray:
    """Fold number per lesion: women shuffled, then cut into folds of nearly equal lesion counts."""
    groups = frame["patient_id"].astype("string").fillna(frame["lesion_id"].astype("string")).to_numpy()
    names, codes = np.unique(groups, return_inverse=True)
    if folds < 2 or folds > len(names):
        raise LesionInputError("--folds", f"need 2 to {len(names)} folds for {len(names)} women", value=folds)
    order = np.random.default_rng(seed).permutation(len(names))
    sizes = np.bincount(codes, minlength=len(names))[order]
    start = np.cumsum(sizes) - sizes  # lesions placed before each woman
    fold_of_group = np.empty(len(names), dtype=np.int64)
    fold_of_group[order] = np.minimum(start * folds // len(frame), folds - 1)
    return fold_of_group[codes]


def site_folds(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Fold number per lesion for leave-one-site-out, and the site of each fold."""
    site = frame["site"].astype("string") if "site" in frame else pd.Series(pd.NA, index=frame.index)
    if site.isna().all() or site.nunique() < 2:
        raise LesionInputError("<data>", "leave-one-site-out needs at least two sites in column 'site'", column="site")
    names = sorted(site.dropna().unique().tolist())
    fold = site.map({s: i for i, s in enumerate(names)}).fillna(-1).to_numpy(dtype=np.int64)
    return fold, names  # fold -1 (blank site) is always training
