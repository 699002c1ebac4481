"""The studies table's rows as likelihood terms of the meta-analysis, and how each row is used.

One row of ``studies.csv`` is one study x finding level with malignant and total lesion counts. This
module turns the rows of a validated table (:func:`microcalc.synthesis.studies.load_studies`) into
likelihood terms (:class:`StudyRow`) for :mod:`microcalc.synthesis.meta`, using the level tables of
:mod:`microcalc.synthesis.levels`:

* **Model levels.** ``morphology`` and ``distribution`` rows use the schema's words, ``birads`` rows
  2, 3, 4A, 4B, 4C, 5, ``overall`` rows ``all``. Each is a synthesis *unit* (finding, level).
* **Pooled levels** are a study's rate over a union of model levels and enter as a lesion-weighted sum
  of the component levels' rates in that study (:data:`~microcalc.synthesis.levels.POOLED_LEVELS`):
  4 = 4A+4B+4C, 4BC = 4B+4C, fine_pleomorphic_or_fine_linear and the 4th-edition
  typically_malignant_pooled = FP+FL, the 4th-edition indeterminate_pooled = amorphous+coarse_heterogeneous,
  linear_or_segmental.
  The weights are the lesion shares of the components among the table's studies that report every
  component separately (:func:`component_weights`; e.g. 4A/4B/4C = 321/366/238 lesions of Eur J Radiol
  2017 and Chulalongkorn; a prior file's ``category4_mix`` is checked against them,
  :mod:`microcalc.synthesis.birads_steps`).
* ``typically_benign`` (the 4th-edition benign group, unknown mix of forms) is its own unit: it cannot
  be split into forms, so it is reported and used as the source of the hand-set benign-form priors.
* ``multiple_groups`` (Oligane 2018) is a set of grouped clusters: it is added to the study's
  ``grouped`` row (disjoint lesions of the same partition, so the counts add).
* **Within-study partitions.** The overall, morphology, distribution and birads rows of one study are
  different partitions of the same lesions. Each unit's meta-analysis takes at most one term per study
  (rows of one partition are disjoint), so no lesion is counted twice in any likelihood. Rows that
  re-split a row of the same partition (``amorphous_pure``, ``amorphous_with_punctate`` of Kim D 2023)
  are not used; covariate rows are not model levels and are not used.
* **Restricted samples.** A study with no ``overall`` row whose single row in one finding covers its
  whole sample (e.g. Kim J 2018: every lesion 4A; Oligane 2018: every lesion amorphous) is restricted to
  that level; its rows of *other* findings carry that restriction and get a study-level shift in the
  meta-analysis (see :mod:`microcalc.synthesis.meta`).
* **Not used** (``EXCLUDED_STUDIES``): Liberman 1998, whose denominators include masses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from microcalc.synthesis.levels import (
    CHECKED_MARK,
    EXCLUDED_STUDIES,
    MERGED_LEVELS,
    POOLED_LEVELS,
    RESPLIT_LEVELS,
    SYNTHESIS_FINDINGS,
)


@dataclass(frozen=True)
class StudyRow:
    """One likelihood term: a study's count at a unit or a lesion-weighted union of units.

    ``components`` are ((unit level, weight), ...) within ``finding``; one component for a plain row.
    ``restriction`` is (finding, level, components) of the level the study's whole sample is
    restricted to, when that differs from this row's finding, else None. ``lines`` are the table rows (header = row 1) merged.
    """

    study_id: str
    cohort: str
    finding: str
    level: str
    malignant: int
    total: int
    components: tuple[tuple[str, float], ...]
    restriction: tuple[str, str, tuple[tuple[str, float], ...]] | None = None
    lines: tuple[int, ...] = field(default=())

    @property
    def pooled(self) -> bool:
        """True for a row over a union of units (more than one component)."""
        return len(self.components) > 1

    @property
    def units(self) -> tuple[str, ...]:
        """The unit levels the row counts, in component order."""
        return tuple(u for u, _ in self.components)

    @property
    def observed(self) -> float:
        """The row's observed malignancy rate (malignant / total)."""
        return self.malignant / self.total


