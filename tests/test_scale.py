"""Scale: the Polars route (file in memory or streamed) scores like in-memory scoring and like reading the file
whole; Parquet in/out; Dask; lazy start-up.

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


def _streamed(mp: pytest.MonkeyPatch) -> None:
    """The route of large files: a lazy scan (not read into memory), in morsels of 16 rows."""
    mp.setattr(csvblocks, "IN_MEMORY_BYTES", -1)
    mp.setenv("POLARS_IDEAL_MORSEL_SIZE", "16")


@pytest.fixture(params=["in memory", "streamed"])
def tiny_chunks(request, monkeypatch):
    """Each test twice: the file read into memory, and scanned by Polars' streaming engine in morsels of 16 rows
    (so the bundled 617 lesions cross many of them)."""
    if request.param == "streamed":
        _streamed(monkeypatch)


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


def test_scanned_csv_scoring_equals_in_memory_and_computes_each_pattern_once(
    tiny_chunks, small_fit_path, bundled_path, reference, ddsm, tmp_path, monkeypatch
):
    assert scoring.open_scan(bundled_path) is not None  # the Polars route, not read_lesions
    computed = []
    real = scoring.pattern_summaries
    monkeypatch.setattr(scoring, "pattern_summaries", lambda frame, *a: computed.append(len(frame)) or real(frame, *a))
    out = tmp_path / "pred.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert scoring.predict_file(small_fit_path, bundled_path, out) == len(ddsm)
    _assert_same_predictions(_read_any(out), reference)
    assert sum(computed) == len(pattern_codes(ddsm)[1])  # each distinct pattern once, for the whole file


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


def _whole_and_streamed(fit_path, cases, tmp_path, suffix: str = ".csv"):
    """Predict ``cases`` read whole by read_lesions, and by Polars in memory and streamed in small morsels (which
    must give the same file); the output paths of the whole file and the streamed one."""
    whole, in_memory, streamed = (tmp_path / f"{name}{suffix}" for name in ("whole", "in_memory", "streamed"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scoring, "open_scan", lambda *args: None)
        scoring.predict_file(fit_path, cases, whole)
    assert scoring.open_scan(cases).in_memory
    scoring.predict_file(fit_path, cases, in_memory)
    with pytest.MonkeyPatch.context() as mp:
        _streamed(mp)
        assert not scoring.open_scan(cases).in_memory
        scoring.predict_file(fit_path, cases, streamed)
    assert in_memory.read_bytes() == streamed.read_bytes()
    return whole, streamed


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_whole_file_route_gives_the_same_file(small_fit_path, ddsm, tmp_path, suffix):
    """Files the scan cannot take are read whole; the output must not depend on the route."""
    _, cases = _cases_csv(ddsm, tmp_path, n=200)
    whole, streamed = _whole_and_streamed(small_fit_path, cases, tmp_path, suffix)
    assert whole.read_bytes() == streamed.read_bytes()


def test_typed_parquet_streams_like_the_whole_file(small_fit_path, ddsm, tmp_path):
    """Parquet's typed columns (numbers, booleans, blanks) are validated and kept as read_lesions reads them."""
    cases = tmp_path / "typed.parquet"
    frame = ddsm.head(200).drop(columns=["malignant"]).copy()
    frame["score"] = np.arange(len(frame)) / 4  # a float extra, whole and not
    frame["flag"] = pd.array([True, None, False, True] * 50, dtype="boolean")
    frame.to_parquet(cases)
    whole, streamed = _whole_and_streamed(small_fit_path, cases, tmp_path)
    assert whole.read_bytes() == streamed.read_bytes()


def test_command_line_scans_like_the_whole_file(small_fit_path, ddsm, tmp_path, monkeypatch):
    """``microcalc predict`` (which calls csvblocks.start_opening first) gives the file read whole gives."""
    from microcalc.cli import main

    _, cases = _cases_csv(ddsm, tmp_path, n=200)
    whole = tmp_path / "whole.csv"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scoring, "open_scan", lambda *args: None)
        scoring.predict_file(small_fit_path, cases, whole)
    streamed = tmp_path / "streamed.csv"
    assert main(["-q", "predict", str(small_fit_path), str(cases), "--out", str(streamed)]) == 0
    assert streamed.read_bytes() == whole.read_bytes()


def test_early_opening_only_for_files(ddsm, tmp_path):
    _, cases = _cases_csv(ddsm, tmp_path, n=50)
    assert csvblocks.start_opening(tmp_path / "missing.csv") is None
    assert csvblocks.start_opening(cases) is not None


@pytest.mark.parametrize("quoted_newline", [False, True])
def test_messy_text_streams_like_the_whole_file(small_fit_path, ddsm, tmp_path, quoted_newline):
    """Padded cells, whitespace-only cells and unsorted ids (and, with quotes, a newline inside a value):
    the scanned route (Polars stripping, validation per pattern) must give the same file."""
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


