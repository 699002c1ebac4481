"""The header of a CSV lesion file, read without pandas: its column names and field separator.

The header rules (separator, quoted names) are the ones :mod:`microcalc.io.readers` applies to a
whole file and :mod:`microcalc.batch.scoring` to a file it scans with Polars, so both routes see the
same columns.
"""

from __future__ import annotations

import csv
import io
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

HEADER_BYTES = 1_000_000  # the header is read from the file's first megabyte


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


def start_opening(path: str | Path) -> Future | None:
    """Import Polars in a background thread while the caller imports the rest; None for a path that is not a file.

    ``microcalc predict`` calls this first. The Future holds nothing of use: dropping it is fine.
    """
    if not Path(path).is_file():
        return None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="microcalc-open")
    try:
        return pool.submit(__import__, "polars")
    finally:
        pool.shutdown(wait=False)
