"""Shared validation: text cells renamed to canonical columns -> the typed canonical frame, with warnings.

Vectorised: each column is factorised into its *distinct* texts, each distinct text is translated or
parsed once, and rows take their value by code. The first bad cell (by row) of the whole table is raised
as one ``LesionInputError``; what was only odd comes back as :class:`Note` s (merged per file by
:func:`merge_notes`). Part of :mod:`microcalc.io.readers` (load -> formats -> validation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from microcalc.io import lexicon, schema
from microcalc.io.errors import LesionInputError, clip

CANONICAL, DDSM, CBIS = "canonical", "ddsm", "cbis-ddsm"  # the formats (microcalc.io.formats reads them)


@dataclass(frozen=True)
class Note:
    """A warning about a file's cells: what was done, the first few cells it was done to, and how many in all."""

    file: str
    text: str  # e.g. "column 'age': age outside 18-110 treated as not recorded"
    cells: tuple[tuple[int, str], ...] = ()  # (spreadsheet row, value) of the first NOTE_CELLS cells
    count: int = 0  # cells in all

    def __str__(self) -> str:
        """The warning text: the file, what was noticed and the first cells it was noticed at."""
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


@dataclass
class Mapped:
    """A table renamed to canonical columns, with what validation needs to speak the file's language."""

    file: str
    fmt: str
    cells: pd.DataFrame  # canonical-named columns present, then extras
    rows: np.ndarray
    names: dict[str, str]  # canonical column -> its header in the file
    extras: list[str]
    words: Mapping[str, Mapping[str, str | None]] = field(default_factory=lambda: lexicon.CANONICAL_WORDS)
    separator: str = schema.MULTI_SEPARATOR
    notes: list[Note] = field(default_factory=list)


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

    def error(
        self, mask: np.ndarray, problem: str, allowed: str | None = None, value: object | None = None
    ) -> LesionInputError:
        """An error naming the first row where mask is true (and its cell, unless value is given)."""
        i = int(np.argmax(mask))
        return LesionInputError(
            self.file,
            problem,
            row=int(self.rows[i]),
            column=self.name,
            value=self.values.iloc[i] if value is None else value,
            allowed=allowed,
        )


def validate_mapped(m: Mapped, *, require_outcome: bool, unique_ids: bool = True) -> tuple[pd.DataFrame, list[Note]]:
    """Coerce every canonical column; raise the first bad cell (by row) of the whole file."""
    n = len(m.cells)
    notes = list(m.notes)
    out: dict[str, pd.Series] = {}
    errors: list[tuple[int, int, LesionInputError]] = []
    if require_outcome and schema.OUTCOME not in m.names:
        raise LesionInputError(
            m.file,
            "fitting needs an outcome, but there is no outcome column: 'malignant' "
            "(canonical) or 'pathology' (DDSM, CBIS-DDSM)",
            allowed=", ".join(lexicon.OUTCOME_WORDS),
        )
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


def _coerce(column: str, cells: _Cells, m: Mapped, require_outcome: bool, unique_ids: bool) -> pd.Series:
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
    found = repeated_id(values, cells.rows) if unique and not values.is_unique else None
    if found is not None:
        i, problem = found
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


def _map_distinct(
    cells: _Cells, translate: Callable[[str], tuple[object, str | None]], problem: Callable[[str], str], allowed: str
) -> pd.Series:
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


def _lookup(
    cells: _Cells, table: Mapping[str, object], what: str, allowed: str, problem: Callable[[str], str] | None = None
) -> pd.Series:
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
            return (
                "BI-RADS 6 means cancer already proven by biopsy; the model is for lesions "
                "not yet diagnosed, so leave these lesions out"
            )
        return f"unknown {column.replace('_', ' ')} value"

    return _lookup(cells, table, column, allowed, problem)


def _coerce_multi(cells: _Cells, table: Mapping[str, str | None], column: str, separator: str, fmt: str) -> pd.Series:
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
        cells.notes.append(
            Note(
                cells.file,
                f"column '{cells.name}': age outside {low:g}-{high:g} treated as not recorded",
                tuple((int(r), f"{v:g}") for r, v in first),
                int(outside.sum()),
            )
        )
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
