"""The Arrow block reader: the first block is small in a quote-free file, and the blocks hold every row."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from microcalc.io import csvblocks


def _rows(blocks: csvblocks.CsvBlocks) -> pd.DataFrame:
    batches = list(blocks.batches)
    return pa.Table.from_batches(batches).to_pandas() if batches else pd.DataFrame(columns=blocks.names)


@pytest.fixture
def small_first_block(monkeypatch):
    monkeypatch.setattr(csvblocks, "FIRST_BLOCK_BYTES", 200)


def _write(tmp_path, text: str):
    path = tmp_path / "cases.csv"
    path.write_bytes(text.encode())
    return path


@pytest.mark.parametrize("quoted", [False, True])
def test_blocks_hold_every_row_and_the_first_is_small_without_quotes(small_first_block, tmp_path, quoted):
    lines = [f"L{i},{'"x, y"' if quoted and i == 50 else 'x'},{i % 90}" for i in range(2000)]
    path = _write(tmp_path, "lesion_id,note,age\n" + "\n".join(lines) + "\n")
    blocks = csvblocks.open_csv_blocks(path, 4096)
    sizes = [batch.num_rows for batch in csvblocks.open_csv_blocks(path, 4096).batches]
    assert blocks.names == ["lesion_id", "note", "age"]
    expected = pd.read_csv(path, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(_rows(blocks), expected, check_dtype=False)
    assert len(sizes) > 2
    assert (sizes[0] < sizes[1]) == (not quoted)  # a first block of 200 bytes only when no quotes


@pytest.mark.parametrize(
    "text, rows",
    [
        ("lesion_id,age\n", 0),
        ("lesion_id,age\nL1,50\n", 1),
        ("lesion_id,age\nL1,50", 1),
        ("lesion_id,age\n" + "L1," + "5" * 300 + "\n", 1),
    ],
)
def test_short_files(small_first_block, tmp_path, text, rows):
    """A header alone, one short record (with or without a final line break), a record longer than the first block."""
    assert len(_rows(csvblocks.open_csv_blocks(_write(tmp_path, text), 4096))) == rows


def test_ragged_first_block_is_refused(small_first_block, tmp_path):
    with pytest.raises(csvblocks.StreamUnsupported):
        list(csvblocks.open_csv_blocks(_write(tmp_path, "lesion_id,age\nL1,50,extra\nL2,60\n"), 4096).batches)


def test_bom_and_crlf_line_ends(small_first_block, tmp_path):
    """A UTF-8 byte-order mark and Windows line ends: same names and cells as pandas reads, across the small first block."""
    rows = "".join(f"L{i},{40 + i % 50}\r\n" for i in range(300))
    path = tmp_path / "cases.csv"
    path.write_bytes(("\ufefflesion_id,age\r\n" + rows).encode("utf-8"))
    blocks = csvblocks.open_csv_blocks(path, 4096)
    assert blocks.names == ["lesion_id", "age"]
    got = _rows(blocks)
    assert list(got.columns) == ["lesion_id", "age"]
    expected = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