def test_quoted_text_reads_back_as_written(tiny_chunks, small_fit_path, ddsm, tmp_path):
    """Text with commas, quotes and line breaks is quoted where needed (a header too); a CSV reader gets back the
    values."""
    frame, cases = _cases_csv(ddsm, tmp_path, n=9)
    text = ["plain", "words here", None, 'has "quote"', "a,b", "two\nlines", "B_1", "x", "y"]
    frame['note, "free"'] = pd.Series(text, dtype="string")
    frame.to_csv(cases, index=False)
    out = tmp_path / "pred.csv"
    scoring.predict_file(small_fit_path, cases, out)
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert back.columns[-1] == 'note, "free"' and back.iloc[:, -1].tolist() == [t or "" for t in text]


def test_streamed_file_warns_once_as_the_whole_file_does(tiny_chunks, small_fit_path, ddsm, tmp_path):
    """Notes from many blocks are merged: one warning, worded as read_lesions words it for the whole file."""
    frame, cases = _cases_csv(ddsm, tmp_path, n=200)
    frame.loc[[5, 40, 77, 120, 150, 170, 199], "age"] = "150"
    frame.to_csv(cases, index=False)
    assert scoring.open_scan(cases) is not None
    with pytest.warns(LesionWarning) as whole:
        read_lesions(cases)
    with pytest.warns(LesionWarning) as streamed:
        scoring.predict_file(small_fit_path, cases, tmp_path / "pred.csv")
    assert [str(w.message) for w in streamed] == [str(w.message) for w in whole]
    assert len(whole) == 1 and "row 7 (150)" in str(whole[0].message) and "and 2 more" in str(whole[0].message)


def _site_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if "column 'site'" in str(w.message)]


def test_lesions_at_a_site_the_fit_does_not_know_are_warned_about_once(
    tiny_chunks, small_fit, small_fit_path, ddsm, tmp_path
):
    """A recorded site that is not a training site is predicted as a new site: right for a new institution,
    silent about a typo ('b' for 'B'), so every route says so once, with the count; known sites say nothing."""
    frame, cases = _cases_csv(ddsm, tmp_path, n=200)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scoring.predict_file(small_fit_path, cases, tmp_path / "known.csv")
    assert _site_warnings(caught) == []
    frame.loc[[3, 50, 51], "site"] = ["b", "Z", "b"]
    frame.to_csv(cases, index=False)
    routes = {}
    with pytest.warns(LesionWarning) as caught:
        scoring.predict_file(small_fit_path, cases, tmp_path / "streamed.csv")
    routes["scan"] = _site_warnings(caught)
    with pytest.MonkeyPatch.context() as mp, pytest.warns(LesionWarning) as caught:
        mp.setattr(scoring, "open_scan", lambda *args: None)
        scoring.predict_file(small_fit_path, cases, tmp_path / "whole.csv")
    routes["whole"] = _site_warnings(caught)
    with pytest.warns(LesionWarning) as caught:
        small_fit.predict(read_lesions(cases))
    routes["Fit.predict"] = _site_warnings(caught)
    for route, messages in routes.items():
        assert len(messages) == 1, route
        assert "3 lesions at 'Z', 'b', not a training site" in messages[0] and "A, B, C, D" in messages[0], route
    assert routes["scan"] == routes["whole"]


@pytest.mark.parametrize(
    "ids, row",
    [
        (["a", "b", "c", "d"], None),
        (["c", "a", "b"], None),
        (["a", "b", "b", "c"], 4),
        (["b", "a", "c", "a"], 5),
        (["a", "b", "", "c"], 4),
    ],
)
def test_repeated_and_blank_ids_named_as_read_lesions_names_them(small_fit_path, tmp_path, ids, row):
    path = tmp_path / "ids.csv"
    path.write_text("lesion_id,age\n" + "".join(f"{i},50\n" for i in ids))
    if row is None:
        assert scoring.predict_file(small_fit_path, path, tmp_path / "pred.csv") == len(ids)
        return
    with pytest.raises(LesionInputError) as whole:
        _quiet_read(path)
    with pytest.raises(LesionInputError) as scanned:
        scoring.predict_file(small_fit_path, path, tmp_path / "pred.csv")
    assert str(scanned.value) == str(whole.value) and scanned.value.row == row


def test_blank_rows_are_skipped_and_counted_as_rows(small_fit_path, tmp_path):
    """Blank lines and rows of empty cells are no lesions, but messages count them as rows."""
    path = tmp_path / "blank.csv"
    path.write_text("lesion_id,age,birads\nL1,50,3\n\n , ,\nL2,60,3\n,,\nL3,70,7\n")
    with pytest.raises(LesionInputError) as whole:
        _quiet_read(path)
    with pytest.raises(LesionInputError) as scanned:
        scoring.predict_file(small_fit_path, path, tmp_path / "pred.csv")
    assert str(scanned.value) == str(whole.value) and scanned.value.row == 7
    path.write_text("lesion_id,age\nL1,50\n\n , \nL2,60\n")
    assert scoring.predict_file(small_fit_path, path, tmp_path / "pred.csv") == 2


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


def test_short_rows_read_as_read_lesions_reads_them(tiny_chunks, small_fit_path, ddsm, tmp_path):
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