def component_weights(table: pd.DataFrame, finding: str, units: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """Lesion shares of ``units`` among the table's studies that report every one of them separately.

    These are the weights of a pooled row's components (the study's pooled rate is the lesion-weighted
    mean of its component rates). Falls back to equal weights when no study reports them all.
    """
    sub = table[
        (table["finding"] == finding)
        & table["level"].isin(units)
        & ~table["study_id"].isin(EXCLUDED_STUDIES)
        & (table["checked"] == CHECKED_MARK)
    ]
    complete = sub.groupby("study_id")["level"].nunique()
    studies = complete[complete == len(units)].index
    totals = sub[sub["study_id"].isin(studies)].groupby("level")["total"].sum()
    if len(studies) == 0 or totals.sum() == 0:
        return tuple((u, 1.0 / len(units)) for u in units)
    return tuple((u, float(totals.get(u, 0) / totals.sum())) for u in units)


def weights_source(table: pd.DataFrame, finding: str, units: tuple[str, ...]) -> str:
    """Text naming the studies and lesion counts behind :func:`component_weights`."""
    sub = table[
        (table["finding"] == finding)
        & table["level"].isin(units)
        & ~table["study_id"].isin(EXCLUDED_STUDIES)
        & (table["checked"] == CHECKED_MARK)
    ]
    complete = sub.groupby("study_id")["level"].nunique()
    studies = list(complete[complete == len(units)].index)
    if not studies:
        return "equal weights (no study reports the components separately)"
    totals = sub[sub["study_id"].isin(studies)].groupby("level")["total"].sum()
    return "lesions " + "/".join(str(int(totals.get(u, 0))) for u in units) + " in " + ", ".join(studies)


def _restrictions(table: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Studies restricted to one level: no overall row, and a single row in one finding covering the sample."""
    out: dict[str, tuple[str, str]] = {}
    rows = table[table["finding"].isin(SYNTHESIS_FINDINGS)]
    for study, srows in rows.groupby("study_id"):
        if (srows["finding"] == "overall").any():
            continue
        sizes = srows[~srows.apply(lambda r: (r["finding"], r["level"]) in RESPLIT_LEVELS, axis=1)].groupby("finding")[
            "total"
        ]
        counts, sums = sizes.count(), sizes.sum()
        singles = [f for f in counts.index if counts[f] == 1 and sums[f] >= sums.max()]
        if len(singles) == 1 and len(counts) > 1:
            f = singles[0]
            out[study] = (f, srows[srows["finding"] == f]["level"].iloc[0])
    return out


@dataclass(frozen=True)
class RowUse:
    """Whether a table row enters the synthesis and, if not, why."""

    line: int
    study_id: str
    finding: str
    level: str
    used: bool
    reason: str


def likelihood_rows(table: pd.DataFrame) -> tuple[list[StudyRow], list[RowUse]]:
    """Turn a validated table into likelihood terms, and say for every table row how it is used.

    Returns
    -------
    rows
        One :class:`StudyRow` per study and unit (or pooled union), counts of merged rows added.
    uses
        One :class:`RowUse` per table row.
    """
    restricted = _restrictions(table)
    merged: dict[tuple[str, str, str], dict] = {}
    uses: list[RowUse] = []
    for _, rec in table.iterrows():
        study, finding, level, line = rec["study_id"], rec["finding"], rec["level"], int(rec["line"])
        key = (finding, level)

        def skip(reason: str, line=line, study=study, finding=finding, level=level) -> None:
            uses.append(RowUse(line, study, finding, level, False, reason))

        if finding == "covariate":
            skip("covariate row: not a model level")
            continue
        if rec["checked"] != CHECKED_MARK:
            skip("not checked against the source")
            continue
        if study in EXCLUDED_STUDIES:
            skip(EXCLUDED_STUDIES[study])
            continue
        if key in RESPLIT_LEVELS:
            skip(RESPLIT_LEVELS[key])
            continue
        if key in POOLED_LEVELS:
            units = POOLED_LEVELS[key][0]
            comps = component_weights(table, finding, units)
            note = f"pooled: {POOLED_LEVELS[key][1]}, weights " + ", ".join(f"{u} {w:.3f}" for u, w in comps)
        elif key in MERGED_LEVELS:
            comps = ((MERGED_LEVELS[key][0], 1.0),)
            note = f"added to {MERGED_LEVELS[key][0]}: {MERGED_LEVELS[key][1]}"
        else:
            comps = ((level, 1.0),)
            note = "used"
        rkey = restricted.get(study)
        if rkey is not None and rkey[0] == finding:
            rkey = None
        restriction: tuple[str, str, tuple[tuple[str, float], ...]] | None = None
        if rkey is not None:
            rcomps = (
                component_weights(table, rkey[0], POOLED_LEVELS[rkey][0])
                if rkey in POOLED_LEVELS
                else ((rkey[1], 1.0),)
            )
            restriction = (rkey[0], rkey[1], rcomps)
            note += f"; sample restricted to {rkey[0]} {rkey[1]} (study-level shift)"
        uses.append(RowUse(line, study, finding, level, True, note))
        mkey = (study, finding, "+".join(u for u, _ in comps))
        if mkey in merged:
            merged[mkey]["malignant"] += int(rec["malignant"])
            merged[mkey]["total"] += int(rec["total"])
            merged[mkey]["lines"] += (line,)
            merged[mkey]["level"] = comps[0][0]
        else:
            merged[mkey] = dict(
                study_id=study,
                cohort=rec["cohort"],
                finding=finding,
                level=level,
                malignant=int(rec["malignant"]),
                total=int(rec["total"]),
                components=comps,
                restriction=restriction,
                lines=(line,),
            )
    return [StudyRow(**v) for v in merged.values()], uses
