"""Read a lesion table (canonical, DDSM or CBIS-DDSM; CSV or Parquet) into the canonical frame.

Flow: load the file as text cells -> detect the format from the header -> one small function
per format renames (and for CBIS-DDSM merges views) into canonical column names -> ONE shared
validation turns cells into the typed frame: all of ``schema.COLUMNS`` with ``schema.DTYPES``
(absent columns all NA), then the file's extra columns as strings.

Validation is vectorised: each column is factorised into its *distinct* texts, each distinct
text is translated or parsed once, and rows take their value by code, so a million rows of a
typical registry take about a second. Bad input raises one ``LesionInputError`` naming the file,
the first bad cell (spreadsheet row: header = row 1), the bad value and what is allowed.

:func:`validate_cells` is the same validation for a block of text cells that is already in memory;
``microcalc.batch.scoring`` streams large files block by block through :func:`validated_block`, which
returns the warnings as :class:`Note` s so that they can be merged and given once per file.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from microcalc.io import lexicon, schema
from microcalc.io.csvblocks import csv_header, is_parquet
from microcalc.io.errors import LesionInputError, LesionWarning, clip

__all__ = ["read_lesions", "validate_cells", "validated_block", "Note", "merge_notes", "warn_notes", "csv_header",
           "as_text", "strip_cells", "bundled_data_path", "detect_format"]

CANONICAL, DDSM, CBIS = "canonical", "ddsm", "cbis-ddsm"

# Header names are compared by ``lexicon.header_key`` (case, spaces, hyphens and underscores ignored),
# in every format: 'Calc Type', 'calc type' and 'calc_type' are one name.

# DDSM header -> canonical column (see data/README.md).
DDSM_COLUMNS: dict[str, str] = {
    "lesion_id": "lesion_id", "case_id": "patient_id", "site": "site", "age": "age",
    "breast_density": "breast_density", "calc_type": "morphology",
    "calc_distribution": "distribution", "assessment": "birads", "pathology": "malignant",
}
DDSM_REQUIRED: tuple[str, ...] = ("lesion_id", "calc_type", "calc_distribution")

# CBIS-DDSM header (as written in the train set) -> canonical column. CBIS-DDSM's own files are not
# consistent ('breast density' in the training file, 'breast_density' in the test file).
CBIS_COLUMNS: dict[str, str] = {
    "patient_id": "patient_id", "breast density": "breast_density", "calc type": "morphology",
    "calc distribution": "distribution", "assessment": "birads", "pathology": "malignant",
}
CBIS_REQUIRED: tuple[str, ...] = (
    "patient_id", "left or right breast", "image view", "abnormality id", "calc type", "calc distribution",
)
CBIS_SIDE, CBIS_VIEW, CBIS_ABNORMALITY = "left or right breast", "image view", "abnormality id"

_CBIS_RENAMES: dict[str, str] = {lexicon.header_key(k): v for k, v in CBIS_COLUMNS.items()}
_DDSM_RENAMES: dict[str, str] = {lexicon.header_key(k): v for k, v in DDSM_COLUMNS.items()}


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

def bundled_data_path() -> Path:
    """Path of the bundled DDSM calcification table shipped inside the package."""
    return Path(str(resources.files("microcalc").joinpath("data", "ddsm_calcifications.csv")))


def read_lesions(path: str | os.PathLike[str], *, require_outcome: bool = False) -> pd.DataFrame:
    """Read a lesion file of any supported format and return the validated canonical frame.

    ``require_outcome=True`` (for fitting) also demands a known outcome in every row.
    """
    file = os.fspath(path)
    frame, notes = _validated(_tidy(_load(Path(file), file), file), require_outcome)
    warn_notes(notes)
    return frame


def validate_cells(cells: pd.DataFrame, *, file: str = "input", first_row: int = 2, fmt: str | None = None,
                   require_outcome: bool = False, unique_ids: bool = True, stripped: bool = False) -> pd.DataFrame:
    """A block of a file's text cells (columns = header names) as the canonical frame, as read_lesions makes it.

    ``first_row`` is the spreadsheet row of the block's first record, so that messages name the
    file's rows; ``fmt`` skips format detection. A block of only blank rows gives an empty frame
    (whether a file without lesions is an error is the caller's business). A lesion_id used twice
    in the block is refused unless ``unique_ids=False`` (for a caller that checks the ids of all
    its blocks together). ``stripped=True`` says the cells are already string dtype, stripped of
    surrounding whitespace, with blanks as NA (as :func:`strip_cells` leaves them), so that
    per-cell pass is skipped.
    """
    frame, notes = validated_block(cells, file=file, first_row=first_row, fmt=fmt, require_outcome=require_outcome,
                                   unique_ids=unique_ids, stripped=stripped)
    warn_notes(notes)
    return frame


def validated_block(cells: pd.DataFrame, *, file: str = "input", first_row: int = 2, fmt: str | None = None,
                    require_outcome: bool = False, unique_ids: bool = True,
                    stripped: bool = False) -> tuple[pd.DataFrame, list[Note]]:
    """:func:`validate_cells` returning its notes instead of warning them, so that a caller reading a file
    block by block can warn once per file (:func:`merge_notes`)."""
    table = _tidy(cells, file, first_row=first_row, allow_empty=True, stripped=stripped)
    return _validated(table, require_outcome, fmt, unique_ids=unique_ids)


@dataclass(frozen=True)
class Note:
    """A warning about a file's cells: what was done, the first few cells it was done to, and how many in all."""

    file: str
    text: str  # e.g. "column 'age': age outside 18-110 treated as not recorded"
    cells: tuple[tuple[int, str], ...] = ()  # (spreadsheet row, value) of the first NOTE_CELLS cells
    count: int = 0  # cells in all

    def __str__(self) -> str:
        if not self.count:
            return f"{self.file}: {self.text}"
        where = ", ".join(f"row {row} ({value})" for row, value in self.cells)
        more = f" and {self.count - len(self.cells)} more" if self.count > len(self.cells) else ""
        return f"{self.file}: {self.text} at {where}{more}"


NOTE_CELLS = 5


def merge_notes(notes: Iterable[Note]) -> list[Note]:
    """One note per (file, text), in order of first appearance: the blocks of one file warn as the whole file would."""
    merged: dict[tuple[str, str], Note] = {}
    for note in notes:
        key = (note.file, note.text)
        if key in merged:
            old = merged[key]
            note = Note(note.file, note.text, (old.cells + note.cells)[:NOTE_CELLS], old.count + note.count)
        merged[key] = note
    return list(merged.values())


def warn_notes(notes: Iterable[Note]) -> None:
    """Each note as a LesionWarning."""
    for note in notes:
        warnings.warn(str(note), LesionWarning, stacklevel=3)


def outcome_values(frame: pd.DataFrame, task: str, file: str = "<data>") -> np.ndarray:
    """The 0/1 outcome of every lesion of a canonical frame, refusing one without (``task``: "fitting", ...).

    Files read with ``require_outcome=True`` are refused earlier, naming the file's row; this guards
    frames built in Python.
    """
    if schema.OUTCOME not in frame or frame[schema.OUTCOME].isna().all():
        raise LesionInputError(file, f"{task} needs an outcome column: 'malignant' (canonical) or 'pathology' "
                                     "(DDSM, CBIS-DDSM)", column=schema.OUTCOME)
    missing = frame[schema.OUTCOME].isna().to_numpy()
    if missing.any():
        raise LesionInputError(file, f"{task} needs an outcome on every lesion", row=int(np.flatnonzero(missing)[0]) + 2,
                               column=schema.OUTCOME, value="")
    return frame[schema.OUTCOME].to_numpy(dtype=float)


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


# --------------------------------------------------------------------------------------------
# Loading: file -> text cells
# --------------------------------------------------------------------------------------------

@dataclass
class _Table:
    """One input file as text cells (string dtype, NA = blank) and the spreadsheet row of each."""

    file: str
    cells: pd.DataFrame
    rows: np.ndarray


def _load(path: Path, file: str) -> pd.DataFrame:
    """Read CSV or Parquet bytes into text cells, turning every way of failing into one message."""
    if not path.exists():
        raise LesionInputError(file, "file not found")
    if path.is_dir():
        raise LesionInputError(file, "is a folder, not a file")
    data = path.read_bytes()
    if not data.strip():
        raise LesionInputError(file, "the file is empty; expected a header row and one row per lesion")
    if is_parquet(path):
        cells = _read_parquet(path, file)
    elif data.startswith(b"PK\x03\x04") or path.suffix.lower() in (".xlsx", ".xls"):
        raise LesionInputError(file, "looks like an Excel workbook or zip archive; save it as 'CSV UTF-8'")
    else:
        cells = _read_csv(data, file)
    return cells


def _read_csv(data: bytes, file: str) -> pd.DataFrame:
    """Parse UTF-8 CSV bytes into string cells; quoted newlines allowed, ragged rows refused."""
    if b"\x00" in data[:65536]:
        raise LesionInputError(file, "is not a text file (it holds binary data); expected a CSV file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise LesionInputError(
            file, f"is not UTF-8 text (undecodable byte at line {line}); save it as 'CSV UTF-8'"
        ) from None
    try:
        header, sep = csv_header(text)
    except csv.Error as err:  # e.g. an unclosed quote that swallows the rest of the file
        raise LesionInputError(file, f"the header row cannot be read as CSV ({err}); check its quotes", row=1) from None
    _check_header(header, file)
    try:
        with warnings.catch_warnings():
            # pandas silently drops data when the first record is longer than the header
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(io.BytesIO(data), sep=sep, dtype=str, na_filter=False, encoding="utf-8-sig",
                               index_col=False, skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.ParserWarning) as err:
        raise _bad_record(text, sep, file) or LesionInputError(
            file, f"cannot be read as CSV: {str(err).strip().splitlines()[0]}") from None


def _check_header(header: list[str], file: str) -> None:
    """Refuse duplicated column names, which pandas would silently rename."""
    seen: set[str] = set()
    for name in (h.strip() for h in header):
        if name and name in seen:
            raise LesionInputError(file, "column name appears twice in the header", row=1, column=name)
        seen.add(name)
    # names that differ only in case or separators ('Age' and 'age') are refused when renamed (_rename)


def _bad_record(text: str, sep: str, file: str) -> LesionInputError | None:
    """Find the first record that is too long or has an unclosed quote (error path only, so a loop is fine)."""
    reader = csv.reader(io.StringIO(text), delimiter=sep, strict=True)
    width = len(next(reader, []))
    row = 1
    try:
        for row, record in enumerate(reader, start=2):
            if len(record) > width:
                return LesionInputError(
                    file, f"row has {len(record)} cells but the header has {width} "
                          f"(a value containing '{sep}' must be in double quotes)", row=row)
    except csv.Error as err:
        return LesionInputError(file, f"a quoted value starting in this row is not closed properly ({err})",
                                row=row + 1)
    return None


def _read_parquet(path: Path, file: str) -> pd.DataFrame:
    """Read a Parquet file (needs pyarrow) and render every cell as text, as a CSV would be."""
    try:
        frame = pd.read_parquet(path)
    except ImportError:
        raise LesionInputError(file, "reading Parquet needs pyarrow: pip install 'microcalc[parquet]'") from None
    except Exception as err:  # pyarrow raises many types for corrupt files
        raise LesionInputError(file, f"cannot be read as Parquet: {err}") from None
    frame.columns = [str(c) for c in frame.columns]
    return pd.DataFrame({c: as_text(frame[c]) for c in frame.columns})


def as_text(column: pd.Series) -> pd.Series:
    """Text of a typed column; whole floats (ints with gaps) print without '.0'."""
    if pd.api.types.is_float_dtype(column):
        values = column.dropna()
        if (values == np.floor(values)).all():
            column = column.astype("Int64")
    return column.astype("string")


def _tidy(cells: pd.DataFrame, file: str, first_row: int = 2, allow_empty: bool = False,
          stripped: bool = False) -> _Table:
    """Strip cells, make blanks NA, drop blank rows and unnamed blank columns; number the rows from first_row."""
    names = [str(c).strip() for c in cells.columns]
    cells = pd.DataFrame({name: cells.iloc[:, j] if stripped else strip_cells(cells.iloc[:, j])
                          for j, name in enumerate(names)}, copy=False)  # nothing below writes in place
    unnamed = [c for c in cells.columns if c == "" or c.startswith("Unnamed: ")]
    for column in unnamed:
        if cells[column].notna().any() and not _is_saved_index(cells[column], start=first_row - 2):
            raise LesionInputError(file, "a column with values has no name in the header; name it", row=1,
                                   value=cells[column].dropna().iloc[0])  # (the message clips long values)
    cells = cells.drop(columns=unnamed)
    rows = np.arange(len(cells)) + first_row
    keep = cells.notna().any(axis=1).to_numpy()
    if not keep.any() and not allow_empty:
        raise LesionInputError(file, "has a header but no lesion rows")
    if keep.all():  # the usual case: selecting every row would copy every column
        return _Table(file, cells.reset_index(drop=True), rows)
    return _Table(file, cells[keep].reset_index(drop=True), rows[keep])


def _is_saved_index(column: pd.Series, start: int = 0) -> bool:
    """True for 0, 1, 2, ... (from ``start`` in a later block) - the unnamed index pandas writes by default."""
    expected = pd.Series((np.arange(len(column)) + start).astype(str), dtype="string")
    return bool((column == expected).all())


def strip_cells(values: pd.Series) -> pd.Series:
    """A column of cells as text without surrounding whitespace, blanks as NA."""
    return _blank_to_na(values.astype("string").str.strip())


def _blank_to_na(values: pd.Series) -> pd.Series:
    """Empty strings become NA."""
    blank = values == ""
    return values.mask(blank) if blank.any() else values


# --------------------------------------------------------------------------------------------
# Formats: text cells -> canonical column names
# --------------------------------------------------------------------------------------------

@dataclass
class _Mapped:
    """A table renamed to canonical columns, with what validation needs to speak the file's language."""

    file: str
    fmt: str
    cells: pd.DataFrame                     # canonical-named columns present, then extras
    rows: np.ndarray
    names: dict[str, str]                   # canonical column -> its header in the file
    extras: list[str]
    words: Mapping[str, Mapping[str, str | None]] = field(default_factory=lambda: lexicon.CANONICAL_WORDS)
    separator: str = schema.MULTI_SEPARATOR
    notes: list[Note] = field(default_factory=list)


def _from_canonical(table: _Table) -> _Mapped:
    """Canonical file: headers name canonical columns in any case and spelling of separators, or by a
    common alias (``lexicon.COLUMN_ALIASES``: 'BI-RADS', 'Breast Density', 'Patient Age'); others are extras."""
    renames = {c: lexicon.canonical_column(c, schema.COLUMNS) or c for c in table.cells.columns}
    return _rename(table, table.cells, renames, CANONICAL)


# DDSM and CBIS-DDSM write descriptors in DDSM words; the other vocabularies are shared.
_DDSM_TABLES: dict[str, Mapping[str, str | None]] = {
    **lexicon.CANONICAL_WORDS,
    "morphology": lexicon.DDSM_MORPHOLOGY,
    "distribution": lexicon.DDSM_DISTRIBUTION,
}


def _from_ddsm(table: _Table) -> _Mapped:
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


def _from_cbis(table: _Table) -> _Mapped:
    """CBIS-DDSM file: one row per view, so merge the views of each lesion into one row."""
    header = {lexicon.header_key(c): c for c in table.cells.columns}
    for reserved in ("lesion_id", "views"):
        if reserved in header:
            raise LesionInputError(table.file, f"a CBIS-DDSM file may not have a '{reserved}' column: it is "
                                   "made from patient_id, side, abnormality id and image view", row=1,
                                   column=header[reserved])
    cells = table.cells
    key_columns = [header[lexicon.header_key(c)] for c in ("patient_id", CBIS_SIDE, CBIS_ABNORMALITY)]
    for column in key_columns:
        blank = cells[column].isna().to_numpy()
        if blank.any():
            raise LesionInputError(table.file, "is blank but needed to identify the lesion",
                                   row=int(table.rows[np.argmax(blank)]), column=column)
    lesion_key = cells[key_columns[0]].str.cat([cells[key_columns[1]], cells[key_columns[2]]], sep=".")
    codes, keys = pd.factorize(lesion_key)
    descriptors = [header[lexicon.header_key("calc type")], header[lexicon.header_key("calc distribution")]]
    per_view = [c for c in cells.columns if "file_path" in lexicon.header_key(c)]
    merged = _merge_views(cells, codes, len(keys), header[lexicon.header_key(CBIS_VIEW)], descriptors, per_view)
    merged.insert(0, "lesion_id", pd.array(keys, dtype="string"))
    first_rows = table.rows[np.unique(codes, return_index=True)[1]]  # codes number lesions by first appearance
    renames = {c: _CBIS_RENAMES.get(lexicon.header_key(c), c) for c in merged.columns}
    merged = _density_zero_not_recorded(merged, renames)
    return _rename(_Table(table.file, merged, first_rows), merged, renames, CBIS,
                   words=_DDSM_TABLES, separator=lexicon.DDSM_SEPARATOR)


def _merge_views(cells: pd.DataFrame, codes: np.ndarray, n_lesions: int, view: str,
                 descriptors: list[str], per_view: list[str]) -> pd.DataFrame:
    """One row per lesion: union of descriptor words and views ("CC+MLO"), each view's own value of a
    ``per_view`` column (the image paths) joined with " + " in view order, else the first non-missing value."""
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
    return _blank_to_na(pd.Series(joined, dtype="string"))


def _rename(table: _Table, cells: pd.DataFrame, renames: dict[str, str], fmt: str,
            **options: object) -> _Mapped:
    """Apply a format's renames; columns already named canonically are used too; clashes refused."""
    names: dict[str, str] = {}
    for original, target in renames.items():
        target = target if target in schema.COLUMNS else lexicon.canonical_column(original, schema.COLUMNS)
        if target is None:
            continue
        if target in names:
            raise LesionInputError(
                table.file, f"columns '{clip(names[target])}' and '{clip(original)}' would both become "
                            f"'{target}'; remove one", row=1, column=original)
        names[target] = original
    cells = cells.rename(columns={original: target for target, original in names.items()})
    extras = [c for c in cells.columns if c not in names]
    return _Mapped(table.file, fmt, cells, table.rows, names, extras, **options)  # type: ignore[arg-type]


_MAPPERS: dict[str, Callable[[_Table], _Mapped]] = {
    CANONICAL: _from_canonical, DDSM: _from_ddsm, CBIS: _from_cbis,
}


def _validated(table: _Table, require_outcome: bool, fmt: str | None = None,
               unique_ids: bool = True) -> tuple[pd.DataFrame, list[Note]]:
    """Tidy text cells -> canonical frame and warnings: detect the format (unless given), rename, validate."""
    fmt = fmt or detect_format(table.cells.columns, file=table.file)
    return _validate(_MAPPERS[fmt](table), require_outcome=require_outcome, unique_ids=unique_ids)


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


# --------------------------------------------------------------------------------------------
# Shared validation: text cells -> typed canonical frame
# --------------------------------------------------------------------------------------------

@dataclass
class _Cells:
    """One input column on its way to canonical, with what error messages need."""

    values: pd.Series  # tidy text cells, NA = blank
    rows: np.ndarray  # spreadsheet row of each cell
    file: str
    name: str  # the column's header in the file
    column: str  # its canonical name
    notes: list[Note]

    @cached_property
    def distinct(self) -> tuple[np.ndarray, list[str]]:
        """The column factorised: each row's index into its distinct recorded texts (-1 = blank), and those texts.

        'NA' and 'n/a' (any case) mean not recorded, so blank. The id columns (lesion_id,
        patient_id, site) never come here: an id may be 'NA'.
        """
        codes, texts = pd.factorize(self.values)
        recorded = [j for j, text in enumerate(texts) if text.lower() not in lexicon.NOT_RECORDED]
        renumber = np.full(len(texts) + 1, -1)  # the extra last entry keeps code -1 (blank) at -1
        renumber[recorded] = np.arange(len(recorded))
        return renumber[codes], [texts[j] for j in recorded]

    def gather(self, per_text: list[object]) -> pd.Series:
        """Every row's value, from one value per distinct text (blank rows NA), in the canonical dtype."""
        values = pd.array(per_text, dtype=schema.DTYPES[self.column])
        return pd.Series(values.take(self.distinct[0], allow_fill=True))

    def error(self, mask: np.ndarray, problem: str, allowed: str | None = None,
              value: object | None = None) -> LesionInputError:
        """An error naming the first row where mask is true (and its cell, unless value is given)."""
        i = int(np.argmax(mask))
        return LesionInputError(self.file, problem, row=int(self.rows[i]), column=self.name,
                                value=self.values.iloc[i] if value is None else value, allowed=allowed)


def _validate(m: _Mapped, *, require_outcome: bool, unique_ids: bool = True) -> tuple[pd.DataFrame, list[Note]]:
    """Coerce every canonical column; raise the first bad cell (by row) of the whole file."""
    n = len(m.cells)
    notes = list(m.notes)
    out: dict[str, pd.Series] = {}
    errors: list[tuple[int, int, LesionInputError]] = []
    if require_outcome and schema.OUTCOME not in m.names:
        raise LesionInputError(
            m.file, "fitting needs an outcome, but there is no outcome column: 'malignant' "
                    "(canonical) or 'pathology' (DDSM, CBIS-DDSM)", allowed=", ".join(lexicon.OUTCOME_WORDS))
    for position, column in enumerate(schema.COLUMNS):
        if column not in m.names:
            out[column] = pd.Series(pd.NA, index=range(n), dtype=schema.DTYPES[column])
            continue
        cells = _Cells(m.cells[column].reset_index(drop=True), m.rows, m.file, m.names[column], column, notes)
        try:
            out[column] = _coerce(column, cells, m, require_outcome, unique_ids).astype(schema.DTYPES[column])
        except LesionInputError as err:
            errors.append((err.row or 0, position, err))
    if errors:
        raise min(errors, key=lambda e: e[:2])[2]
    extras = {c: m.cells[c].reset_index(drop=True).astype("string") for c in m.extras}
    frame = pd.DataFrame({**out, **extras}, copy=False)
    frame.attrs.update(source=m.file, format=m.fmt)
    return frame, notes


def _coerce(column: str, cells: _Cells, m: _Mapped, require_outcome: bool, unique_ids: bool) -> pd.Series:
    """Dispatch one canonical column to its coercion."""
    if column == "lesion_id":
        return _coerce_lesion_id(cells, unique_ids)
    if column in ("patient_id", "site"):
        return cells.values
    if column in schema.MULTI_VALUED:
        return _coerce_multi(cells, m.words[column], column, m.separator, m.fmt)
    if column in schema.VOCABULARY:
        return _coerce_word(cells, m.words[column], column)
    if column == "age":
        return _coerce_age(cells)
    if column == "calc_count":
        return _coerce_count(cells)
    if column in schema.YES_NO_COLUMNS:
        return _lookup(cells, lexicon.YES_NO, "yes/no value", "yes, no, true, false, 1, 0")
    if column == schema.OUTCOME:
        return _coerce_outcome(cells, require_outcome)
    raise AssertionError(f"no coercion for {column}")  # pragma: no cover - schema and code disagree


def _coerce_lesion_id(cells: _Cells, unique: bool) -> pd.Series:
    """Every lesion needs an id, used once (checked here when ``unique``)."""
    values = cells.values
    blank = values.isna().to_numpy()
    if blank.any():
        raise cells.error(blank, "is blank; every lesion needs a lesion_id", value="")
    if unique and not values.is_unique:
        i, problem = repeated_id(values, cells.rows)
        raise cells.error(np.arange(len(values)) == i, problem)
    return values


def repeated_id(ids: pd.Series, rows: np.ndarray) -> tuple[int, str] | None:
    """Position of the first lesion whose id an earlier lesion used, and the message naming both rows."""
    repeated = (ids.duplicated() & ids.notna()).to_numpy()
    if not repeated.any():
        return None
    i = int(np.argmax(repeated))
    first = int(np.argmax((ids == ids.iloc[i]).to_numpy(dtype=bool, na_value=False)))
    return i, f"lesion_id is used twice, rows {rows[first]} and {rows[i]}; each lesion needs its own id"


def _map_distinct(cells: _Cells, translate: Callable[[str], tuple[object, str | None]],
                  problem: Callable[[str], str], allowed: str) -> pd.Series:
    """Translate each distinct text once, then give every row its text's value.

    ``translate`` returns (value, bad word or None); the first row holding a bad word is refused.
    """
    codes, texts = cells.distinct
    translated = [translate(text) for text in texts]
    bad = np.array([bad_word is not None for _, bad_word in translated] + [False])  # last entry: blank rows
    if bad.any():
        mask = bad[codes]
        raise cells.error(mask, problem(translated[codes[np.argmax(mask)]][1]), allowed)
    return cells.gather([value for value, _ in translated])


def _lookup(cells: _Cells, table: Mapping[str, object], what: str, allowed: str,
            problem: Callable[[str], str] | None = None) -> pd.Series:
    """Single-word cells looked up (ignoring case and separators) in a table."""
    def translate(cell: str) -> tuple[object, str | None]:
        key = lexicon.normalise_word(cell)
        signed = cell.strip()[:1] in ("-", "+", "_")  # '-3' is not BI-RADS 3, whatever separators are ignored
        return (table[key], None) if key in table and not signed else (None, cell)
    return _map_distinct(cells, translate, problem or (lambda word: f"unknown {what}"), allowed)


def _coerce_word(cells: _Cells, table: Mapping[str, str | None], column: str) -> pd.Series:
    """A single-valued vocabulary column (densities, change, BI-RADS)."""
    allowed = ", ".join(schema.VOCABULARY[column])
    if column == "breast_density":
        allowed += " (or 1, 2, 3, 4)"

    def problem(word: str) -> str:
        if column == "birads" and lexicon.normalise_word(word) == lexicon.BIRADS_KNOWN_CANCER:
            return ("BI-RADS 6 means cancer already proven by biopsy; the model is for lesions "
                    "not yet diagnosed, so leave these lesions out")
        return f"unknown {column.replace('_', ' ')} value"
    return _lookup(cells, table, column, allowed, problem)


def _coerce_multi(cells: _Cells, table: Mapping[str, str | None], column: str, separator: str,
                  fmt: str) -> pd.Series:
    """Several words per cell: translate each, drop repeats, sort in vocabulary order, join with '|'."""
    order = schema.VOCABULARY[column]
    words = lexicon.DDSM_WORDS[column] if fmt != CANONICAL else order
    allowed = f"{', '.join(words)} (several joined with '{separator}')"

    def translate(cell: str) -> tuple[object, str | None]:
        found: set[str] = set()
        for part in cell.split(separator):
            key = lexicon.normalise_word(part)
            if key in lexicon.NOT_RECORDED:
                continue
            if key not in table:
                return None, part.strip()
            if table[key] is not None:
                found.add(table[key])  # type: ignore[arg-type]
        return schema.MULTI_SEPARATOR.join(w for w in order if w in found) or None, None
    return _map_distinct(cells, translate, lambda word: f"unknown {column} word {clip(repr(word))}", allowed)


def _numbers(cells: _Cells) -> tuple[np.ndarray, np.ndarray]:
    """Cells as floats (each distinct text parsed once), and a mask of non-blank cells that are not numbers."""
    codes, texts = cells.distinct
    parsed = np.asarray(pd.to_numeric(np.array(texts, dtype=object), errors="coerce"), dtype=float)
    numbers = np.append(parsed, np.nan)[codes]  # code -1 (blank) takes the appended NaN
    return numbers, (codes >= 0) & np.isnan(numbers)


def _coerce_age(cells: _Cells) -> pd.Series:
    """Age in years; impossible ages become NA with a warning (DDSM holds an age of 1)."""
    low, high = schema.AGE_RANGE
    ages, not_number = _numbers(cells)
    if not_number.any():
        raise cells.error(not_number, "age is not a number", f"a number of years, {low:g} to {high:g}")
    outside = ~np.isnan(ages) & ((ages < low) | (ages > high))
    if outside.any():
        first = zip(cells.rows[outside][:NOTE_CELLS], ages[outside][:NOTE_CELLS])
        cells.notes.append(Note(cells.file, f"column '{cells.name}': age outside {low:g}-{high:g} treated as not "
                                            f"recorded", tuple((int(r), f"{v:g}") for r, v in first),
                                int(outside.sum())))
        ages = np.where(outside, np.nan, ages)
    return pd.Series(ages).astype("Float64")


def _coerce_count(cells: _Cells) -> pd.Series:
    """Number of calcifications: a whole number, at least 1."""
    counts, bad = _numbers(cells)
    with np.errstate(invalid="ignore"):
        bad |= ~np.isnan(counts) & ((counts < 1) | (counts != np.floor(counts)))
    if bad.any():
        raise cells.error(bad, "calcification count must be a whole number, 1 or more", "1, 2, 3, ...")
    return pd.Series(counts).astype("Int64")


def _coerce_outcome(cells: _Cells, require_outcome: bool) -> pd.Series:
    """Outcome 1/0 from words; blank allowed unless fitting."""
    allowed = ", ".join(lexicon.OUTCOME_WORDS)
    if require_outcome:
        blank = cells.distinct[0] < 0
        if blank.any():
            raise cells.error(blank, "fitting needs an outcome, but this lesion has none", allowed, value="")
    return _lookup(cells, lexicon.OUTCOME, "outcome", allowed)
