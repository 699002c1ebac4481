"""Scale: chunked scoring equals in-memory scoring; Parquet in/out; Dask; lazy start-up.

Chunks are made tiny (a few kilobytes) so the bundled 617 lesions cross many chunk boundaries.
Speed targets live in tests/benchmarks/bench.py, never here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from microcalc.batch import scoring
from microcalc.io import csvblocks
from microcalc.io.errors import LesionInputError, LesionWarning
from microcalc.io.readers import read_lesions
from microcalc.modelling.predict import pattern_codes

SUMMARY = list(scoring.SUMMARY_COLUMNS)


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Stream every file, in blocks of 4 kB (~40 rows; the first 1 kB) or 50 Parquet rows (the first 20)."""
    monkeypatch.setattr(csvblocks, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(csvblocks, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(scoring, "FIRST_CHUNK_ROWS", 20)
    monkeypatch.setattr(csvblocks, "FIRST_BLOCK_BYTES", 1024)
    monkeypatch.setattr(scoring, "CHUNK_ROWS", 50)


@pytest.fixture(scope="module")
def reference(small_fit, ddsm):
    """In-memory predictions of all bundled lesions (Fit.predict)."""
    return small_fit.predict(ddsm)


def _read_any(path) -> pd.DataFrame:
    return pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path, dtype={"lesion_id": str})


def _assert_same_predictions(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert got["lesion_id"].astype(str).tolist() == expected["lesion_id"].astype(str).tolist()
    np.testing.assert_array_equal(got[SUMMARY].to_numpy(float), expected[SUMMARY].to_numpy(float))  # bit for bit


def _quiet_read(path, **kw) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_lesions(path, **kw)


def test_chunked_csv_scoring_equals_in_memory_and_computes_each_pattern_once(
    tiny_chunks, small_fit_path, bundled_path, reference, ddsm, tmp_path, monkeypatch
):
    stream = scoring.open_cells(bundled_path)
    assert sum(1 for _ in stream.chunks) >= 10  # really crosses chunk boundaries
    computed = []
    real = scoring.pattern_summaries
    monkeypatch.setattr(scoring, "pattern_summaries", lambda frame, *a: computed.append(len(frame)) or real(frame, *a))
    out = tmp_path / "pred.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert scoring.predict_file(small_fit_path, bundled_path, out) == len(ddsm)
    _assert_same_predictions(_read_any(out), reference)
    assert sum(computed) == len(pattern_codes(ddsm)[1])  # each distinct pattern once, across all chunks
    assert len(computed) > 1


def test_parquet_in_and_out(tiny_chunks, small_fit_path, ddsm, reference, tmp_path):
    cases = tmp_path / "cases.parquet"
    ddsm.drop(columns=["malignant"]).to_parquet(cases)
    out = tmp_path / "pred.parquet"
    assert scoring.predict_file(small_fit_path, cases, out) == len(ddsm)
    got = _read_any(out)
    _assert_same_predictions(got, reference)
    assert list(got.columns[:5]) == ["lesion_id", *SUMMARY]
    assert got["age"].dtype.kind == "f" and got["brca"].dtype.kind in "bO"


def _cases_csv(ddsm: pd.DataFrame, tmp_path, n: int = 120) -> tuple[pd.DataFrame, object]:
    """The first n bundled lesions as a canonical CSV (text we can corrupt), and its path."""
    frame = ddsm.head(n).drop(columns=["malignant"]).astype("string")
    path = tmp_path / "cases.csv"
    frame.to_csv(path, index=False)
    return frame, path


def _whole_and_streamed(fit_path, cases, tmp_path):
    """Predict ``cases`` read whole and streamed in several small chunks; the two output paths."""
    whole, streamed = tmp_path / "whole.csv", tmp_path / "streamed.csv"
    scoring.predict_file(fit_path, cases, whole)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(csvblocks, "STREAM_MIN_BYTES", 0)
        mp.setattr(csvblocks, "BLOCK_BYTES", 4096)
        mp.setattr(csvblocks, "FIRST_BLOCK_BYTES", 1024)
        assert sum(1 for _ in scoring.open_cells(cases).chunks) > 1
        scoring.predict_file(fit_path, cases, streamed)
    return whole, streamed


def test_whole_file_route_gives_the_same_file(small_fit_path, ddsm, tmp_path):
    """Small files are read whole, large ones streamed; the output must not depend on the route."""
    _, cases = _cases_csv(ddsm, tmp_path, n=200)
    whole, streamed = _whole_and_streamed(small_fit_path, cases, tmp_path)
    assert whole.read_bytes() == streamed.read_bytes()


def test_reader_opened_early_gives_the_same_file(tiny_chunks, small_fit_path, ddsm, tmp_path):
    """The CLI starts Arrow on the CSV before importing pandas; the predictions must not change."""
    from microcalc.io.csvblocks import start_opening

    _, cases = _cases_csv(ddsm, tmp_path, n=200)
    plain, early = tmp_path / "plain.csv", tmp_path / "early.csv"
    scoring.predict_file(small_fit_path, cases, plain)
    opening = start_opening(cases, 4096)
    assert sum(1 for _ in opening.result().batches) > 1
    scoring.predict_file(small_fit_path, cases, early, opening=start_opening(cases, 4096))
    assert plain.read_bytes() == early.read_bytes()


def test_command_line_streams_like_the_whole_file(small_fit_path, ddsm, tmp_path, monkeypatch):
    """``microcalc predict`` opens the CSV early (csvblocks.start_opening) and streams it; same file as read whole."""
    from microcalc.cli import main

    _, cases = _cases_csv(ddsm, tmp_path, n=200)
    whole = tmp_path / "whole.csv"
    scoring.predict_file(small_fit_path, cases, whole)  # small: read whole
    monkeypatch.setattr(csvblocks, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(csvblocks, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(csvblocks, "FIRST_BLOCK_BYTES", 1024)
    opening = csvblocks.start_opening(cases)
    assert opening is not None and sum(1 for _ in opening.result().batches) > 2
    streamed = tmp_path / "streamed.csv"
    assert main(["-q", "predict", str(small_fit_path), str(cases), "--out", str(streamed)]) == 0
    assert streamed.read_bytes() == whole.read_bytes()


def test_early_opening_only_for_files_that_will_stream(ddsm, tmp_path):
    _, cases = _cases_csv(ddsm, tmp_path, n=50)
    assert csvblocks.start_opening(cases) is None  # below STREAM_MIN_BYTES: read whole
    assert csvblocks.start_opening(tmp_path / "missing.csv") is None
    parquet = tmp_path / "big.csv"
    ddsm.to_parquet(parquet)  # Parquet under a .csv name
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(csvblocks, "STREAM_MIN_BYTES", 0)
        assert csvblocks.start_opening(parquet) is None
        assert csvblocks.start_opening(cases) is not None


@pytest.mark.parametrize("quoted_newline", [False, True])
def test_messy_text_streams_like_the_whole_file(small_fit_path, ddsm, tmp_path, quoted_newline):
    """Padded cells, whitespace-only cells and unsorted ids (and, with quotes, a newline inside a value):
    the streamed route (Arrow tidying, quote-free parsing, sorted-id shortcut) must give the same file."""
    frame, cases = _cases_csv(ddsm, tmp_path, n=200)
    frame = frame.iloc[::-1].reset_index(drop=True)  # ids in descending order: no sorted-id shortcut
    frame["morphology"] = "  " + frame["morphology"].fillna("") + " "  # padded; blank becomes "   "
    frame["note"] = pd.Series(
        ["line one\nline two" if quoted_newline and i % 7 == 0 else f" n{i} " for i in range(len(frame))],
        dtype="string",
    )
    frame.to_csv(cases, index=False)
    assert (b'"' in cases.read_bytes()) == quoted_newline
    whole, streamed = _whole_and_streamed(small_fit_path, cases, tmp_path)
    assert whole.read_bytes() == streamed.read_bytes()
    assert _read_any(streamed)["morphology"].isna().sum() == frame["morphology"].str.strip().eq("").sum()


def test_csv_writer_quotes_only_where_needed_and_formats_numbers_as_arrow_does(tmp_path, monkeypatch):
    """Numbers are formatted once per distinct value, text is quoted only in a slice that needs it;
    a CSV reader gets back exactly the values written, and numbers and booleans read as Arrow writes them."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    monkeypatch.setattr(scoring, "CSV_SLICE_ROWS", 3)
    numbers = [0.1310848635800306, 1e-05, 2.0, None, float("nan"), -0.0, 1 / 3, 0.1310848635800306, 5e20]
    text = ["plain", "words here", None, 'has "quote"', "a,b", "two\nlines", "B_1", "x", "y"]
    table = pa.table(
        {
            "p": pa.array(numbers, pa.float64()),
            "id": pa.array(text, pa.large_string()),
            "n": pa.array([1, None, 3, 4, 5, 6, 7, 8, 9], pa.int64()),
        }
    )
    with pa.OSFile(str(tmp_path / "t.csv"), "wb") as sink:
        scoring.write_csv(table, sink, header=True)
    written = (tmp_path / "t.csv").read_bytes()
    lines = written.split(b"\n")
    assert lines[1] == b"0.1310848635800306,plain,1"
    assert not any(b'"' in line for line in lines[1:4])  # the first slice needs no quotes
    assert b'"a,b"' in written and b'"has ""quote"""' in written and b'"two\nlines"' in written

    back = pacsv.read_csv(
        tmp_path / "t.csv",
        convert_options=pacsv.ConvertOptions(
            column_types={"p": pa.float64(), "id": pa.large_string(), "n": pa.int64()}, strings_can_be_null=True
        ),
    )
    assert back.column("id").to_pylist() == text
    assert back.column("n").to_pylist() == table.column("n").to_pylist()
    got, expected = back.column("p").to_numpy(zero_copy_only=False), np.array(numbers, dtype=float)
    np.testing.assert_array_equal(got, expected)  # NaN and null both read as NaN, -0.0 == 0.0
    assert str(got[5]) == "-0.0"
    typed = pa.table({"p": table.column("p"), "n": table.column("n"), "flag": pa.array([True, None, False] * 3)})
    with pa.OSFile(str(tmp_path / "typed.csv"), "wb") as sink:
        scoring.write_csv(typed, sink, header=True)
    arrow_own = pa.BufferOutputStream()
    pacsv.write_csv(typed, arrow_own)
    assert (tmp_path / "typed.csv").read_bytes() == arrow_own.getvalue().to_pybytes()  # no text: same bytes


def test_streamed_file_warns_once_as_the_whole_file_does(tiny_chunks, small_fit_path, ddsm, tmp_path):
    """Notes from many blocks are merged: one warning, worded as read_lesions words it for the whole file."""
    frame, cases = _cases_csv(ddsm, tmp_path, n=200)
    frame.loc[[5, 40, 77, 120, 150, 170, 199], "age"] = "150"
    frame.to_csv(cases, index=False)
    assert sum(1 for _ in scoring.open_cells(cases).chunks) > 3
    with pytest.warns(LesionWarning) as whole:
        read_lesions(cases)
    with pytest.warns(LesionWarning) as streamed:
        scoring.predict_file(small_fit_path, cases, tmp_path / "pred.csv")
    assert [str(w.message) for w in streamed] == [str(w.message) for w in whole]
    assert len(whole) == 1 and "row 7 (150)" in str(whole[0].message) and "and 2 more" in str(whole[0].message)


def test_repeated_id_found_in_unsorted_and_sorted_ids():
    """The sorted-id shortcut only ever says 'no repeat' when the ids strictly increase."""

    def first_repeat(ids: list[str | None]):
        seen = scoring.SeenLesionIds("f.csv")
        seen.add(scoring.CellChunk(pd.DataFrame({"lesion_id": pd.Series(ids, dtype="string")}), 2))
        return seen.first_repeat()

    assert first_repeat(["a", None, "b", "c"]) is None
    assert first_repeat(["c", "a", "b"]) is None
    assert first_repeat(["a", "b", "b", "c"]).row == 4
    assert first_repeat(["b", "a", "c", "a"]).row == 5


@pytest.mark.parametrize(
    "corrupt", ["bad_birads", "repeated_id", "repeated_id_and_later_bad_cell", "repeated_id_and_bad_cell_same_row"]
)
def test_bad_cell_in_a_late_chunk_gives_read_lesions_message_and_writes_nothing(
    corrupt, tiny_chunks, small_fit_path, ddsm, tmp_path
):
    frame, path = _cases_csv(ddsm, tmp_path)
    if corrupt in ("bad_birads", "repeated_id_and_later_bad_cell"):
        frame.loc[110, "birads"] = "7"
    if corrupt == "repeated_id_and_bad_cell_same_row":  # read_lesions names the id (first column) first
        frame.loc[100, "birads"] = "7"
    if corrupt.startswith("repeated_id"):
        frame.loc[100, "lesion_id"] = frame.loc[3, "lesion_id"]
    frame.to_csv(path, index=False)
    with pytest.raises(LesionInputError) as whole:
        _quiet_read(path)
    out = tmp_path / "out" / "pred.csv"
    out.parent.mkdir()
    with pytest.raises(LesionInputError) as streamed:
        scoring.predict_file(small_fit_path, path, out)
    assert str(streamed.value) == str(whole.value)
    assert streamed.value.row == (102 if corrupt.startswith("repeated_id") else 112)
    assert list(out.parent.iterdir()) == []  # no output, no temporary file


def test_rows_the_chunk_reader_refuses_fall_back_to_read_lesions(tiny_chunks, small_fit_path, ddsm, tmp_path):
    """A short row (fewer cells than the header) is accepted by read_lesions; the result must match."""
    frame, path = _cases_csv(ddsm, tmp_path, n=60)
    lines = path.read_text().splitlines()
    cut = lines[50].rsplit(",", 3)[0]  # drop the last three (blank or extra) cells of row 51
    path.write_text("\n".join(lines[:50] + [cut] + lines[51:]) + "\n")
    expected = _quiet_read(path)
    assert expected.loc[49, "lesion_id"] == frame.loc[49, "lesion_id"]
    out = tmp_path / "pred.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert scoring.predict_file(small_fit_path, path, out) == 60
    got = _read_any(out)
    assert got["lesion_id"].tolist() == expected["lesion_id"].tolist()


def test_scorer_cache_is_keyed_by_model_inputs_only(small_fit, ddsm):
    """Same covariates under other ids and extra columns: looked up, not recomputed."""
    scorer = scoring.PatternScorer.from_fit(small_fit)
    first = scorer.score(ddsm.head(40))
    n = scorer.patterns_scored
    again = scorer.score(ddsm.head(40).assign(lesion_id=lambda f: "X" + f["lesion_id"], note="extra"))
    assert scorer.patterns_scored == n
    np.testing.assert_array_equal(first[SUMMARY].to_numpy(), again[SUMMARY].to_numpy())
    assert list(again.columns[-1:]) == ["note"]


def test_scoring_reads_the_fit_file_as_load_does(small_fit_path):
    """The light reader used for scoring gives exactly the parameters and tables of a full load."""
    from microcalc.modelling.fitfile import load_for_scoring
    from microcalc.modelling.fitting import load

    fit, saved = load(small_fit_path), load_for_scoring(small_fit_path)
    params = fit.params()
    assert saved.params.keys() == params.keys()
    for name, values in params.items():
        np.testing.assert_array_equal(saved.params[name], values)
    pd.testing.assert_frame_equal(saved.donors, fit.donors)
    assert saved.sites == fit.sites and saved.priors == fit.priors


def _bad_fit_file(kind: str, small_fit_path, tmp_path):
    import xarray as xr

    path = tmp_path / f"{kind}.nc"
    if kind == "not_hdf5":
        path.write_bytes(b"\x89HDF garbage")
    elif kind == "no_groups":
        xr.Dataset({"a": ("x", np.arange(3))}).to_netcdf(path, engine="h5netcdf")
    elif kind == "other_format_version":
        tree = xr.open_datatree(small_fit_path, engine="h5netcdf").load()
        tree["microcalc"].attrs["format_version"] = 999
        tree.to_netcdf(path, engine="h5netcdf")
    return path  # kind "missing": no file at all


@pytest.mark.parametrize("kind", ["missing", "not_hdf5", "no_groups", "other_format_version"])
def test_scoring_refuses_a_bad_fit_file_as_load_does(kind, small_fit_path, tmp_path):
    from microcalc.io.errors import FitFileError
    from microcalc.modelling.fitfile import load_for_scoring
    from microcalc.modelling.fitting import load

    path = _bad_fit_file(kind, small_fit_path, tmp_path)
    with pytest.raises(FitFileError) as full:
        load(path)
    with pytest.raises(FitFileError) as light:
        load_for_scoring(path)
    assert str(light.value) == str(full.value)


@pytest.fixture(scope="module")
def dask_client():
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("dask.distributed")
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_predict_dask_equals_in_memory(dask_client, small_fit, ddsm, reference):
    import dask.dataframe as dd

    from microcalc.batch.distributed import predict_dask

    ddf = dd.from_pandas(ddsm, npartitions=5)
    lazy = predict_dask(small_fit, ddf)
    assert list(lazy.columns) == list(reference.columns)
    got = lazy.compute()
    assert got.index.tolist() == ddsm.index.tolist()
    _assert_same_predictions(got, reference)


def test_predict_file_on_dask_equals_in_memory(
    dask_client, tiny_chunks, small_fit_path, bundled_path, reference, tmp_path
):
    from microcalc.batch.distributed import predict_file_dask

    out = tmp_path / "pred.parquet"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert predict_file_dask(small_fit_path, bundled_path, out, client=dask_client) == len(reference)
    _assert_same_predictions(_read_any(out), reference)


@pytest.mark.parametrize("argv", [["--help"], ["predict", "--help"]])
def test_help_starts_without_heavy_libraries(argv):
    code = (
        "import json, sys\n"
        f"sys.argv = ['microcalc', *{argv!r}]\n"
        "from microcalc.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ['pymc', 'pytensor', 'nutpie', 'numba', 'arviz_base', 'xarray', 'dask', 'pandas', 'pyarrow']\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "usage: microcalc" in proc.stdout
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []
