"""The table of published biopsy series (``studies.csv``): finding it, reading it, and validating it.

One row is one study x finding level with malignant and total lesion counts. :func:`load_studies`
reads a table, checks every cell against the vocabulary of :mod:`microcalc.synthesis.levels`, checks
that the rows of one study and finding partition its lesions, and adds the ``line`` and ``cohort``
columns (Burnside 2006 and 2007 are one cohort, same centre and period, so leave-one-out leaves both
out together; a user table may add a ``cohort`` column). Turning the rows into likelihood terms is
:mod:`microcalc.synthesis.terms`.

The vocabulary (:mod:`~microcalc.synthesis.levels`) and the row mapping (:mod:`~microcalc.synthesis.terms`)
are re-exported here, so callers that use the table as ``st`` (``st.MODEL_LEVELS``, ``st.likelihood_rows``)
need one import.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from microcalc.io.errors import LesionInputError
from microcalc.synthesis.levels import (
    CHECKED_MARK,
    EXCLUDED_STUDIES,
    FINDINGS,
    GROUP_UNITS,
    MERGED_LEVELS,
    MODEL_LEVELS,
    POOLED_LEVELS,
    REQUIRED_COLUMNS,
    RESPLIT_LEVELS,
    SAME_COHORT,
    SYNTHESIS_FINDINGS,
    allowed_levels,
)
from microcalc.synthesis.terms import RowUse, StudyRow, component_weights, likelihood_rows, weights_source


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


__all__ = [
    "REQUIRED_COLUMNS",
    "FINDINGS",
    "SYNTHESIS_FINDINGS",
    "CHECKED_MARK",
    "MODEL_LEVELS",
    "GROUP_UNITS",
    "POOLED_LEVELS",
    "MERGED_LEVELS",
    "RESPLIT_LEVELS",
    "EXCLUDED_STUDIES",
    "SAME_COHORT",
    "allowed_levels",
    "StudyRow",
    "RowUse",
    "component_weights",
    "weights_source",
    "likelihood_rows",
    "bundled_studies_path",
    "load_studies",
]
