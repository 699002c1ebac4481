"""The table of published biopsy series: loading, validation, and mapping its levels onto the model's.

One row of ``studies.csv`` is one study x finding level with malignant and total lesion counts. This
module turns the rows into likelihood terms (:class:`StudyRow`) for :mod:`microcalc.synthesis.meta`:

* **Model levels.** ``morphology`` and ``distribution`` rows use the schema's words, ``birads`` rows
  2, 3, 4A, 4B, 4C, 5, ``overall`` rows ``all``. Each is a synthesis *unit* (finding, level).
* **Pooled levels** are a study's rate over a union of model levels and enter as a lesion-weighted sum
  of the component levels' rates in that study (:data:`POOLED_LEVELS`): 4 = 4A+4B+4C, 4BC = 4B+4C,
  fine_pleomorphic_or_fine_linear and the 4th-edition typically_malignant_pooled = FP+FL,
  the 4th-edition indeterminate_pooled = amorphous+coarse_heterogeneous, linear_or_segmental.
  The weights are the lesion shares of the components among the table's studies that report every
  component separately (:func:`component_weights`; e.g. 4A/4B/4C = 321/366/238 lesions of Eur J Radiol
  2017 and Chulalongkorn, close to the model's ``category4_mix`` 0.348/0.399/0.253).
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
* **Cohorts.** Burnside 2006 and 2007 are one cohort (same centre and period); leave-one-out leaves
  both out together. A user table may add a ``cohort`` column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from microcalc.io import schema
from microcalc.io.errors import LesionInputError

REQUIRED_COLUMNS: tuple[str, ...] = ("study_id", "citation", "finding", "level", "malignant", "total", "checked")
FINDINGS: tuple[str, ...] = ("overall", "morphology", "distribution", "birads", "covariate")
SYNTHESIS_FINDINGS: tuple[str, ...] = ("overall", "morphology", "distribution", "birads")
CHECKED_MARK = "✔"

# Levels that are model parameters (units of the synthesis), per finding.
MODEL_LEVELS: dict[str, tuple[str, ...]] = {
    "overall": ("all",),
    "morphology": schema.MORPHOLOGY,
    "distribution": schema.DISTRIBUTION,
    "birads": ("2", "3", "4A", "4B", "4C", "5"),
}
# Group units: synthesised, reported, but not a single model level.
GROUP_UNITS: dict[str, tuple[str, ...]] = {"morphology": ("typically_benign",)}

# Pooled table levels: (finding, level) -> the model levels whose union it is, and why.
POOLED_LEVELS: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("birads", "4"): (("4A", "4B", "4C"), "undivided BI-RADS 4 = 4A + 4B + 4C"),
    ("birads", "4BC"): (("4B", "4C"), "4B and 4C reported together"),
    ("morphology", "fine_pleomorphic_or_fine_linear"): (
        ("fine_pleomorphic", "fine_linear"),
        "fine pleomorphic and fine linear pooled",
    ),
    ("morphology", "typically_malignant_pooled"): (
        ("fine_pleomorphic", "fine_linear"),
        "4th-edition 'higher probability of malignancy' group",
    ),
    ("morphology", "indeterminate_pooled"): (
        ("amorphous", "coarse_heterogeneous"),
        "4th-edition 'intermediate concern' group",
    ),
    ("distribution", "linear_or_segmental"): (("linear", "segmental"), "linear and segmental pooled"),
}
# Table levels added to a model level of the same study (disjoint lesions of the same partition).
MERGED_LEVELS: dict[tuple[str, str], tuple[str, str]] = {
    ("distribution", "multiple_groups"): ("grouped", "multiple groups (same quadrant) are grouped clusters"),
}
# Finer re-splits of a row of the same partition: kept in the table, not used (the coarse row is).
RESPLIT_LEVELS: dict[tuple[str, str], str] = {
    ("morphology", "amorphous_pure"): "re-splits the study's amorphous row (same lesions)",
    ("morphology", "amorphous_with_punctate"): "re-splits the study's amorphous row (same lesions)",
}
EXCLUDED_STUDIES: dict[str, str] = {
    "liberman1998": "denominators include masses (not calcification-specific)",
}
SAME_COHORT: dict[str, str] = {"burnside2006": "burnside2006+2007", "burnside2007": "burnside2006+2007"}


def allowed_levels(finding: str) -> tuple[str, ...]:
    """Every level word the table may use for ``finding`` (covariate levels are free words)."""
    words = list(MODEL_LEVELS.get(finding, ())) + list(GROUP_UNITS.get(finding, ()))
    for table in (POOLED_LEVELS, MERGED_LEVELS, RESPLIT_LEVELS):
        words += [lvl for (f, lvl) in table if f == finding]
    return tuple(words)


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
        return len(self.components) > 1

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(u for u, _ in self.components)

    @property
    def observed(self) -> float:
        return self.malignant / self.total


def bundled_studies_path() -> Path:
    """The ``studies.csv`` shipped in ``microcalc.priors``."""
    return Path(str(resources.files("microcalc.priors").joinpath("studies.csv")))


def _cut(value, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_studies(path: str | Path | None = None) -> pd.DataFrame:
    """Read and validate a studies table (default: the bundled one).

    Validation: required columns; non-empty ``study_id``, ``finding`` and ``level``; ``finding`` one of
    :data:`FINDINGS`; ``level`` in the vocabulary of its finding (:func:`allowed_levels`); integer
    counts with 0 <= malignant <= total and total >= 1; ``checked`` empty or the check mark; no
    duplicated study x finding x level. Problems raise :class:`~microcalc.io.errors.LesionInputError`
    naming the file, row (header = 1), column, value (cut to 80 characters) and what is allowed.

    Returns
    -------
    pandas.DataFrame
        The table with ``malignant``/``total`` as int, a ``line`` column (spreadsheet row) and a
        ``cohort`` column (from the file if present, else the study id, Burnside 2006/2007 joined).
    """
    path = Path(path) if path is not None else bundled_studies_path()
    name = str(path)
    if not path.is_file():
        raise LesionInputError(name, "studies table not found")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError:
        raise LesionInputError(name, "not UTF-8 text") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LesionInputError(name, f"not a readable CSV table ({_cut(exc)})") from None
    table.columns = [c.strip() for c in table.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise LesionInputError(name, f"missing column(s) {', '.join(missing)}", allowed=", ".join(REQUIRED_COLUMNS))
    if table.empty:
        raise LesionInputError(name, "the table has no rows")
    table = table.apply(lambda col: col.str.strip())
    table["line"] = np.arange(len(table)) + 2
    for _, rec in table.iterrows():
        line = int(rec["line"])
        for col in ("study_id", "finding", "level"):
            if rec[col] == "":
                raise LesionInputError(name, f"empty {col}", row=line, column=col)
        if rec["finding"] not in FINDINGS:
            raise LesionInputError(
                name,
                "unknown finding",
                row=line,
                column="finding",
                value=_cut(rec["finding"]),
                allowed=", ".join(FINDINGS),
            )
        if rec["finding"] != "covariate" and rec["level"] not in allowed_levels(rec["finding"]):
            raise LesionInputError(
                name,
                f"unknown {rec['finding']} level",
                row=line,
                column="level",
                value=_cut(rec["level"]),
                allowed=_cut(", ".join(allowed_levels(rec["finding"])), 400),
            )
        counts = {}
        for col in ("malignant", "total"):
            text = rec[col]
            try:
                number = float(text)
            except ValueError:
                number = float("nan")
            if not np.isfinite(number) or number != int(number):
                raise LesionInputError(
                    name,
                    "count must be a whole number",
                    row=line,
                    column=col,
                    value=_cut(text),
                    allowed="integers 0, 1, 2, ...",
                )
            counts[col] = int(number)
        if counts["total"] < 1:
            raise LesionInputError(name, "total must be at least 1", row=line, column="total", value=counts["total"])
        if not 0 <= counts["malignant"] <= counts["total"]:
            raise LesionInputError(
                name,
                "malignant must lie between 0 and total",
                row=line,
                column="malignant",
                value=counts["malignant"],
                allowed=f"0..{counts['total']}",
            )
        if rec["checked"] not in ("", CHECKED_MARK):
            raise LesionInputError(
                name,
                "checked must be empty or the check mark",
                row=line,
                column="checked",
                value=_cut(rec["checked"]),
                allowed=f"'{CHECKED_MARK}' or empty",
            )
    table["malignant"] = table["malignant"].astype(float).astype(int)
    table["total"] = table["total"].astype(float).astype(int)
    dup = table.duplicated(["study_id", "finding", "level"], keep="first")
    if dup.any():
        rec = table[dup].iloc[0]
        raise LesionInputError(
            name,
            "study, finding and level repeat an earlier row",
            row=int(rec["line"]),
            column="level",
            value=_cut(f"{rec['study_id']} {rec['finding']} {rec['level']}"),
        )
    if "cohort" not in table.columns or (table["cohort"] == "").all():
        table["cohort"] = [SAME_COHORT.get(s, s) for s in table["study_id"]]
    else:
        table["cohort"] = [c if c else s for c, s in zip(table["cohort"], table["study_id"])]
    _check_partitions(table, name)
    return table


def _check_partitions(table: pd.DataFrame, name: str) -> None:
    """Rows of one study and finding must be disjoint: a pooled row may not share a level with another row."""
    for (study, finding), rows in table[table["finding"].isin(SYNTHESIS_FINDINGS)].groupby(["study_id", "finding"]):
        seen: dict[str, int] = {}
        for _, rec in rows.iterrows():
            key = (finding, rec["level"])
            if key in RESPLIT_LEVELS:
                continue
            if key in POOLED_LEVELS:
                units, pooled = POOLED_LEVELS[key][0], True
            else:
                units, pooled = (MERGED_LEVELS.get(key, (rec["level"],))[0],), False
            for u in units:
                if u in seen and (pooled or seen[u] == 1):
                    raise LesionInputError(
                        name,
                        f"rows of one study and finding must partition its lesions, but this row overlaps "
                        f"another row of {study} in level {u}",
                        row=int(rec["line"]),
                        column="level",
                        value=rec["level"],
                    )
                seen[u] = 1 if pooled else seen.get(u, 0)


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
        restriction = restricted.get(study)
        if restriction is not None and restriction[0] == finding:
            restriction = None
        if restriction is not None:
            rkey = restriction
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
