"""Score a lesion file with a saved fit on Polars, computing once per distinct covariate pattern.

Flow of :func:`predict_file`:

    lesion file --(Polars lazy scan; cells stripped, blanks null, blank rows dropped)--> pass 1, streamed:
    the distinct raw patterns of the validated columns (ids aside) with their first rows, and counts of the
    lesion ids --(microcalc.io validation of the patterns' cells)--> canonical patterns --(PatternScorer)-->
    predictions per pattern --(pass 2, streamed: joined back to every lesion in input order)--> sink_csv or
    sink_parquet to a temporary file --> rename

A registry repeats a few hundred covariate patterns a million times, so validation runs on the patterns,
not on the rows: each pattern brings the file's rows of its first ``NOTE_CELLS`` lesions, so the first
bad cell of the patterns is the first bad cell of the file (named by its row) and warnings list the
cells that reading the whole file lists (their counts are then made the file's). Blank and repeated
lesion ids are found by Polars and worded by the readers' own code, so every message is the one
:func:`microcalc.read_lesions` gives. Memory is bounded by Polars' streaming engine, not the file size.
Nothing is written on bad input: the output is renamed into place only when it is complete.

CBIS-DDSM files (view rows merged into lesions across the whole file) and files the scan cannot take
(a ragged row, bad UTF-8, duplicate or unnamed columns, ...) are read whole by ``read_lesions``, which
words any error, and are written by the same writer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from microcalc.io import lexicon, schema
from microcalc.io.atomic import atomic_path
from microcalc.io.csvblocks import StreamUnsupported, file_header, is_parquet
from microcalc.io.errors import LesionInputError
from microcalc.modelling.predict import (
    MODEL_INPUTS,
    PREDICTION_COLUMNS,
    pattern_codes,
    pattern_summaries,
    prediction_table,
    warn_unknown_site,
    with_site,
)

SUMMARY_COLUMNS: tuple[str, ...] = PREDICTION_COLUMNS[1:]  # p_malignant, ci_lower, ci_upper, p_above_2pct
OUTPUT_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")
OUTPUT_COLUMNS: tuple[str, ...] = ("lesion_id", *SUMMARY_COLUMNS, *schema.COLUMNS[1:])  # then the extras
ROW, FIRST, COUNT, ROWS, ONE = "__row", "__first", "__count", "__rows", "__one"  # helper columns
CANONICAL_PREFIX = "__canonical "  # a pattern's canonical values beside its raw cells (which keep the headers)

PatternKey = tuple


def pattern_keys(patterns: pd.DataFrame) -> list[PatternKey]:
    """Hashable key per pattern row: its model-input values (absent column or blank -> None)."""
    columns = []
    for name in MODEL_INPUTS:
        if name in patterns:
            values = patterns[name]
            columns.append(values.astype(object).where(values.notna(), None).tolist())
        else:
            columns.append([None] * len(patterns))
    return list(zip(*columns))


@dataclass
class PatternScorer:
    """Posterior summaries per distinct covariate pattern, each computed once however often it recurs.

    The cache is an immutable (key -> row, summary table) pair replaced in one assignment, so
    threads sharing a scorer (Dask workers) never see a row index past the end of its table.
    """

    params: dict[str, np.ndarray]
    priors: object  # microcalc.priors.PriorSet
    sites: tuple[str, ...]
    donors: pd.DataFrame
    ci: float = 0.95
    site: str | None = None  # the site of lesions whose site is blank (None: a new site), as in Fit.predict
    _cache: tuple[dict[PatternKey, int], np.ndarray] = field(
        default_factory=lambda: ({}, np.zeros((0, len(SUMMARY_COLUMNS)))), repr=False
    )

    @classmethod
    def from_fit(cls, fit, ci: float = 0.95, site: str | None = None) -> PatternScorer:
        """A scorer using every posterior draw of a fit, as ``Fit.predict`` does."""
        return cls(fit.params(), fit.priors, fit.sites, fit.donors, ci, site)

    @classmethod
    def from_file(cls, fit_path: str | Path, ci: float = 0.95, site: str | None = None) -> PatternScorer:
        """``from_fit(load(fit_path))``, reading only what scoring needs from the file (much faster)."""
        from microcalc.modelling.fitfile import load_for_scoring

        saved = load_for_scoring(fit_path)
        return cls(saved.params, saved.priors, saved.sites, saved.donors, ci, site)

    @property
    def patterns_scored(self) -> int:
        """Distinct covariate patterns computed so far."""
        return len(self._cache[0])

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The table ``Fit.predict(frame, site=self.site)`` gives: lesion_id, the prediction columns, then the inputs."""
        frame = with_site(frame, self.site)
        codes, patterns = pattern_codes(frame)
        rows, table = self._summaries(patterns)
        return prediction_table(frame, pd.DataFrame(table[rows[codes]], columns=list(SUMMARY_COLUMNS)))

    def _summaries(self, patterns: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Table row of each distinct pattern (computing unseen ones with ``pattern_summaries``), and the table."""
        keys = pattern_keys(patterns)
        known, table = self._cache
        new = [i for i, key in enumerate(keys) if key not in known]
        if new:
            fresh = pattern_summaries(patterns.iloc[new], self.params, self.priors, self.sites, self.donors, self.ci)
            known = {**known, **{keys[i]: len(table) + j for j, i in enumerate(new)}}
            table = np.vstack([table, fresh[list(SUMMARY_COLUMNS)].to_numpy(dtype=float)])
            self._cache = (known, table)
        return np.fromiter((known[key] for key in keys), dtype=np.int64, count=len(keys)), table


@dataclass(frozen=True)
class LesionScan:
    """A canonical or DDSM file as a Polars lazy frame: its columns under their stripped headers (empty = null,
    NaN = null; Parquet's typed columns kept typed) and ROW, each record's spreadsheet row. Cells are not
    stripped yet: validated columns are stripped per distinct value, the others by :func:`_text`."""

    file: str
    fmt: str
    rows: pl.LazyFrame
    types: dict[str, pl.DataType]
    names: dict[str, str]  # canonical column -> its header
    extras: list[str]

    @property
    def keys(self) -> list[str]:
        """Headers of the validated columns (every canonical column but the ids): what a pattern is made of."""
        return [h for c, h in self.names.items() if c not in ("lesion_id", "patient_id")]


def open_scan(path: str | Path) -> LesionScan | None:
    """The file as a :class:`LesionScan`, or None when it is to be read whole by ``read_lesions``."""
    from microcalc.io.formats import _MAPPERS
    from microcalc.io.loading import Table
    from microcalc.io.readers import CBIS, detect_format

    path, file = Path(path), str(path)
    try:
        if not path.is_file() or not path.stat().st_size:
            return None
        if is_parquet(path):
            cells = pl.scan_parquet(path)
            header = cells.collect_schema().names()
        else:
            header, sep = file_header(path)
            cells = pl.scan_csv(path, separator=sep, infer_schema=False, quote_char='"')
        found = cells.collect_schema().names()
        names = [str(n).strip() for n in header]
        if len(found) != len(names) or len(set(names)) < len(names) or any(_unnamed(n) for n in names):
            return None  # read_lesions drops a saved index or words the problem
        fmt = detect_format(names, file=file)
        if fmt == CBIS:
            return None
        mapped = _MAPPERS[fmt](Table(file, pd.DataFrame(columns=names, dtype="string"), np.zeros(0, dtype=int)))
    except (StreamUnsupported, LesionInputError, pl.exceptions.PolarsError, OSError):
        return None  # read whole: read_lesions words the message, in its own order of checks
    cells = cells.rename(dict(zip(found, names)))
    types = dict(cells.collect_schema())
    floats = [pl.col(n).fill_nan(None) for n in names if types[n].is_float()]
    rows = cells.with_columns(floats).with_row_index(ROW, offset=2)
    return LesionScan(file, fmt, rows, types, mapped.names, mapped.extras)


def _unnamed(name: str) -> bool:
    return name == "" or name.startswith("Unnamed: ")


def _text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A column as ``readers.strip_cells(as_text(...))`` leaves it: text stripped, blank = null; typed values
    printed (a float column of whole numbers without '.0', booleans as True/False)."""
    column = pl.col(name)
    if dtype == pl.String:
        return pl.when(column.str.strip_chars() != "").then(column.str.strip_chars()).alias(name)
    if dtype == pl.Boolean:
        return pl.when(column).then(pl.lit("True")).when(~column).then(pl.lit("False")).alias(name)
    if dtype.is_float():
        whole = column.cast(pl.Int64, strict=False).cast(pl.String)
        return pl.when((column == column.floor()).all()).then(whole).otherwise(column.cast(pl.String)).alias(name)
    return column.cast(pl.String)


def scored_lesions(scan: LesionScan, score: Callable[[pd.DataFrame], pd.DataFrame]) -> tuple[pl.LazyFrame, int]:
    """The predictions of every lesion of a scanned file (lazy, in file order) and their number.

    Pass 1 over the file, then validation and scoring of its patterns; warnings are given here, once.
    """
    from microcalc.io.readers import merge_notes, warn_notes

    lesion_id = _text(scan.names["lesion_id"], scan.types[scan.names["lesion_id"]])
    keys = scan.keys or [ONE]
    rows = scan.rows if scan.keys else scan.rows.with_columns(pl.lit(True).alias(ONE))
    patterns, counts = pl.collect_all(
        [
            rows.group_by(keys).agg(pl.col(ROW).min().alias(FIRST), pl.len().alias(COUNT)),
            rows.select(
                pl.len().alias(COUNT),
                lesion_id.drop_nulls().n_unique().alias("ids"),
                lesion_id.is_null().sum().alias("no_id"),
            ),
        ],
        engine="streaming",
        optimizations=pl.QueryOptFlags(comm_subplan_elim=False),  # two scans: a shared one is cached whole
    )
    records, ids, no_id = counts.row(0)
    blank, id_error = _ids_checked(scan, rows) if no_id or ids < records else (0, None)
    if records == blank:
        raise LesionInputError(scan.file, "has a header but no lesion rows")
    patterns = patterns.sort(FIRST)
    canonical, notes, cell_error = _validated(scan, patterns.select(*scan.keys, FIRST), FIRST)
    if id_error is not None or cell_error is not None:  # the earlier row; on one row the id (first column)
        raise min((e for e in (id_error, cell_error) if e is not None), key=lambda e: (e.row, e is cell_error))
    warn_notes(merge_notes([_file_note(note, scan, rows, patterns, canonical) for note in notes]))
    scored = typed(score(canonical).drop(columns=["lesion_id", "patient_id"]))
    table = pl.concat([patterns.select(keys), scored.rename(lambda c: CANONICAL_PREFIX + c)], how="horizontal")
    if no_id:
        rows = rows.filter(lesion_id.is_not_null())
    lesions = rows.join(table.lazy(), on=keys, how="left", nulls_equal=True, maintain_order="left")
    patient_id = scan.names.get("patient_id")
    lesions = lesions.select(
        lesion_id.alias("lesion_id"),
        *[pl.col(CANONICAL_PREFIX + c).alias(c) for c in SUMMARY_COLUMNS],
        _text(patient_id, scan.types[patient_id]).alias("patient_id") if patient_id else pl.lit(None, pl.String),
        *[pl.col(CANONICAL_PREFIX + c).alias(c) for c in schema.COLUMNS[2:]],
        *[_text(e, scan.types[e]) for e in scan.extras],
    )
    return lesions, records - blank


def _ids_checked(scan: LesionScan, rows: pl.LazyFrame) -> tuple[int, LesionInputError | None]:
    """The blank rows (not a cell) of a file with rows without an id or ids used twice, and the readers' error for
    the first bad lesion_id, if any: its ids are validated by ``read_lesions``' code (held in memory: error path)."""
    from microcalc.io.formats import validated
    from microcalc.io.loading import Table

    header = scan.names["lesion_id"]
    cells = pl.any_horizontal([_text(n, t).is_not_null() for n, t in scan.types.items()]).alias(COUNT)
    ids = rows.select(ROW, _text(header, scan.types[header]), cells).filter(COUNT).collect(engine="streaming")
    block = pd.DataFrame({header: ids[header].to_pandas().astype("string")})
    try:
        validated(Table(scan.file, block, ids[ROW].to_numpy()), False, scan.fmt)
    except LesionInputError as err:
        return 0, err
    return rows.select(pl.len()).collect().item() - len(ids), None


def _validated(scan: LesionScan, cells: pl.DataFrame, row: str) -> tuple[pd.DataFrame, list, LesionInputError | None]:
    """Validation of cells of the file's validated columns under their rows (column ``row``), in row order: the
    canonical frame, the warnings, and the first bad cell's error (or None), as the whole file gives them."""
    from microcalc.io.formats import validated
    from microcalc.io.loading import Table
    from microcalc.io.readers import as_text, strip_cells

    text = {h: strip_cells(as_text(cells[h].to_pandas())) for h in cells.columns if h != row}
    rows = cells[row].to_numpy()
    block = pd.DataFrame({scan.names["lesion_id"]: pd.array(rows.astype(str), dtype="string"), **text})
    try:
        frame, notes = validated(Table(scan.file, block, rows), False, scan.fmt, unique_ids=False)
    except LesionInputError as err:
        return pd.DataFrame(), [], err
    return frame, notes, None


def _file_note(note, scan: LesionScan, rows: pl.LazyFrame, patterns: pl.DataFrame, canonical: pd.DataFrame):
    """A note about the patterns as the whole file words it: the file's first cells, and its count of cells.

    The cells a note is about are those of its column where a recorded value came out blank (an impossible age).
    """
    from microcalc.io.readers import as_text, strip_cells

    column = next((c for c, h in scan.names.items() if note.text.startswith(f"column '{h}'")), None)
    if column is None or not note.count:
        return note
    header = scan.names[column]
    raw = strip_cells(as_text(patterns[header].to_pandas()))
    dropped = (raw.notna() & ~raw.str.lower().isin(lexicon.NOT_RECORDED) & canonical[column].isna()).to_numpy(bool)
    affected = patterns.filter(pl.Series(dropped))[header].implode()
    cells = rows.filter(pl.col(header).is_in(affected)).select(header, ROW).head(NOTE_CELLS).collect(engine="streaming")
    cell_notes = _validated(scan, cells, ROW)[1]
    return dataclasses.replace(cell_notes[0], count=int(patterns[COUNT].to_numpy()[dropped].sum()))


NOTE_CELLS = 5  # = microcalc.io.validation.NOTE_CELLS: cells a warning lists


def write_predictions(
    cases: str | Path,
    out: str | Path,
    score: Callable[[pd.DataFrame], pd.DataFrame],
    before_errors: Callable[[], object] = lambda: None,
) -> int:
    """Score the lesions of ``cases`` with ``score`` (canonical frame -> ``PatternScorer.score`` table) and write
    them to ``out``; ``before_errors()`` runs before a bad file's error is raised (a bad fit file is reported first).
    """
    from microcalc.io.readers import read_lesions

    out = Path(out)
    try:
        with atomic_path(out) as tmp:
            scan = open_scan(cases)
            if scan is not None:
                try:
                    lesions, n = scored_lesions(scan, score)
                    _sink(lesions, tmp)
                    return n
                except pl.exceptions.ComputeError:  # a row the scan cannot parse: read whole, for the exact message
                    pass
            table = score(read_lesions(cases))
            _sink(typed(table).lazy(), tmp)
            return len(table)
    except LesionInputError:
        before_errors()
        raise


def _sink(lesions: pl.LazyFrame, path: Path) -> None:
    """Stream a lazy table to CSV or Parquet (by the path's suffix)."""
    if path.suffix.lower() == ".parquet":
        lesions.sink_parquet(path, engine="streaming")
    else:
        lesions.sink_csv(path, check_extension=False, engine="streaming")


POLARS_TYPES = {"string": pl.String, "Int64": pl.Int64, "Float64": pl.Float64, "boolean": pl.Boolean}


def typed(table: pd.DataFrame) -> pl.DataFrame:
    """A prediction table in Polars, columns typed as the canonical schema says (other columns: numbers, text)."""
    types = {c: POLARS_TYPES[schema.DTYPES[c]] for c in schema.COLUMNS} | dict.fromkeys(SUMMARY_COLUMNS, pl.Float64)
    return pl.from_pandas(table).cast({c: types.get(c, pl.String) for c in table.columns})


def check_output_path(out: str | Path) -> None:
    """Refuse an output name we cannot write before any work is done."""
    out = Path(out)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise LesionInputError(
            str(out), "output must end in .csv or .parquet", value=out.suffix, allowed=", ".join(OUTPUT_SUFFIXES)
        )
    if out.is_dir():
        raise LesionInputError(str(out), "output path is a folder")


def check_ci(ci: float) -> None:
    """Refuse a credible-interval mass outside (0, 1)."""
    if not 0.0 < ci < 1.0:
        raise LesionInputError("--ci", "credible interval mass must lie strictly between 0 and 1", value=ci)


def predict_file(
    fit_path: str | Path,
    cases: str | Path,
    out: str | Path,
    *,
    ci: float = 0.95,
    opening: Future | None = None,
    site: str | None = None,
) -> int:
    """Predict every lesion in ``cases`` with the fit in ``fit_path`` and write ``out``; returns the count.

    ``site`` names the site of lesions whose site is blank (see ``Fit.predict``); ``opening`` (from
    ``csvblocks.start_opening``, which the CLI calls before its heavy imports) is accepted and not needed.
    On a Dask cluster: :func:`microcalc.batch.distributed.predict_file` (``microcalc predict --dask``).
    """
    check_output_path(out)
    check_ci(ci)
    with ThreadPoolExecutor(max_workers=1) as pool:
        scorer = pool.submit(PatternScorer.from_file, fit_path, ci, site)  # read during the first pass
        n = write_predictions(cases, out, lambda frame: scorer.result().score(frame), before_errors=scorer.result)
    warn_unknown_site(site, scorer.result().sites)
    return n
