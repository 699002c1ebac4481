"""A lesion file's cells in Polars, without pandas: read into memory, or scanned lazily if large.

The header of a CSV file (column names, field separator) is read here; :func:`start_opening` opens
the file in a background thread; predictions are written to CSV as lines made by :func:`csv_line`.

The header rules (separator, quoted names) are the ones :mod:`microcalc.io.readers` applies to a
whole file and :mod:`microcalc.batch.scoring` to a file it opens with Polars, so both routes see the
same columns.
"""

from __future__ import annotations

import csv
import io
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

HEADER_BYTES = 1_000_000  # the header is read from the file's first megabyte
SLICE_ROWS = 100_000  # rows of a table in memory written to CSV at a time
IN_MEMORY_BYTES = 256 * 2**20  # files up to this size (Parquet: 8 bytes a cell) are read into memory (~3.5x size)


class StreamUnsupported(Exception):
    """The Polars scan cannot take this file; it is read whole by read_lesions instead."""


def csv_header(text: str) -> tuple[list[str], str]:
    """Raw column names and field separator of CSV text (the start of a file is enough)."""
    sep = _separator(text)
    return _first_record(text, sep), sep


def _separator(text: str) -> str:
    """The field separator: ',' unless the header line only has ';' or tabs (European exports)."""
    header = text.split("\n", 1)[0]
    for sep in (",", ";", "\t"):
        if sep in header:
            return sep
    return ","


def _first_record(text: str, sep: str) -> list[str]:
    """The header record, parsed with the csv module (handles quotes); reads only the file's start."""
    return next(csv.reader(io.StringIO(text[:HEADER_BYTES]), delimiter=sep), [])


def file_header(path: Path) -> tuple[list[str], str]:
    """Raw column names and separator of a CSV file, from its first megabyte (StreamUnsupported if unreadable)."""
    with path.open("rb") as handle:
        head = handle.read(HEADER_BYTES)
    if b"\x00" in head or head.startswith(b"PK\x03\x04"):
        raise StreamUnsupported("binary file")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 4:  # only a character cut at the end of the sample is acceptable
            raise StreamUnsupported("not UTF-8") from None
        text = head[: err.start].decode("utf-8-sig")
    try:
        return csv_header(text)
    except csv.Error:  # e.g. an unclosed quote in the header: read_lesions words the message
        raise StreamUnsupported("unreadable header") from None


def is_parquet(path: Path) -> bool:
    """True for a file named .parquet or starting with Parquet's magic bytes (the readers' rule too)."""
    if path.suffix.lower() == ".parquet":
        return True
    with path.open("rb") as handle:
        return handle.read(4) == b"PAR1"


def open_cells(path: Path) -> tuple[pl.LazyFrame, list[str], bool]:
    """A CSV (all text) or Parquet file's cells in Polars, its raw header, and whether the cells are in memory.

    Files over IN_MEMORY_BYTES are a lazy scan instead. Raises StreamUnsupported, or Polars' or the
    system's error, for a file Polars cannot take.
    """
    import polars as pl

    if is_parquet(path):
        cells = pl.scan_parquet(path)
        header = cells.collect_schema().names()
        size = cells.select(pl.len()).collect().item() * len(header) * 8
    else:
        header, sep = file_header(path)
        cells = pl.scan_csv(path, separator=sep, infer_schema=False, quote_char='"')
        size = path.stat().st_size
    in_memory = size <= IN_MEMORY_BYTES
    return (cells.collect().lazy() if in_memory else cells), header, in_memory


def cell_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A column as ``readers.strip_cells(as_text(...))`` leaves it: text stripped, blank = null."""
    return blank_null(stripped_text(name, dtype))


def blank_null(text: pl.Expr) -> pl.Expr:
    """Empty text as null (on a column stripped by an earlier ``with_columns``: on the strip, Polars strips twice)."""
    import polars as pl

    return pl.when(text != "").then(text)


def stripped_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A column as ``readers.as_text`` leaves it, stripped (blank text stays empty: see :func:`blank_null`).

    Typed values are printed (a float column of whole numbers without '.0', booleans as True/False).
    """
    import polars as pl

    column = pl.col(name)
    if dtype == pl.String:
        return column.str.strip_chars()
    if dtype == pl.Boolean:
        return pl.when(column).then(pl.lit("True")).when(~column).then(pl.lit("False")).alias(name)
    if dtype.is_float():
        whole = column.cast(pl.Int64, strict=False).cast(pl.String)
        return pl.when((column == column.floor()).all()).then(whole).otherwise(column.cast(pl.String)).alias(name)
    return column.cast(pl.String)


def csv_text(table: pl.DataFrame) -> pl.DataFrame:
    """For writing predictions: a table's cells as CSV fields.

    Numbers are printed as the Arrow writer before Polars printed them (whole ones without
    '.0'), text quoted if it holds a quote, a comma or a line break, blanks as nothing.
    """
    import polars as pl

    floats = {c for c, t in table.schema.items() if t.is_float()}
    number = {c: pl.col(c).cast(pl.String).str.strip_suffix(".0") for c in floats}
    return table.select(csv_field(number.get(c, c)).alias(c) for c in table.columns)


def csv_field(value: pl.Expr | str) -> pl.Expr:
    """A value as a CSV field (see :func:`csv_text`)."""
    import polars as pl

    text = (pl.col(value) if isinstance(value, str) else value).cast(pl.String)
    quoted = pl.concat_str(pl.lit('"'), text.str.replace_all('"', '""', literal=True), pl.lit('"'))
    return pl.when(text.str.contains('[",\r\n]')).then(quoted).otherwise(text).fill_null("")


def csv_line(fields: list[pl.Expr] | pl.Expr, names: list[str]) -> pl.Expr:
    """CSV lines of fields, as one column named by the header line: written unquoted, it is the CSV file."""
    import polars as pl

    quoted = [f'"{n.replace(chr(34), 2 * chr(34))}"' if set(n) & set('",\r\n') else n for n in names]
    return pl.concat_str(fields, separator=",").alias(",".join(quoted))


def write_lesions(lesions: pl.LazyFrame, path: Path, rows: int | None = None) -> None:
    """Stream a lazy table to Parquet, or its :func:`csv_line` column to CSV (by the path's suffix).

    A table made from ``rows`` rows in memory is written by slices: the streaming sink would hold all
    of its CSV text (+180 MB for 1,000,000 lesions).
    """
    if path.suffix.lower() == ".parquet":
        lesions.sink_parquet(path, compression="snappy", engine="streaming")  # zstd: half the size, +15% time
    elif rows is None:
        lesions.sink_csv(path, check_extension=False, quote_style="never", engine="streaming")
    else:
        with path.open("wb") as file:
            for start in range(0, max(rows, 1), SLICE_ROWS):
                part = lesions.slice(start, SLICE_ROWS).collect()
                part.write_csv(file, include_header=not start, quote_style="never")


def start_opening(path: str | Path) -> Future | None:
    """:func:`open_cells` in a background thread (importing Polars there) while the caller imports the rest.

    None for a path that is not a file. ``microcalc predict`` calls this first; the Future's error,
    if any, is for the caller to deal with (dropping the Future is fine).
    """
    if not Path(path).is_file():
        return None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="microcalc-open")
    try:
        return pool.submit(open_cells, Path(path))
    finally:
        pool.shutdown(wait=False)
