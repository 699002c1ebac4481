"""Formats: text cells of a canonical, DDSM or CBIS-DDSM file -> canonical column names (and words).

:func:`detect_format` names the format from the header; one small function per format renames the
columns (and, for CBIS-DDSM, merges the CC and MLO views of each lesion into one row); :func:`validated`
then runs the shared validation. Part of :mod:`microcalc.io.readers` (load -> formats -> validation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from microcalc.io import lexicon, schema
from microcalc.io.errors import LesionInputError, clip
from microcalc.io.loading import Table, blank_to_na
from microcalc.io.validation import CANONICAL, CBIS, DDSM, Mapped, Note, validate_mapped

# Header names are compared by ``lexicon.header_key`` (case, spaces, hyphens and underscores ignored),
# in every format: 'Calc Type', 'calc type' and 'calc_type' are one name.

# DDSM header -> canonical column (see data/README.md).
DDSM_COLUMNS: dict[str, str] = {
    "lesion_id": "lesion_id",
    "case_id": "patient_id",
    "site": "site",
    "age": "age",
    "breast_density": "breast_density",
    "calc_type": "morphology",
    "calc_distribution": "distribution",
    "assessment": "birads",
    "pathology": "malignant",
}
DDSM_REQUIRED: tuple[str, ...] = ("lesion_id", "calc_type", "calc_distribution")

# CBIS-DDSM header (as written in the train set) -> canonical column. CBIS-DDSM's own files are not
# consistent ('breast density' in the training file, 'breast_density' in the test file).
CBIS_COLUMNS: dict[str, str] = {
    "patient_id": "patient_id",
    "breast density": "breast_density",
    "calc type": "morphology",
    "calc distribution": "distribution",
    "assessment": "birads",
    "pathology": "malignant",
}
CBIS_REQUIRED: tuple[str, ...] = (
    "patient_id",
    "left or right breast",
    "image view",
    "abnormality id",
    "calc type",
    "calc distribution",
)
CBIS_SIDE, CBIS_VIEW, CBIS_ABNORMALITY = "left or right breast", "image view", "abnormality id"

_CBIS_RENAMES: dict[str, str] = {lexicon.header_key(k): v for k, v in CBIS_COLUMNS.items()}
# When the views of one abnormality disagree (the CBIS-DDSM training file: 18 assessments, e.g. CC 4
# and MLO 2, and 3 pathologies, BENIGN vs BENIGN_WITHOUT_CALLBACK), the lesion keeps the most severe
# value: a finding's assessment is that of its most suspicious view, and a malignant pathology in
# either view makes the lesion malignant. Words are ranked in this order (unknown words rank above
# all, so that validation sees and refuses them); a note counts the lesions whose views disagreed
# (for pathology: on the outcome).
# Per column: the words from least to most severe, and what counts as a disagreement.
CBIS_MOST_SEVERE: dict[str, tuple[tuple[str, ...], Callable[[str], object]]] = {
    "assessment": (("0", "1", "2", "3", "4", "4A", "4B", "4C", "5"), lambda word: word),
    "pathology": (("BENIGN_WITHOUT_CALLBACK", "BENIGN", "MALIGNANT"), lambda word: word == "MALIGNANT"),
}
_DDSM_RENAMES: dict[str, str] = {lexicon.header_key(k): v for k, v in DDSM_COLUMNS.items()}


def detect_format(columns: Iterable[str], *, file: str = "input") -> str:
    """Name the format ("canonical", "ddsm" or "cbis-ddsm") a header belongs to; refuse others."""
    names = [str(c).strip() for c in columns]
    keys = {lexicon.header_key(c) for c in names}
    if all(lexicon.header_key(c) in keys for c in CBIS_REQUIRED):
        return CBIS
    canonical = {lexicon.canonical_column(c, schema.COLUMNS) for c in names}
    if "lesion_id" in canonical:
        has_ddsm_words = bool({"calc_type", "calc_distribution"} & keys)
        has_canonical_words = bool(set(schema.MULTI_VALUED) & canonical)
        return DDSM if has_ddsm_words and not has_canonical_words else CANONICAL
    raise LesionInputError(file, _unknown_format_problem(names), row=1)


def _from_canonical(table: Table) -> Mapped:
    """Canonical file: headers renamed to the canonical columns they name; others are extras.

    A header names a canonical column in any case and spelling of separators, or by a common alias
    (``lexicon.COLUMN_ALIASES``: 'BI-RADS', 'Breast Density', 'Patient Age').
    """
    renames = {c: lexicon.canonical_column(c, schema.COLUMNS) or c for c in table.cells.columns}
    return _rename(table, table.cells, renames, CANONICAL)


# DDSM and CBIS-DDSM write descriptors in DDSM words; the other vocabularies are shared.
_DDSM_TABLES: dict[str, Mapping[str, str | None]] = {
    **lexicon.CANONICAL_WORDS,
    "morphology": lexicon.DDSM_MORPHOLOGY,
    "distribution": lexicon.DDSM_DISTRIBUTION,
}


def _from_ddsm(table: Table) -> Mapped:
    """DDSM file: rename DDSM columns, translate DDSM words, density 0 = not recorded."""
    renames = {c: _DDSM_RENAMES.get(lexicon.header_key(c), c) for c in table.cells.columns}
    cells = _density_zero_not_recorded(table.cells, renames)
    return _rename(table, cells, renames, DDSM, words=_DDSM_TABLES, separator=lexicon.DDSM_SEPARATOR)


def _density_zero_not_recorded(cells: pd.DataFrame, renames: Mapping[str, str]) -> pd.DataFrame:
    """DDSM and CBIS-DDSM write breast density 0 for not recorded: make those cells blank."""
    cells = cells.copy(deep=False)  # a column is replaced below, never written in place
    for original, target in renames.items():
        if target == "breast_density":
            density = cells[original]
            cells[original] = density.mask(density == lexicon.DDSM_BREAST_DENSITY_NOT_RECORDED)
    return cells


def _from_cbis(table: Table) -> Mapped:
    """CBIS-DDSM file: one row per view, so merge the views of each lesion into one row."""
    header = {lexicon.header_key(c): c for c in table.cells.columns}
    for reserved in ("lesion_id", "views"):
        if reserved in header:
            raise LesionInputError(
                table.file,
                f"a CBIS-DDSM file may not have a '{reserved}' column: it is "
                "made from patient_id, side, abnormality id and image view",
                row=1,
                column=header[reserved],
            )
    cells = table.cells
    key_columns = [header[lexicon.header_key(c)] for c in ("patient_id", CBIS_SIDE, CBIS_ABNORMALITY)]
    for column in key_columns:
        blank = cells[column].isna().to_numpy()
        if blank.any():
            raise LesionInputError(
                table.file,
                "is blank but needed to identify the lesion",
                row=int(table.rows[np.argmax(blank)]),
                column=column,
            )
    lesion_key = cells[key_columns[0]].str.cat([cells[key_columns[1]], cells[key_columns[2]]], sep=".")
    codes, keys = pd.factorize(lesion_key)
    descriptors = [header[lexicon.header_key("calc type")], header[lexicon.header_key("calc distribution")]]
    per_view = [c for c in cells.columns if "file_path" in lexicon.header_key(c)]
    merged = _merge_views(cells, codes, len(keys), header[lexicon.header_key(CBIS_VIEW)], descriptors, per_view)
    first_rows = table.rows[np.unique(codes, return_index=True)[1]]  # codes number lesions by first appearance
    notes = []
    for name, (order, same_class) in CBIS_MOST_SEVERE.items():
        column = header.get(lexicon.header_key(name))
        if column is not None:
            merged[column], note = _most_severe_view(
                table.file, column, codes, first_rows, cells[column], order, same_class
            )
            notes.extend([note] if note else [])
    merged.insert(0, "lesion_id", pd.array(keys, dtype="string"))
    renames = {c: _CBIS_RENAMES.get(lexicon.header_key(c), c) for c in merged.columns}
    merged = _density_zero_not_recorded(merged, renames)
    return _rename(
        Table(table.file, merged, first_rows),
        merged,
        renames,
        CBIS,
        words=_DDSM_TABLES,
        separator=lexicon.DDSM_SEPARATOR,
        notes=notes,
    )


def _most_severe_view(
    file: str,
    column: str,
    codes: np.ndarray,
    first_rows: np.ndarray,
    values: pd.Series,
    order: tuple[str, ...],
    same_class: Callable[[str], object],
) -> tuple[pd.Series, Note | None]:
    """Per lesion the most severe of its views' values (see CBIS_MOST_SEVERE).

    Also a note naming the lesions whose views disagreed.
    """
    n = len(first_rows)
    words = values.astype("string").str.strip().str.upper()
    rank = words.map({w: float(i) for i, w in enumerate(order)}).astype("Float64").fillna(float(len(order)))
    rank = rank.where(values.notna(), -1.0).to_numpy(dtype=float)  # blank ranks below every word
    views = pd.DataFrame({"code": codes, "rank": rank, "value": values.to_numpy(dtype=object)})
    best = views.sort_values(["code", "rank"], kind="stable").groupby("code")["value"].last()
    kept = pd.Series(best.reindex(range(n)).to_numpy(dtype=object)).astype("string")
    present = views[values.notna().to_numpy()]
    classes = present["value"].map(lambda v: same_class(str(v).strip().upper()))
    disagree = np.flatnonzero(classes.groupby(present["code"]).nunique().reindex(range(n), fill_value=0).to_numpy() > 1)
    if not len(disagree):
        return kept, None
    shown = (
        present[present["code"].isin(disagree[:5])].groupby("code")["value"].agg(lambda v: "/".join(dict.fromkeys(v)))
    )
    text = (
        f"column '{column}': the views of a lesion disagree; the most severe value was kept "
        f"(highest assessment, malignant over benign)"
    )
    return kept, Note(file, text, tuple((int(first_rows[c]), clip(str(v))) for c, v in shown.items()), len(disagree))


def _merge_views(
    cells: pd.DataFrame, codes: np.ndarray, n_lesions: int, view: str, descriptors: list[str], per_view: list[str]
) -> pd.DataFrame:
    """One row per lesion from its views' rows.

    Descriptor words and views ("CC+MLO") are united, each view's own value of a ``per_view`` column
    (the image paths) is joined with " + " in view order, and any other column keeps its first
    non-missing value.
    """
    merged = cells.drop(columns=[view]).groupby(codes, sort=True).first().reset_index(drop=True)
    for column in descriptors:
        merged[column] = _union_per_group(codes, n_lesions, cells[column], lexicon.DDSM_SEPARATOR)
    for column in per_view:
        merged[column] = _union_per_group(codes, n_lesions, cells[column], " + ")
    merged.insert(list(cells.columns).index(view), "views", _union_per_group(codes, n_lesions, cells[view], "+"))
    return merged


def _union_per_group(codes: np.ndarray, n_groups: int, values: pd.Series, sep: str) -> pd.Series:
    """Join each group's distinct non-missing values (sorted) with sep; loops only over distinct values."""
    present = values.notna().to_numpy()
    pairs = pd.DataFrame({"group": codes[present], "value": values.to_numpy(dtype=object)[present]})
    pairs = pairs.drop_duplicates()
    joined = np.full(n_groups, "", dtype=object)
    for value, groups in pairs.groupby("value", sort=True)["group"]:
        idx = groups.to_numpy()
        joined[idx] = np.where(joined[idx] == "", value, joined[idx] + sep + value)
    return blank_to_na(pd.Series(joined, dtype="string"))


