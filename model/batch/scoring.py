"""Score a lesion file with a saved fit on Polars, computing once per distinct covariate pattern.

Flow of :func:`predict_file`: lesion file --(Polars, ``csvblocks.open_cells``: read into memory by all
cores, or a lazy scan of a file over IN_MEMORY_BYTES)--> pass 1: the distinct raw patterns of the validated
columns (ids aside) with their first rows, and counts of the lesion ids --(microcalc.io validation of the
patterns' cells)--> canonical patterns --(PatternScorer)--> predictions per pattern --(pass 2: each lesion
its pattern's, by the hash of its cells, in input order)--> CSV lines (each pattern's fields formatted once)
or Parquet, in slices or streamed, to a temporary file --> rename. Memory is bounded by the slices or by the
streaming engine beyond the file in memory; nothing is written on bad input.

A registry repeats a few hundred covariate patterns a million times, so validation runs on the patterns:
each brings the file's rows of its first ``NOTE_CELLS`` lesions, so the first bad cell of the patterns is
the first bad cell of the file (named by its row) and warnings list the cells that reading the whole file
lists (their counts made the file's). Blank and repeated ids are found by Polars and worded by the readers'
code: every message is the one :func:`microcalc.read_lesions` gives. CBIS-DDSM files and files Polars
cannot take (a ragged row, bad UTF-8, duplicate or unnamed columns...) are read whole by ``read_lesions``.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from microcalc.batch.arguments import check_ci, check_output_path
from microcalc.io import lexicon, schema
from microcalc.io.atomic import atomic_path
from microcalc.io.csvblocks import (
    StreamUnsupported,
    blank_null,
    cell_text,
    csv_field,
    csv_line,
    csv_text,
    open_cells,
    stripped_text,
    write_lesions,
)
from microcalc.io.errors import LesionInputError
from microcalc.modelling.predict import (
    MODEL_INPUTS,
    PREDICTION_COLUMNS,
    pattern_codes,
    pattern_summaries,
    prediction_table,
    warn_unknown_recorded_sites,
    warn_unknown_site,
    with_site,
)
from microcalc.priors import PriorSet

SUMMARY_COLUMNS: tuple[str, ...] = PREDICTION_COLUMNS[1:]  # p_malignant, ci_lower, ci_upper, p_above_2pct
OUTPUT_COLUMNS: tuple[str, ...] = ("lesion_id", *SUMMARY_COLUMNS, *schema.COLUMNS[1:])  # then the extras
CANONICAL: tuple[str, ...] = schema.COLUMNS[2:]  # the canonical columns after lesion_id and patient_id
ROW, FIRST, COUNT, ONE, ID, PATTERN = "__row", "__first", "__count", "__one", "__id", "__pattern"  # helper columns
PatternKey = tuple  # a pattern's model-input values


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
    priors: PriorSet
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
    """A canonical or DDSM file as a Polars lazy frame, with each record's spreadsheet row (ROW).

    Columns stand under their stripped headers (empty = null, NaN = null; Parquet's typed columns kept typed).
    Cells are not stripped yet: validated columns are stripped per distinct value, the others by :func:`~microcalc.io.csvblocks.cell_text`.
    """

    file: str
    fmt: str
    rows: pl.LazyFrame
    types: dict[str, pl.DataType]
    names: dict[str, str]  # canonical column -> its header
    extras: list[str]
    in_memory: bool  # rows is a frame in memory (else a lazy scan of the file)

    @property
    def keys(self) -> list[str]:
        """Headers of the validated columns (every canonical column but the ids): what a pattern is made of."""
        return [h for c, h in self.names.items() if c not in ("lesion_id", "patient_id")]


def open_scan(path: str | Path, opening: Future | None = None) -> LesionScan | None:
    """The file as a :class:`LesionScan`, or None when it is to be read whole by ``read_lesions``.

    ``opening``: a ``csvblocks.start_opening(path)`` under way.
    """
    from microcalc.io.formats import mapped as map_columns
    from microcalc.io.loading import Table
    from microcalc.io.readers import CBIS, detect_format

    path, file = Path(path), str(path)
    try:
        if not path.is_file() or not path.stat().st_size:
            return None
        cells, header, in_memory = opening.result() if opening is not None else open_cells(path)
        found = cells.collect_schema().names()
        names = [str(n).strip() for n in header]
        if (
            len(found) != len(names)
            or len(set(names)) < len(names)
            or any(n == "" or n.startswith("Unnamed: ") for n in names)
        ):
            return None  # read_lesions drops a saved index or words the problem
        fmt = detect_format(names, file=file)
        if fmt == CBIS:
            return None
        mapped = map_columns(Table(file, pd.DataFrame(columns=names, dtype="string"), np.zeros(0, dtype=int)), fmt)
        cells = cells.rename(dict(zip(found, names)))
        types = dict(cells.collect_schema())
        floats = [pl.col(n).fill_nan(None) for n in names if types[n].is_float()]
        rows = cells.with_columns(floats).with_row_index(ROW, offset=2)
    except (StreamUnsupported, LesionInputError, pl.exceptions.PolarsError, OSError):
        return None  # read whole: read_lesions words the message, in its own order of checks
    return LesionScan(file, fmt, rows, types, mapped.names, mapped.extras, in_memory)


def scored_lesions(
    scan: LesionScan,
    score: Callable[[pd.DataFrame], pd.DataFrame],
    csv: bool = False,
    sites: Callable[[], tuple[str, ...]] | None = None,
) -> tuple[pl.LazyFrame, int]:
    """The predictions of every lesion of a scanned file (lazy, in file order) and their number.

    ``csv``: numbers printed for a CSV file; ``sites()``: the fit's training sites, to warn about lesions at
    other sites. Pass 1 over the file, then validation and scoring of its patterns; warnings are given here, once.
    """
    from microcalc.io.readers import merge_notes, warn_notes

    keys, ids = scan.keys or [ONE], pl.col(ID)
    rows = scan.rows.with_columns(stripped_text(scan.names["lesion_id"], scan.types[scan.names["lesion_id"]]).alias(ID))
    rows = rows.with_columns(blank_null(ids).alias(ID), *([] if scan.keys else [pl.lit(True).alias(ONE)]))
    rows = rows.collect(engine="streaming").lazy() if scan.in_memory else rows  # ids stripped once
    unique = (ids > ids.shift()).all() if scan.in_memory else ids.drop_nulls().n_unique() == ids.count()
    patterns, counts = pl.collect_all(
        [
            rows.group_by(keys).agg(pl.col(ROW).min().alias(FIRST), pl.len().alias(COUNT)),
            rows.select(pl.len(), ids.null_count(), unique.alias("unique")),  # in memory: are the ids increasing
        ],
        engine="streaming",
        optimizations=pl.QueryOptFlags(comm_subplan_elim=False),  # two scans: a shared one is cached whole
    )
    records, no_id, unique = counts.row(0)
    if scan.in_memory and not (unique or no_id):
        unique = rows.select(ids.n_unique()).collect().item() == records
    blank, id_error = _ids_checked(scan, rows) if no_id or not unique else (0, None)
    if records == blank:
        raise LesionInputError(scan.file, "has a header but no lesion rows")
    patterns = patterns.sort(FIRST)
    canonical, notes, cell_error = _validated(scan, patterns.select(*scan.keys, FIRST), FIRST)
    if id_error is not None or cell_error is not None:  # the earlier row; on one row the id (first column)
        raise min((e for e in (id_error, cell_error) if e is not None), key=lambda e: (e.row, e is cell_error))
    warn_notes(merge_notes([_file_note(note, scan, rows, patterns, canonical) for note in notes]))
    number = pl.int_range(len(patterns), dtype=pl.UInt32, eager=True)  # each pattern's row of the scored table
    key = functools.reduce(operator.xor, (pl.col(k).hash(seed) for seed, k in enumerate(keys)))  # a lesion's pattern
    key = key if patterns.select(key).to_series().is_unique().all() else pl.struct(keys)  # no hash twice, else cells
    pattern = key.replace_strict(patterns.select(key).to_series(), number).alias(PATTERN)
    patient_id = scan.names.get("patient_id")
    text = [h for h in (patient_id, *scan.extras) if h]
    lesions = rows.filter(ids.is_not_null()) if no_id else rows
    lesions = lesions.with_columns(pattern, *[stripped_text(h, scan.types[h]) for h in text])
    with ThreadPoolExecutor(1) as pool:  # in memory: Polars indexes the lesions while the fit loads and scores
        indexed = pool.submit(lambda: lesions.collect().lazy()) if scan.in_memory else None
        table = typed(score(canonical).drop(columns=["lesion_id", "patient_id"]))
        lesions = indexed.result() if indexed is not None else lesions
    warn_unknown_recorded_sites(canonical, sites and sites(), str(scan.file), patterns[COUNT].to_numpy())
    patient = pl.col(patient_id) if patient_id else pl.lit(None, pl.String)
    if csv:  # each pattern's fields as CSV text, once: a run of summaries and one of canonical values
        runs = [
            csv_text(table).select(pl.concat_str(run, separator=",")).to_series()
            for run in (SUMMARY_COLUMNS, CANONICAL)
        ]
        fields = [
            csv_field(ids),
            pl.col(PATTERN).replace_strict(number, runs[0]),
            csv_field(patient),
            pl.col(PATTERN).replace_strict(number, runs[1]),
            *map(csv_field, scan.extras),
        ]
        return lesions.select(csv_line(fields, [*OUTPUT_COLUMNS, *scan.extras])), records - blank
    value = {c: pl.lit(v[0], v.dtype) if v.n_unique() == 1 else _of(v) for c, v in table.to_dict().items()}
    value |= {"lesion_id": ids, "patient_id": blank_null(patient)} | {e: blank_null(pl.col(e)) for e in scan.extras}
    return lesions.select(value[c].alias(c) for c in [*OUTPUT_COLUMNS, *scan.extras]), records - blank


def _of(values: pl.Series) -> pl.Expr:
    """Each lesion's pattern's value (``values``: one per pattern, in pattern order), gathered by index.

    Gathering is 4x faster than ``replace_strict`` here, but not inside the CSV line's ``concat_str``,
    where it took 1,000,000 lesions from 1.9 s to 3.9 s; the CSV runs are looked up instead.
    """
    return pl.lit(values).gather(pl.col(PATTERN))


def _ids_checked(scan: LesionScan, rows: pl.LazyFrame) -> tuple[int, LesionInputError | None]:
    """The blank rows of a file whose ids are missing or repeated, and the readers' error for its first bad id.

    The ids are validated by ``read_lesions``' code (held in memory: this is the error path only).
    """
    from microcalc.io.formats import validated
    from microcalc.io.loading import Table

    header = scan.names["lesion_id"]
    cells = pl.any_horizontal([cell_text(n, t).is_not_null() for n, t in scan.types.items()]).alias(COUNT)
    ids = rows.select(ROW, cell_text(header, scan.types[header]), cells).filter(COUNT).collect(engine="streaming")
    block = pd.DataFrame({header: ids[header].to_pandas().astype("string")})
    try:
        validated(Table(scan.file, block, ids[ROW].to_numpy()), False, scan.fmt)
    except LesionInputError as err:
        return 0, err
    return rows.select(pl.len()).collect(engine="streaming").item() - len(ids), None


def _validated(scan: LesionScan, cells: pl.DataFrame, row: str) -> tuple[pd.DataFrame, list, LesionInputError | None]:
    """Validation of cells of the file's validated columns under their rows (column ``row``), in row order.

    Returns the canonical frame, the warnings, and the first bad cell's error (or None), as the whole file
    gives them.
    """
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
    opening: Future | None = None,
    sites: Callable[[], tuple[str, ...]] | None = None,
) -> int:
    """Score the lesions of ``cases`` with ``score`` and write them to ``out``; returns the number of lesions.

    ``score`` maps a canonical frame to a ``PatternScorer.score`` table; ``before_errors()`` runs before a bad
    file's error is raised (a bad fit file is reported first); ``opening``: ``csvblocks.start_opening(cases)``,
    under way; ``sites()``: the fit's training sites (lesions recorded at another site are warned about).
    """
    from microcalc.io.readers import read_lesions

    out = Path(out)
    try:
        with atomic_path(out) as tmp:
            scan, csv = open_scan(cases, opening), out.suffix.lower() != ".parquet"
            if scan is not None:
                try:
                    lesions, n = scored_lesions(scan, score, csv, sites)
                    write_lesions(lesions, tmp, n if scan.in_memory else None)
                    return n
                except pl.exceptions.ComputeError:  # a row the scan cannot parse: read whole, for the exact message
                    pass
            frame = read_lesions(cases)
            warn_unknown_recorded_sites(frame, sites and sites(), str(cases))
            table = typed(score(frame))
            text = csv_text(table).select(csv_line(pl.all(), table.columns)) if csv else table
            write_lesions(text.lazy(), tmp, len(table))
            return len(table)
    except LesionInputError:
        before_errors()
        raise


POLARS_TYPES = {"string": pl.String, "Int64": pl.Int64, "Float64": pl.Float64, "boolean": pl.Boolean}


def typed(table: pd.DataFrame) -> pl.DataFrame:
    """A prediction table in Polars, columns typed as the canonical schema says (other columns: numbers, text)."""
    types = {c: POLARS_TYPES[schema.DTYPES[c]] for c in schema.COLUMNS} | dict.fromkeys(SUMMARY_COLUMNS, pl.Float64)
    return pl.from_pandas(table).cast({c: types.get(c, pl.String) for c in table.columns})


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

    ``site`` names the site of lesions whose site is blank (see ``Fit.predict``); ``opening``:
    ``csvblocks.start_opening(cases)``, which the CLI calls before its heavy imports (the file is read meanwhile).
    On a Dask cluster: :func:`microcalc.batch.distributed.predict_file` (``microcalc predict --dask``).
    """
    check_output_path(out)
    check_ci(ci)
    with ThreadPoolExecutor(max_workers=1) as pool:
        scorer = pool.submit(PatternScorer.from_file, fit_path, ci, site)  # read during the first pass
        fit = scorer.result
        n = write_predictions(cases, out, lambda f: fit().score(f), fit, opening, lambda: fit().sites)
    warn_unknown_site(site, fit().sites)
    return n
