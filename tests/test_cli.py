"""The command line: bad input exits 2 with one message and writes nothing; the verbs work end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from microcalc.cli import main

HEADER = "lesion_id,morphology,distribution,birads,age,malignant\n"
BAD_INPUTS = {
    "empty": (b"", "empty"),
    "header_only": (HEADER.encode(), "no lesion rows"),
    "binary": (b"\x00\x01\x02\xff\xfe" * 50, "lesions.csv"),
    "unknown_format": (b"foo,bar\n1,2\n", "lesion_id"),
    "unknown_morphology": ((HEADER + "L1,starry,grouped,4,50,1\n").encode(), "starry"),
    "unknown_distribution": ((HEADER + "L1,amorphous,cloudy,4,50,1\n").encode(), "cloudy"),
    "unknown_birads": ((HEADER + "L1,amorphous,grouped,7,50,1\n").encode(), "'7'"),
    "non_numeric_age": ((HEADER + "L1,amorphous,grouped,4,fifty,1\n").encode(), "fifty"),
    "unknown_outcome": ((HEADER + "L1,amorphous,grouped,4,50,maybe\n").encode(), "maybe"),
    "duplicate_id": ((HEADER + "L1,amorphous,grouped,4,50,1\nL1,rim,grouped,2,60,0\n").encode(), "L1"),
    "ragged": ((HEADER + "L1,amorphous,grouped,4,50,1,extra\n").encode(), "row 2"),
}


def _files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_cases_file_exits_2_and_writes_nothing(name, small_fit_path, tmp_path, capsys):
    content, expected = BAD_INPUTS[name]
    cases = tmp_path / "lesions.csv"
    cases.write_bytes(content)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    status = main(["predict", str(small_fit_path), str(cases), "--out", str(out_dir / "pred.csv")])
    err = capsys.readouterr().err
    assert status == 2
    assert "lesions.csv" in err and expected in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert _files_in(out_dir) == []


def test_fit_without_outcome_exits_2_before_sampling(tmp_path, capsys):
    data = tmp_path / "lesions.csv"
    data.write_text("lesion_id,morphology,birads\nL1,amorphous,4\nL2,rim,2\n")
    out = tmp_path / "fit.nc"
    assert main(["fit", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "lesions.csv" in err and "malignant" in err
    assert not out.exists() and _files_in(tmp_path) == ["lesions.csv"]


@pytest.mark.parametrize("content", [None, b"", b"not a netCDF file at all"])
def test_missing_or_corrupt_fit_file_exits_2(content, tmp_path, capsys, cbis_path):
    fit_path = tmp_path / "fit.nc"
    if content is not None:
        fit_path.write_bytes(content)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(fit_path), str(cbis_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "fit.nc" in err and "Traceback" not in err
    assert not out.exists()


def test_process_exit_status_and_single_line(tmp_path, small_fit_path):
    """Through a real process: status 2, one line on stderr, no traceback."""
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "L1,amorphous,grouped,6,50,1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "microcalc", "predict", str(small_fit_path), str(bad), "--out", str(tmp_path / "p.csv")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "bad.csv" in proc.stderr and "row 2" in proc.stderr and "birads" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "p.csv").exists()


def test_process_predict_exits_at_once_with_its_output_complete(tmp_path, small_fit_path, cbis_path):
    """The console script skips interpreter teardown after a prediction: status, message and file must be whole."""
    out = tmp_path / "p.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "microcalc", "predict", str(small_fit_path), str(cbis_path), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "21 predictions written" in proc.stdout
    assert len(pd.read_csv(out)) == 21


def test_predict_cbis_file_end_to_end(small_fit_path, cbis_path, tmp_path):
    out = tmp_path / "pred.csv"
    assert main(["-q", "predict", str(small_fit_path), str(cbis_path), "--out", str(out), "--ci", "0.9"]) == 0
    pred = pd.read_csv(out)
    assert list(pred.columns[:5]) == ["lesion_id", "p_malignant", "ci_lower", "ci_upper", "p_above_2pct"]
    assert len(pred) == 21  # CC and MLO rows merged into lesions
    assert (pred["ci_lower"] <= pred["p_malignant"]).all() and (pred["p_malignant"] <= pred["ci_upper"]).all()


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and "microcalc" in capsys.readouterr().out
    assert main([]) == 0
    out = capsys.readouterr().out
    for verb in ("fit", "predict", "report", "sensitivity", "evaluate", "crossval", "demo"):
        assert verb in out


def test_missing_cases_file_exits_2(small_fit_path, tmp_path, capsys):
    out = tmp_path / "pred.csv"
    assert main(["predict", str(small_fit_path), str(tmp_path / "absent.csv"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "absent.csv" in err and "Traceback" not in err
    assert not out.exists()
