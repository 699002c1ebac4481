"""Atomic writes: the file appears whole or not at all, with the permissions of any new file."""

from __future__ import annotations

import os

import pytest

from microcalc.io.atomic import atomic_path, write_text_atomic


def test_written_file_has_usual_permissions_and_umask_is_untouched(tmp_path):
    old = os.umask(0o027)
    try:
        path = write_text_atomic(tmp_path / "a.txt", "hello")
        assert os.umask(0o027) == 0o027  # nothing changed it meanwhile
    finally:
        os.umask(old)
    assert path.read_text() == "hello"
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_failure_leaves_neither_target_nor_temporary(tmp_path):
    (tmp_path / "keep.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "keep.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError("stop")
    assert (tmp_path / "keep.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