def _rename(table: Table, cells: pd.DataFrame, renames: dict[str, str], fmt: str, **options: object) -> Mapped:
    """Apply a format's renames; columns already named canonically are used too; clashes refused."""
    names: dict[str, str] = {}
    for original, wanted in renames.items():
        target = wanted if wanted in schema.COLUMNS else lexicon.canonical_column(original, schema.COLUMNS)
        if target is None:
            continue
        if target in names:
            raise LesionInputError(
                table.file,
                f"columns '{clip(names[target])}' and '{clip(original)}' would both become '{target}'; remove one",
                row=1,
                column=original,
            )
        names[target] = original
    cells = cells.rename(columns={original: target for target, original in names.items()})
    extras = [c for c in cells.columns if c not in names]
    return Mapped(table.file, fmt, cells, table.rows, names, extras, **options)  # type: ignore[arg-type]


_MAPPERS: dict[str, Callable[[Table], Mapped]] = {
    CANONICAL: _from_canonical,
    DDSM: _from_ddsm,
    CBIS: _from_cbis,
}


def mapped(table: Table, fmt: str) -> Mapped:
    """The table's cells renamed to canonical columns by the mapper of format ``fmt`` (before validation)."""
    return _MAPPERS[fmt](table)


def validated(
    table: Table, require_outcome: bool, fmt: str | None = None, unique_ids: bool = True
) -> tuple[pd.DataFrame, list[Note]]:
    """Tidy text cells -> canonical frame and warnings: detect the format (unless given), rename, validate."""
    fmt = fmt or detect_format(table.cells.columns, file=table.file)
    return validate_mapped(mapped(table, fmt), require_outcome=require_outcome, unique_ids=unique_ids)


def _unknown_format_problem(names: list[str]) -> str:
    """Explain which columns each format needs, with a hint for near-miss header names."""
    shown = clip(", ".join(clip(n, 30) for n in names[:12]) + (", ..." if len(names) > 12 else ""), 400)
    problem = (
        f"cannot tell the format from the header (columns: {shown}). "
        "A canonical file needs a 'lesion_id' column; "
        f"a DDSM file needs {', '.join(DDSM_REQUIRED)}; "
        f"a CBIS-DDSM file needs {', '.join(repr(c) for c in CBIS_REQUIRED)}"
    )
    return problem
