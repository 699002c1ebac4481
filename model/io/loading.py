"""A lesion file as text cells: CSV or Parquet bytes read into string cells, tidied and numbered.

Every way a file can fail to be read (missing, a folder, empty, binary, not UTF-8, an Excel workbook, ragged
or unclosed-quote CSV, a corrupt Parquet file) becomes one ``LesionInputError``. :func:`tidy` strips the
cells, makes blanks NA, drops blank rows and unnamed blank columns and numbers the spreadsheet rows.
Part of :mod:`microcalc.io.readers` (load -> formats -> validation).
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from microcalc.io.csvblocks import csv_header, is_parquet
from microcalc.io.errors import LesionInputError


@dataclass
class Table:
    """One input file as text cells (string dtype, NA = blank) and the spreadsheet row of each."""

    file: str
    cells: pd.DataFrame
    rows: np.ndarray


def load_cells(path: Path, file: str) -> pd.DataFrame:
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
            return pd.read_csv(
                io.BytesIO(data),
                sep=sep,
                dtype=str,
                na_filter=False,
                encoding="utf-8-sig",
                index_col=False,
                skip_blank_lines=False,
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning) as err:
        raise _bad_record(text, sep, file) or LesionInputError(
            file, f"cannot be read as CSV: {str(err).strip().splitlines()[0]}"
        ) from None


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
                    file,
                    f"row has {len(record)} cells but the header has {width} "
                    f"(a value containing '{sep}' must be in double quotes)",
                    row=row,
                )
    except csv.Error as err:
        return LesionInputError(
            file, f"a quoted value starting in this row is not closed properly ({err})", row=row + 1
        )
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


def tidy(
    cells: pd.DataFrame, file: str, first_row: int = 2, allow_empty: bool = False, stripped: bool = False
) -> Table:
    """Strip cells, make blanks NA, drop blank rows and unnamed blank columns; number the rows from first_row."""
    names = [str(c).strip() for c in cells.columns]
    cells = pd.DataFrame(
        {name: cells.iloc[:, j] if stripped else strip_cells(cells.iloc[:, j]) for j, name in enumerate(names)},
        copy=False,
    )  # nothing below writes in place
    unnamed = [c for c in cells.columns if c == "" or c.startswith("Unnamed: ")]
    for column in unnamed:
        if cells[column].notna().any() and not _is_saved_index(cells[column], start=first_row - 2):
            raise LesionInputError(
                file,
                "a column with values has no name in the header; name it",
                row=1,
                value=cells[column].dropna().iloc[0],
            )  # (the message clips long values)
    cells = cells.drop(columns=unnamed)
    rows = np.arange(len(cells)) + first_row
    keep = cells.notna().any(axis=1).to_numpy()
    if not keep.any() and not allow_empty:
        raise LesionInputError(file, "has a header but no lesion rows")
    if keep.all():  # the usual case: selecting every row would copy every column
        return Table(file, cells.reset_index(drop=True), rows)
    return Table(file, cells[keep].reset_index(drop=True), rows[keep])


def _is_saved_index(column: pd.Series, start: int = 0) -> bool:
    """True for 0, 1, 2, ... (from ``start`` in a later block) - the unnamed index pandas writes by default."""
    expected = pd.Series((np.arange(len(column)) + start).astype(str), dtype="string")
    return bool((column == expected).all())


def strip_cells(values: pd.Series) -> pd.Series:
    """A column of cells as text without surrounding whitespace, blanks as NA."""
    return blank_to_na(values.astype("string").str.strip())


def blank_to_na(values: pd.Series) -> pd.Series:
    """Empty strings become NA."""
    blank = values == ""
    return values.mask(blank) if blank.any() else values
