"""Completion of blank cells at prediction: integrate over what similar training lesions show.

A blank descriptor the model was trained on (morphology, distribution, BI-RADS, breast density,
age) must give the probability that a model which never saw it would give: P(malignant | what is
recorded). We compute it as a posterior predictive average over the blank covariate's values among
training lesions that match the recorded ones ("donors"), weighted by how often each value occurs:

    P(m | recorded) = sum_v P(v | recorded) P(m | recorded, v)

Matching backs off (drops the least informative recorded key first) until at least
``MIN_DONORS`` training lesions match, and keeps the ``MAX_COMPLETIONS`` most frequent completions.
Blank site is not completed: the model integrates over sites instead. A key table may carry a
``weight`` column (a population's case mix, e.g. the clinical one): completions are then weighted by
it instead of by the training counts.

Lesions matched to the same training lesions with the same blanks get the same completions, so
these are computed once per such combination (matching uses the key table as NumPy columns).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from microcalc.io import schema
from microcalc.modelling.design import age_band

TRAINED_COLUMNS: tuple[str, ...] = ("morphology", "distribution", "birads", "breast_density", "age")
KEYS: tuple[str, ...] = ("morphology", "distribution", "birads", "breast_density", "age_band", "site")
# Keys used to find similar lesions: the stored keys plus coarser versions (the lexicon group of a
# morphology; BI-RADS 4A/4B/4C matched as 4, 1 as 2), so that a rare or unseen level borrows from
# its own group before borrowing from everything. Distribution has no group key: its "benign" group
# (the prior's group shift) pairs diffuse, typically benign (0-3% in biopsy series), with regional
# (3-33%; OR 3.1 against grouped, Postgrad Med J 2021), so a lesion recorded as diffuse (6 in DDSM)
# would be completed from DDSM's regional lesions (11/22 malignant, 9 of them BI-RADS 5): the clinical
# answer for diffuse alone was 47%, above grouped's 32%, though diffuse's own effect is 0.7 logit below
# grouped's. A rare distribution borrows from all lesions instead (diffuse alone: 23%; no other
# headline answer moves). The benign morphologies, all 0-2% in the series, keep their group.
MATCH_KEYS: tuple[str, ...] = (
    "morphology",
    "morphology_group",
    "distribution",
    "birads",
    "breast_density",
    "age_band",
    "site",
)
# Recorded keys dropped in this order while too few donors match (least informative first).
BACKOFF: tuple[str, ...] = (
    "age_band",
    "breast_density",
    "site",
    "distribution",
    "morphology",
    "birads",
    "morphology_group",
)
MIN_DONORS = 10
# Optional column of a key table: the case mix completions are weighted by (e.g. the clinical
# population's, microcalc.modelling.clinical); matching still counts real lesions ("count"). Donors
# whose case-mix weights are all 0 (e.g. BI-RADS 2 lesions, never biopsied) fall back to their counts.
CASE_MIX_WEIGHT = "weight"
MAX_COMPLETIONS = 32
_BIRADS_MATCH = {"4A": "4", "4B": "4", "4C": "4", "1": "2"}


def _key_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for k in KEYS:
        if k == "age_band":
            out[k] = age_band(frame["age"]) if "age" in frame else pd.Series(pd.NA, index=frame.index, dtype="Float64")
        else:
            out[k] = frame[k].astype("string") if k in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
    return out


def _lexicon_group(values: pd.Series, suspicious: tuple[str, ...]) -> pd.Series:
    """'suspicious' if any of a lesion's words is suspicious, else 'benign'; blank stays blank."""
    codes, texts = pd.factorize(values.astype("string"))
    groups = np.array(
        ["suspicious" if set(str(t).split(schema.MULTI_SEPARATOR)) & set(suspicious) else "benign" for t in texts]
        + [None],
        dtype=object,
    )
    return pd.Series(groups[codes], index=values.index, dtype="string")


def match_keys(keys: pd.DataFrame) -> pd.DataFrame:
    """The matching view of stored keys: adds the morphology's lexicon group, coarsens BI-RADS."""
    return keys.assign(
        morphology_group=_lexicon_group(keys["morphology"], schema.MORPHOLOGY_SUSPICIOUS),
        birads=keys["birads"].replace(_BIRADS_MATCH),
    )[list(MATCH_KEYS)]


