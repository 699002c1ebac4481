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

The steps live in :mod:`microcalc.io.loading` (file -> text cells), :mod:`microcalc.io.formats`
(text cells -> canonical names) and :mod:`microcalc.io.validation` (-> typed frame); this module is
their public face, and the names other modules use are importable from here.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from microcalc.io import schema
from microcalc.io.csvblocks import csv_header
from microcalc.io.errors import LesionInputError, LesionWarning
from microcalc.io.formats import CBIS_COLUMNS, CBIS_REQUIRED, DDSM_COLUMNS, DDSM_REQUIRED, detect_format, validated
from microcalc.io.loading import as_text, load_cells, strip_cells, tidy
from microcalc.io.validation import CANONICAL, CBIS, DDSM, NOTE_CELLS, Note, merge_notes, repeated_id

__all__ = [
    "read_lesions",
    "validate_cells",
    "validated_block",
    "Note",
    "merge_notes",
    "warn_notes",
    "csv_header",
    "as_text",
    "strip_cells",
    "bundled_data_path",
    "detect_format",
    "outcome_values",
    "repeated_id",
    "CANONICAL",
    "DDSM",
    "CBIS",
    "DDSM_COLUMNS",
    "DDSM_REQUIRED",
    "CBIS_COLUMNS",
    "CBIS_REQUIRED",
    "NOTE_CELLS",
]


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def bundled_data_path() -> Path:
    """Path of the bundled DDSM calcification table shipped inside the package.

    The default training data of ``microcalc fit`` and ``demo``: pass it to :func:`read_lesions`.

    Returns
    -------
    Path
        The CSV file ``data/ddsm_calcifications.csv`` of the installed package.
    """
    return Path(str(resources.files("microcalc").joinpath("data", "ddsm_calcifications.csv")))


def read_lesions(path: str | os.PathLike[str], *, require_outcome: bool = False) -> pd.DataFrame:
    """Read a lesion file of any supported format and return the validated canonical frame.

    The format (canonical, DDSM or CBIS-DDSM; CSV or Parquet) is detected from the file. Headers and
    values are mapped to the canonical schema, so every later step sees one vocabulary; values that are
    accepted but changed are reported once each as a :class:`~microcalc.io.errors.LesionWarning`.

    Parameters
    ----------
    path
        The lesion file.
    require_outcome
        Also demand a known outcome (``malignant``) in every row, as fitting and evaluation need.

    Returns
    -------
    pandas.DataFrame
        One row per lesion, in file order, with the canonical columns and dtypes of
        :mod:`microcalc.io.schema` (blank cells as NA), then any extra columns of the file.

    Raises
    ------
    LesionInputError
        The file is missing, unreadable or holds a value that cannot be read; the message names the
        file, row, column and what is allowed.
    """
    file = os.fspath(path)
    frame, notes = validated(tidy(load_cells(Path(file), file), file), require_outcome)
    warn_notes(notes)
    return frame


def validate_cells(
    cells: pd.DataFrame,
    *,
    file: str = "input",
    first_row: int = 2,
    fmt: str | None = None,
    require_outcome: bool = False,
    unique_ids: bool = True,
    stripped: bool = False,
) -> pd.DataFrame:
    """A block of a file's text cells (columns = header names) as the canonical frame, as read_lesions makes it.

    ``first_row`` is the spreadsheet row of the block's first record, so that messages name the
    file's rows; ``fmt`` skips format detection. A block of only blank rows gives an empty frame
    (whether a file without lesions is an error is the caller's business). A lesion_id used twice
    in the block is refused unless ``unique_ids=False`` (for a caller that checks the ids of all
    its blocks together). ``stripped=True`` says the cells are already string dtype, stripped of
    surrounding whitespace, with blanks as NA (as :func:`strip_cells` leaves them), so that
    per-cell pass is skipped.
    """
    frame, notes = validated_block(
        cells,
        file=file,
        first_row=first_row,
        fmt=fmt,
        require_outcome=require_outcome,
        unique_ids=unique_ids,
        stripped=stripped,
    )
    warn_notes(notes)
    return frame


def validated_block(
    cells: pd.DataFrame,
    *,
    file: str = "input",
    first_row: int = 2,
    fmt: str | None = None,
    require_outcome: bool = False,
    unique_ids: bool = True,
    stripped: bool = False,
) -> tuple[pd.DataFrame, list[Note]]:
    """:func:`validate_cells` returning its notes instead of warning them.

    A caller reading a file block by block can then warn once per file (:func:`merge_notes`).
    """
    table = tidy(cells, file, first_row=first_row, allow_empty=True, stripped=stripped)
    return validated(table, require_outcome, fmt, unique_ids=unique_ids)


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
        raise LesionInputError(
            file,
            f"{task} needs an outcome column: 'malignant' (canonical) or 'pathology' (DDSM, CBIS-DDSM)",
            column=schema.OUTCOME,
        )
    missing = frame[schema.OUTCOME].isna().to_numpy()
    if missing.any():
        raise LesionInputError(
            file,
            f"{task} needs an outcome on every lesion",
            row=int(np.flatnonzero(missing)[0]) + 2,
            column=schema.OUTCOME,
            value="",
        )
    return frame[schema.OUTCOME].to_numpy(dtype=float)
