"""The header reader and the Polars scan of a CSV file: every row, as pandas reads the cells, whatever the line ends."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

from microcalc.batch import scoring
from microcalc.io import csvblocks


@pytest.fixture(autouse=True, params=["in memory", "scanned"])
def in_memory(request, monkeypatch) -> bool:
    """Each test twice: the file read into memory, and scanned lazily (as a file over IN_MEMORY_BYTES is)."""
    if request.param == "scanned":
        monkeypatch.setattr(csvblocks, "IN_MEMORY_BYTES", -1)
    return request.param == "in memory"


def _write(tmp_path, text: str, name: str = "cases.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def _scanned(path) -> pd.DataFrame:
    """The scan's cells as text (stripped, blank = empty string), without the row column."""
    scan = scoring.open_scan(path)
    cells = scan.rows.select([csvblocks.cell_text(n, t) for n, t in scan.types.items()]).collect()
    return cells.fill_null("").to_pandas()


def _pandas(path, **kw) -> pd.DataFrame:
    cells = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True, **kw)
    return cells.apply(lambda c: c.str.strip())


@pytest.mark.parametrize("quoted", [False, True])
def test_scan_holds_every_row(tmp_path, quoted):
    lines = [f"L{i},{'"x, y"' if quoted and i == 50 else ' x '},{i % 90}" for i in range(2000)]
    path = _write(tmp_path, "lesion_id,note,age\n" + "\n".join(lines) + "\n")
    assert csvblocks.file_header(path) == (["lesion_id", "note", "age"], ",")
    pd.testing.assert_frame_equal(_scanned(path), _pandas(path), check_dtype=False)


@pytest.mark.parametrize(
    "text, rows",
    [("lesion_id,age\nL1,50\n", 1), ("lesion_id,age\nL1,50", 1), ("lesion_id,age\n" + "L1," + "5" * 300 + "\n", 1)],
)
def test_short_files(tmp_path, text, rows):
    """One short record (with or without a final line break), a long one."""
    assert len(_scanned(_write(tmp_path, text))) == rows


def test_ragged_row_is_left_to_read_lesions(tmp_path, in_memory):
    """Read into memory: no scan; scanned lazily (a large file): the error comes when the rows are read."""
    scan = scoring.open_scan(_write(tmp_path, "lesion_id,age\nL1,50,extra\nL2,60\n"))
    if in_memory:
        assert scan is None
    else:
        with pytest.raises(pl.exceptions.ComputeError):
            scan.rows.collect()


def test_bom_and_crlf_line_ends_and_separators(tmp_path):
    """A UTF-8 byte-order mark, Windows line ends, a ';' separator: same names and cells as pandas reads."""
    rows = "".join(f"L{i};{40 + i % 50}\r\n" for i in range(300))
    path = _write(tmp_path, "\ufefflesion_id;age\r\n" + rows)
    assert csvblocks.file_header(path) == (["lesion_id", "age"], ";")
    got = _scanned(path)
    assert list(got.columns) == ["lesion_id", "age"]
    pd.testing.assert_frame_equal(got, _pandas(path, sep=";", encoding="utf-8-sig"), check_dtype=False)


def test_files_the_scan_leaves_to_read_lesions(tmp_path, ddsm):
    """Duplicate or unnamed columns, binary data, CBIS-DDSM, an unknown header: read whole (exact messages)."""
    for text in ["lesion_id,age,age\nL1,1,2\n", "lesion_id,,age\nL1,0,2\n", "a,b\n1,2\n"]:
        assert scoring.open_scan(_write(tmp_path, text)) is None
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"lesion_id\x00,age\n")
    assert scoring.open_scan(binary) is None
    assert scoring.open_scan(tmp_path / "missing.csv") is None
    parquet = tmp_path / "cases.parquet"
    ddsm.to_parquet(parquet)
    assert csvblocks.is_parquet(parquet) and scoring.open_scan(parquet) is not None