def training_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Distinct training key combinations with lesion and malignant counts (stored in the fit file)."""
    keys = _key_frame(frame).assign(malignant=frame["malignant"].astype(float).fillna(0.0).to_numpy())
    table = keys.groupby(list(KEYS), dropna=False, sort=True)["malignant"].agg(["size", "sum"])
    table = table.rename(columns={"size": "count", "sum": "malignant"}).reset_index()
    types = {k: ("Float64" if k == "age_band" else "string") for k in KEYS}
    return table.astype(types | {"count": "int64", "malignant": "int64"})


def trained_columns(table: pd.DataFrame) -> tuple[str, ...]:
    """Columns recorded in at least one training lesion: only those are completed from donors."""
    out = []
    for col in TRAINED_COLUMNS:
        key = "age_band" if col == "age" else col
        if table[key].notna().any():
            out.append(col)
    return tuple(out)


@dataclass(frozen=True)
class _Donors:
    """The training key table with its matching view as NumPy columns (blank = None), for fast matching."""

    table: pd.DataFrame
    matching: dict[str, np.ndarray]
    counts: np.ndarray

    @classmethod
    def of(cls, table: pd.DataFrame) -> _Donors:
        """Donors from the training key table stored in a fit."""
        return cls(table, _columns(match_keys(table)), table["count"].to_numpy())

    def matching_rows(self, recorded: dict[str, object]) -> np.ndarray:
        """Positions of the training rows matching the recorded keys, backing off until enough lesions match."""
        keys = dict(recorded)
        for drop in (None, *BACKOFF):
            if drop is not None:
                keys.pop(drop, None)
            mask = np.ones(len(self.counts), dtype=bool)
            for k, v in keys.items():
                mask &= self.matching[k] == v
            if self.counts[mask].sum() >= MIN_DONORS:
                return np.flatnonzero(mask)
        return np.arange(len(self.counts))

    def completions(self, rows: np.ndarray, blanks: tuple[str, ...]) -> pd.DataFrame:
        """Weighted completions (columns = blank covariates, plus 'weight') from these training rows."""
        fill = ["age_band" if b == "age" else b for b in blanks]
        donors = self.table.iloc[rows]
        by = CASE_MIX_WEIGHT if CASE_MIX_WEIGHT in donors and donors[CASE_MIX_WEIGHT].sum() > 0 else "count"
        grouped = donors.groupby(fill, dropna=False)[by].sum().sort_values(ascending=False)
        grouped = grouped.iloc[:MAX_COMPLETIONS]
        out = grouped.reset_index().rename(columns={"age_band": "age", by: "weight"})
        out["weight"] = out["weight"] / out["weight"].sum()
        return out


def _columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """A frame's columns as object arrays with None for blanks (so that == never meets NA)."""
    return {k: frame[k].to_numpy(dtype=object, na_value=None) for k in frame.columns}


def _recorded(keys: dict[str, np.ndarray], i: int, known_sites: set[str]) -> dict[str, object]:
    """Lesion i's recorded match keys (a site only if it is a training site)."""
    return {k: keys[k][i] for k in MATCH_KEYS if keys[k][i] is not None and (k != "site" or keys[k][i] in known_sites)}


def complete(frame: pd.DataFrame, table: pd.DataFrame, sites: tuple[str, ...]) -> pd.DataFrame:
    """Expand lesions with trained blanks into weighted completions.

    Returns a frame with the input's columns plus ``row`` (position in ``frame``) and ``weight``;
    lesions with nothing to complete appear once with weight 1.
    """
    trained = list(trained_columns(table))
    base = frame.reset_index(drop=True).copy()
    for c in trained:
        if c not in base:
            base[c] = pd.Series(pd.NA, index=base.index, dtype="Float64" if c == "age" else "string")
    blank = base[trained].isna().to_numpy()
    incomplete = np.flatnonzero(blank.any(axis=1))
    parts = [base.loc[~blank.any(axis=1)].assign(row=lambda f: f.index, weight=1.0)]
    if len(incomplete):
        donors = _Donors.of(table)
        lesion_keys = _columns(match_keys(_key_frame(base.loc[incomplete])))
        known = set(sites)
        found: dict[tuple[bytes, tuple[str, ...]], pd.DataFrame] = {}  # (donor rows, blanks) -> completions
        fills = []
        for j, i in enumerate(incomplete):
            blanks = tuple(c for c, b in zip(trained, blank[i]) if b)
            rows = donors.matching_rows(_recorded(lesion_keys, j, known))
            key = (rows.tobytes(), blanks)
            if key not in found:
                found[key] = donors.completions(rows, blanks)
            fills.append(found[key])
        parts.append(_expand(base, incomplete, fills))
    return pd.concat(parts, ignore_index=True)


def _expand(base: pd.DataFrame, lesions: np.ndarray, fills: list[pd.DataFrame]) -> pd.DataFrame:
    """Each lesion repeated once per completion, its blank cells taken from the completion; plus row and weight."""
    sizes = [len(f) for f in fills]
    out = base.take(np.repeat(lesions, sizes)).reset_index(drop=True)
    filled = pd.concat(fills, ignore_index=True)  # a column is NA where that lesion did not need it
    for c in filled.columns.drop("weight"):
        out[c] = out[c].fillna(filled[c].astype(out[c].dtype))  # only the lesion's blank cells are NA
    return out.assign(row=np.repeat(lesions, sizes), weight=filled["weight"].to_numpy())
