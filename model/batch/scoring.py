"""Score a lesion file with a saved fit: stream it in chunks and compute once per covariate pattern.

Flow of :func:`predict_file`:

    lesion file --(csvblocks / pyarrow, block by block; stripped, blanks NA)--> text cells
    --(readers.validated_block)--> canonical chunk --(PatternScorer: one posterior summary per
    distinct covariate pattern, remembered across chunks)--> predictions in input order
    --(TableWriter)--> temporary file --> rename

The fit file is opened with :func:`microcalc.modelling.fitfile.load_for_scoring` (posterior equation
parameters and the training key table only) while the first block is read. Blocks k+1 and k+2
are parsed and validated and block k-1 written in two helper threads (Arrow releases the GIL)
while block k is scored. The first block is small (~11,000 lesions): its patterns are all new,
and the sooner they are computed the sooner the writer has work.

A registry repeats a few thousand covariate patterns millions of times, so the posterior work
(completing blanks, the model equation on every draw, quantiles) is done once per pattern and a
lesion only looks its pattern up; the CSV writer likewise formats each distinct number once.
Memory is bounded by the chunk size, not by the file size. Nothing is written on bad input: the
output is renamed into place only after every chunk was valid, and the first bad cell of the file
stops the run with one ``LesionInputError``. Warnings are merged over the chunks and given once.

Small files, CBIS-DDSM files (one row per view, merged into lesions across the whole file) and
anything the fast chunk reader cannot parse (e.g. a short row) are read whole by
:func:`microcalc.read_lesions`, so predictions and error messages never depend on the route taken.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd

from microcalc.io import csvblocks
from microcalc.io.atomic import atomic_path
from microcalc.io.csvblocks import CsvBlocks, StreamUnsupported, is_parquet, open_csv_blocks
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
CHUNK_ROWS = 200_000  # lesions per chunk from a whole-file read or a Parquet file
FIRST_CHUNK_ROWS = 10_000  # a Parquet file's first chunk: its predictions compute most patterns, soon
READ_AHEAD = 2  # blocks read and validated ahead of the one being scored
OUTPUT_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")
CSV_SLICE_ROWS = 16_384  # output rows formatted in memory at a time (a few MB: stays in cache)

PatternKey = tuple


# --------------------------------------------------------------------------------------------
# Per-pattern scoring, shared by the chunked and the Dask paths
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Chunked reading: text cells by pyarrow, validation by microcalc.io.readers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellChunk:
    """A block of a file's text cells and the spreadsheet row of its first record (header = row 1).

    The cells are tidy already (stripped, blanks NA: ``readers.strip_cells``), done by the
    read-ahead thread so that the validating thread does not pay for it.
    """

    cells: pd.DataFrame
    first_row: int


@dataclass(frozen=True)
class CellStream:
    """A file opened for chunked reading: its header, format and text-cell blocks."""

    file: str
    names: list[str]
    fmt: str
    chunks: Iterator[CellChunk]


def validate_chunk(chunk: CellChunk, file: str, fmt: str) -> tuple[pd.DataFrame, list]:
    """A block of text cells as the canonical frame and its warnings (``readers.Note``), by the readers' own
    validation (rows = the file's rows).

    A block of only blank rows gives an empty frame; a file without any lesion is refused when written.
    Repeated lesion ids are found across the whole file by :class:`SeenLesionIds`, not per block.
    """
    from microcalc.io.readers import validated_block

    return validated_block(chunk.cells, file=file, first_row=chunk.first_row, fmt=fmt, unique_ids=False, stripped=True)


@dataclass(frozen=True)
class ScoredChunk:
    """A block's predictions and the warnings its validation gave (warned once per file at the end)."""

    table: pd.DataFrame
    notes: list


def open_cells(path: str | Path, opening: Future | None = None) -> CellStream:
    """Open a large canonical or DDSM file (CSV or Parquet) for chunked reading, or refuse to.

    ``opening`` is a :func:`csvblocks.start_opening` of the same path, begun earlier (by the CLI,
    before its heavy imports); it is used only if the file is streamed as CSV.
    """
    from microcalc.io.readers import CBIS, detect_format

    path, file = Path(path), str(path)
    if not path.is_file() or path.stat().st_size < csvblocks.STREAM_MIN_BYTES:  # read whole: same result
        raise StreamUnsupported("small, missing or not a file")
    if is_parquet(path):
        names, chunks = _parquet_cells(path, CHUNK_ROWS)
    else:
        blocks = opening.result() if opening is not None else open_csv_blocks(path, csvblocks.BLOCK_BYTES)
        names, chunks = _csv_cells(blocks)
    if len(set(names)) != len(names) or any(n == "" or n.startswith("Unnamed: ") for n in names):
        raise StreamUnsupported("duplicate or unnamed columns")  # read_lesions explains or drops them
    fmt = detect_format(names, file=file)
    if fmt == CBIS:
        raise StreamUnsupported("CBIS-DDSM view rows are merged across the whole file")
    return CellStream(file, names, fmt, chunks)


def _csv_cells(blocks: CsvBlocks) -> tuple[list[str], Iterator[CellChunk]]:
    """Header names and the text cells of a CSV file opened by ``csvblocks``, block by block."""
    names = [n.strip() for n in blocks.names]
    return names, _numbered(blocks.batches, _tidy_batch, names)


def _tidy_batch(batch) -> pd.DataFrame:
    """A batch of Arrow string cells as tidy text cells (see :func:`_tidy_text`)."""
    return pd.DataFrame({j: _tidy_text(column) for j, column in enumerate(batch.columns)})


def _tidy_text(column) -> pd.Series:
    """An Arrow string column as ``readers.strip_cells`` leaves it, computed in Arrow (3x faster)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.utf8_trim_whitespace(column)  # what pandas' str.strip() runs on Arrow strings
    blank = pc.equal(text, "")
    if pc.any(blank).as_py():
        text = pc.if_else(blank, pa.scalar(None, text.type), text)
    return pd.Series(pd.arrays.ArrowStringArray(text))


def _parquet_cells(path: Path, chunk_rows: int) -> tuple[list[str], Iterator[CellChunk]]:
    """Column names and a Parquet file's rows as text cells (as a CSV would hold them), batch by batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from microcalc.io.readers import as_text, strip_cells

    try:
        parquet = pq.ParquetFile(path)
    except Exception:  # corrupt file: read_lesions words the message
        raise StreamUnsupported("unreadable Parquet") from None
    names = [str(n).strip() for n in parquet.schema_arrow.names]

    def text_cells(batch) -> pd.DataFrame:
        """String columns tidied in Arrow; typed ones (numbers, booleans) printed as text by the readers."""
        typed = [
            j for j, t in enumerate(batch.schema.types) if not (pa.types.is_string(t) or pa.types.is_large_string(t))
        ]
        printed = batch.select(typed).to_pandas() if typed else None
        return pd.DataFrame(
            {
                j: strip_cells(as_text(printed.iloc[:, typed.index(j)])) if j in typed else _tidy_text(batch.column(j))
                for j in range(batch.num_columns)
            }
        )

    return names, _numbered(_small_first(parquet.iter_batches(batch_size=chunk_rows)), text_cells, names)


def _small_first(batches: Iterable) -> Iterator:
    """The batches with the first one cut after FIRST_CHUNK_ROWS rows, so that predictions start sooner."""
    batches = iter(batches)
    first = next(batches, None)
    if first is None:
        return
    if first.num_rows > FIRST_CHUNK_ROWS:
        yield first.slice(0, FIRST_CHUNK_ROWS)
        first = first.slice(FIRST_CHUNK_ROWS)
    yield first
    yield from batches


def _numbered(batches: Iterable, to_cells: Callable, names: list[str]) -> Iterator[CellChunk]:
    """Arrow record batches as CellChunks (``to_cells`` tidies them) numbered by spreadsheet row.

    Arrow errors become StreamUnsupported.
    """
    import pyarrow as pa

    row = 2
    iterator = iter(batches)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except (pa.ArrowException, UnicodeDecodeError):  # ragged row, bad quote, bad UTF-8, ...
            raise StreamUnsupported("parse error: read whole for an exact message") from None
        cells = to_cells(batch)
        cells.columns = names
        yield CellChunk(cells, row)
        row += len(cells)


def read_ahead(
    chunks: Iterator[CellChunk], prepare: Callable[[CellChunk], object] = lambda chunk: chunk, depth: int = READ_AHEAD
) -> Iterator:
    """``prepare(chunk)`` for every block, up to ``depth`` blocks read and prepared ahead in a second thread.

    Arrow parses without the GIL, and while the first block's predictions are computed (every
    covariate pattern is new) the next blocks can be read and validated.
    """
    done = object()

    def step():
        chunk = next(chunks, done)
        return done if chunk is done else prepare(chunk)

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = deque(pool.submit(step) for _ in range(depth))
        while (item := pending.popleft().result()) is not done:
            pending.append(pool.submit(step))
            yield item


@dataclass
class SeenLesionIds:
    """Lesion ids of the chunks read so far: an id may be used only once in the whole file.

    Ids are kept as Arrow strings (~20 bytes a lesion) and checked for repeats once, at the end
    of the file or when a chunk is bad (so that the error with the earliest row is the one raised).
    """

    file: str
    column: str = "lesion_id"
    parts: list[tuple[int, pd.Series]] = field(default_factory=list)

    def add(self, chunk: CellChunk) -> None:
        """Remember a chunk's ids (tidy cells: stripped, blank = NA; blank ids are the readers' business)."""
        if self.column in chunk.cells:
            self.parts.append((chunk.first_row, chunk.cells[self.column]))

    def first_repeat(self) -> LesionInputError | None:
        """The error for the first lesion whose id an earlier lesion already used, if any."""
        if not self.parts:
            return None
        ids = pd.concat([part for _, part in self.parts], ignore_index=True)
        present = ids.notna()
        if _strictly_increasing(ids[present]) or ids.nunique() == int(present.sum()):
            return None
        from microcalc.io.readers import repeated_id

        rows = np.concatenate([np.arange(r, r + len(part)) for r, part in self.parts])
        i, problem = repeated_id(ids, rows)
        return LesionInputError(self.file, problem, row=int(rows[i]), column=self.column, value=ids.iloc[i])


def _strictly_increasing(ids: pd.Series) -> bool:
    """True if each id sorts after the one before (so none repeats): a cheap test for exports sorted by id."""
    values = ids.array
    return len(values) < 2 or bool((values[1:] > values[:-1]).all())


def validate_and_score(chunk: CellChunk, file: str, fmt: str, scorer: PatternScorer) -> ScoredChunk:
    """One chunk's predictions: the readers' validation, then the per-pattern scorer."""
    frame, notes = validate_chunk(chunk, file, fmt)
    return ScoredChunk(scorer.score(frame), notes)


def local_jobs(stream: CellStream, scorer: Future) -> Iterator[tuple[CellChunk, Future]]:
    """Each block with its predictions: read and validated in the read-ahead thread, scored in this one.

    ``scorer`` is the PatternScorer still being loaded: the first block is read meanwhile, and a
    bad fit file is reported before a bad block.
    """

    def validated(chunk: CellChunk) -> tuple[CellChunk, Future]:
        return chunk, run_now(validate_chunk, chunk, stream.file, stream.fmt)

    def scored(frame: pd.DataFrame, notes: list) -> ScoredChunk:
        return ScoredChunk(score(frame), notes)

    blocks = read_ahead(stream.chunks, validated)
    first = next(blocks, None)
    score = scorer.result().score
    for chunk, checked in chain([first] if first is not None else [], blocks):
        yield chunk, checked if checked.exception() is not None else run_now(scored, *checked.result())


def run_now(function: Callable, *args) -> Future:
    """Run ``function`` here and now, as a finished Future (the local twin of a Dask ``submit``)."""
    done: Future = Future()
    try:
        done.set_result(function(*args))
    except LesionInputError as err:
        done.set_exception(err)
    return done


def scored_stream(file: str, jobs: Iterable[tuple[CellChunk, Future]], ahead: int = 0) -> Iterator[pd.DataFrame]:
    """Predictions chunk by chunk in file order from (chunk, future ScoredChunk) jobs, ``ahead`` more in flight.

    A repeated lesion_id fails at the end of the file; when a chunk is bad, a repeated id on an
    earlier row is reported instead, so the first bad row of the file is the one named. The chunks'
    warnings are given at the end, merged, as reading the file whole gives them.
    """
    from microcalc.io.readers import merge_notes, warn_notes

    seen = SeenLesionIds(file)
    pending: deque[Future] = deque()
    notes: list = []

    def outcome() -> pd.DataFrame:
        scored = _outcome(pending.popleft(), seen)
        notes.extend(scored.notes)
        return scored.table

    for chunk, predictions in jobs:
        seen.add(chunk)
        pending.append(predictions)
        if len(pending) > ahead:
            yield outcome()
    while pending:
        yield outcome()
    repeat = seen.first_repeat()
    if repeat is not None:
        raise repeat
    warn_notes(merge_notes(notes))


def _outcome(future: Future, seen: SeenLesionIds) -> ScoredChunk:
    """A chunk's ScoredChunk, or the error with the earliest row (bad cell or repeated id).

    On the same row the repeated id wins, as in ``read_lesions`` (lesion_id is the first column).
    """
    try:
        return future.result()
    except LesionInputError as err:
        repeat = seen.first_repeat()
        raise (repeat if repeat is not None and (repeat.row or 0) <= (err.row or 0) else err) from None


def whole_file_lesions(path: str | Path) -> Iterator[pd.DataFrame]:
    """The canonical frame of ``read_lesions(path)`` in slices of ``CHUNK_ROWS`` lesions."""
    from microcalc.io.readers import read_lesions

    frame = read_lesions(path)
    for start in range(0, len(frame), CHUNK_ROWS):
        yield frame.iloc[start : start + CHUNK_ROWS]


# --------------------------------------------------------------------------------------------
# Writing: one CSV or Parquet file, chunk by chunk, renamed into place at the end
# --------------------------------------------------------------------------------------------


class TableWriter:
    """Appends chunks to one CSV or Parquet file, with the columns and types of the first chunk."""

    def __init__(self, path: Path, parquet: bool):
        self.path, self.parquet = path, parquet
        self.schema = None
        self.sink = None

    def prepare(self, frame: pd.DataFrame) -> tuple:
        """A chunk as an Arrow table (and, for CSV, its numbers as text): the producing thread's share of the work."""
        import pyarrow as pa

        if self.schema is None:
            self.schema = pa.Schema.from_pandas(frame, preserve_index=False)
        table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        return table, None if self.parquet else _numbers_as_text(table)

    def write(self, prepared: tuple) -> None:
        """Append a prepared chunk (with pyarrow: ~10x faster than DataFrame.to_csv)."""
        table, text = prepared
        first = self.sink is None
        if first:
            self.sink = self._open(self.schema)
        if self.parquet:
            self.sink.write_table(table)
        else:
            write_csv(table, self.sink, header=first, text=text)

    def _open(self, schema):
        import pyarrow as pa

        if self.parquet:
            import pyarrow.parquet as pq

            return pq.ParquetWriter(self.path, schema)
        return pa.OSFile(str(self.path), "wb")

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()


def write_csv(table, sink, header: bool, text=None) -> None:
    """Append a table to a CSV stream, numbers formatted once per distinct value and text unquoted (header names
    are quoted, as Arrow writes them).

    A slice of CSV_SLICE_ROWS rows whose text holds a comma, quote or line break is refused unquoted by
    Arrow and written with all its text values quoted instead; a CSV reader reads the same values back
    either way. Slices are formatted in memory first, so a refused one leaves nothing half-written.
    ``text`` is ``_numbers_as_text(table)`` if the caller made it already.
    """
    import pyarrow as pa

    text = _numbers_as_text(table) if text is None else text
    for start in range(0, table.num_rows, CSV_SLICE_ROWS):
        try:
            sink.write(_csv(text.slice(start, CSV_SLICE_ROWS), header, "none"))
        except pa.ArrowInvalid:
            sink.write(_csv(table.slice(start, CSV_SLICE_ROWS), header, "needed"))
        header = False


def _csv(table, header: bool, quoting: str):
    """The CSV text of a table, in memory."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    out = pa.BufferOutputStream()
    pacsv.write_csv(table, out, write_options=pacsv.WriteOptions(include_header=header, quoting_style=quoting))
    return out.getvalue()


def _numbers_as_text(table):
    """Number and true/false columns as Arrow's own text for them, each distinct value formatted once.

    Predictions repeat one summary per covariate pattern: formatting a million floats was half of
    the CSV writing time, formatting a few thousand distinct ones is negligible.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for column in table.columns:
        if pa.types.is_floating(column.type) or pa.types.is_integer(column.type) or pa.types.is_boolean(column.type):
            encoded = pc.dictionary_encode(column).combine_chunks()
            column = pc.take(pc.cast(encoded.dictionary, pa.string()), encoded.indices)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def write_predictions(tables: Iterable[pd.DataFrame], out: str | Path, file: str = "input") -> int:
    """Append prediction tables to ``out``, which appears only if every one was produced."""
    out = Path(out)
    with atomic_path(out) as tmp:
        writer = TableWriter(tmp, parquet=out.suffix.lower() == ".parquet")
        try:
            n = _write_behind(tables, writer)
        finally:
            writer.close()
        if n == 0:
            raise LesionInputError(file, "has a header but no lesion rows")
    return n


def _write_behind(tables: Iterable[pd.DataFrame], writer: TableWriter) -> int:
    """Produce table k+1 while a second thread writes table k (Arrow writes without holding the GIL).

    Converting a table to Arrow is left to the producing thread, which waits for the writer in the end.
    """
    n, pending = 0, None
    with ThreadPoolExecutor(max_workers=1) as pool:
        for table in tables:
            if len(table):
                prepared = writer.prepare(table)  # while the writer thread still writes the table before
                if pending is not None:
                    pending.result()
                pending = pool.submit(writer.write, prepared)
                n += len(table)
        if pending is not None:
            pending.result()
    return n


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

    ``opening`` is the CSV reader started early by ``csvblocks.start_opening`` (see :func:`open_cells`);
    ``site`` names the site of lesions whose site is blank (see ``Fit.predict``). On a Dask cluster:
    :func:`microcalc.batch.distributed.predict_file` (``microcalc predict --dask``), which builds on
    this module, so this one does not import it.
    """
    check_output_path(out)
    check_ci(ci)
    with ThreadPoolExecutor(max_workers=1) as pool:
        scorer = pool.submit(PatternScorer.from_file, fit_path, ci, site)  # read while the first block is
        n = write_streamed_or_whole(
            cases,
            out,
            open_or_none(cases, opening, before_errors=scorer.result),
            jobs=lambda stream: local_jobs(stream, scorer),
            score_whole=lambda frames: map(scorer.result().score, frames),
        )
    warn_unknown_site(site, scorer.result().sites)
    return n


def open_or_none(
    cases: str | Path, opening: Future | None = None, before_errors: Callable[[], object] = lambda: None
) -> CellStream | None:
    """The cases opened for streaming, or None to read them whole; ``before_errors()`` runs before a bad file's
    error is raised (to report a bad fit file first, as when one was opened after the other)."""
    try:
        return open_cells(cases, opening)
    except StreamUnsupported:
        return None
    except Exception:
        before_errors()
        raise


def write_streamed_or_whole(
    cases: str | Path,
    out: str | Path,
    stream: CellStream | None,
    jobs: Callable[[CellStream], Iterable[tuple[CellChunk, Future]]],
    score_whole: Callable[[Iterator[pd.DataFrame]], Iterable[pd.DataFrame]],
    ahead: int = 0,
) -> int:
    """Write the predictions of a streamed file (``jobs``), or of the file read whole (``score_whole``) when it
    cannot be streamed or a later block turns out unreadable: the route of local and of Dask scoring."""
    if stream is not None:
        try:
            return write_predictions(scored_stream(stream.file, jobs(stream), ahead=ahead), out, stream.file)
        except StreamUnsupported:  # a later block the chunk reader cannot parse
            pass
    return write_predictions(score_whole(whole_file_lesions(cases)), out, str(cases))
