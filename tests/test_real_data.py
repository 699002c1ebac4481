"""Real data: files without sites, CBIS-DDSM, combined sources, forgiving headers (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microcalc.cli import main
from microcalc.io.errors import LesionInputError
from microcalc.io.sources import read_training

TINY = ["--draws", "30", "--tune", "30", "--chains", "1", "--seed", "3", "--allow-unconverged"]
THREE = "lesion_id,morphology,birads,malignant\nL1,fine_pleomorphic,4,1\nL2,round,2,0\nL3,amorphous,4,0\n"


def test_fit_and_predict_a_file_without_sites(tmp_path: Path, capsys) -> None:
    data = tmp_path / "three.csv"
    data.write_text(THREE)
    fit = tmp_path / "fit.nc"
    assert main(["-q", "fit", str(data), "--out", str(fit), *TINY]) == 0
    from microcalc import load

    loaded = load(fit)
    assert loaded.sites == ("training",) and loaded.notes()
    out = tmp_path / "pred.csv"
    assert main(["-q", "predict", str(fit), str(data), "--out", str(out), "--site", "training"]) == 0
    pred = pd.read_csv(out)
    assert list(pred["lesion_id"]) == ["L1", "L2", "L3"] and (pred["site"] == "training").all()


def test_blank_optional_columns_only(tmp_path: Path) -> None:
    data = tmp_path / "blank.csv"
    data.write_text("lesion_id,morphology,distribution,age,brca,malignant\nA,,,,,1\nB,,,,,0\nC,,,,,0\n")
    assert main(["fit", str(data), "--out", str(tmp_path / "f.nc"), *TINY]) == 0
    assert main(["-q", "predict", str(tmp_path / "f.nc"), str(data), "--out", str(tmp_path / "p.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == 3


def test_two_files_are_two_sites(tmp_path: Path, bundled_path: Path) -> None:
    mine = tmp_path / "my_institution.csv"
    mine.write_text(THREE)
    frame = read_training([mine], with_bundled=True)
    assert set(frame["site"]) == {"A", "B", "C", "D", "my_institution"}
    assert frame["lesion_id"].str.startswith("my_institution/").sum() == 3
    named = read_training([mine, bundled_path], site="Leeds")
    assert (named["site"] == "Leeds").sum() == 3


def test_cbis_with_ddsm_is_refused(tmp_path: Path, cbis_path: Path, capsys) -> None:
    with pytest.raises(LesionInputError, match="curated subset of DDSM"):
        read_training([cbis_path], with_bundled=True)
    assert main(["fit", str(cbis_path), "--with-bundled", "--out", str(tmp_path / "f.nc")]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("microcalc: error")]
    assert len(errors) == 1 and "--allow-overlap" in errors[0] and "Traceback" not in err
    assert not (tmp_path / "f.nc").exists()


def test_cbis_fixture_fits_predicts_and_evaluates_with_site(tmp_path: Path, cbis_path: Path) -> None:
    fit = tmp_path / "cbis.nc"
    assert main(["fit", str(cbis_path), "--site", "CBIS-DDSM", "--out", str(fit), *TINY]) == 0
    out = tmp_path / "pred.csv"
    assert main(["-q", "predict", str(fit), str(cbis_path), "--out", str(out), "--site", "CBIS-DDSM"]) == 0
    pred = pd.read_csv(out)
    assert pred["lesion_id"].str.fullmatch(r"P_\d+\.(LEFT|RIGHT)\.\d").all()
    assert {"subtlety", "abnormality type", "image file path", "views"} <= set(pred.columns)
    assert main(["-q", "evaluate", str(fit), str(cbis_path), "--out", str(tmp_path / "ev"), "--site", "CBIS-DDSM"]) == 0
    assert (tmp_path / "ev" / "metrics.json").exists()


DAMAGE = st.sampled_from(["starry", "4D", "-3", "fifty", "x" * 5000, "maybe", '"'])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    column=st.sampled_from(["morphology", "birads", "calc_count", "age", "malignant"]),
    value=DAMAGE,
    row=st.integers(min_value=0, max_value=2),
)
def test_damaged_files_exit_2_one_line_nothing_written(
    small_fit_path, tmp_path_factory, capsys, column, value, row
) -> None:
    folder = tmp_path_factory.mktemp("damaged")
    cells = [
        {
            "lesion_id": f"L{i}",
            "morphology": "amorphous",
            "birads": "4",
            "calc_count": "6",
            "age": "55",
            "malignant": "1",
        }
        for i in range(3)
    ]
    cells[row][column] = value
    if value == '"':
        text = ",".join(cells[0]) + "\n" + "\n".join(",".join(c.values()) for c in cells) + "\n"
    else:
        text = pd.DataFrame(cells).to_csv(index=False)
    if column in ("age",) and value == "-3":
        return  # an impossible age is a warning (treated as not recorded), not an error
    data = folder / "lesions.csv"
    data.write_text(text)
    out = folder / "out"
    out.mkdir()
    status = main(["predict", str(small_fit_path), str(data), "--out", str(out / "p.csv")])
    err = capsys.readouterr().err
    assert status == 2 and "lesions.csv" in err
    assert len(err.strip().splitlines()) == 1 and len(err) < 700 and "Traceback" not in err
    assert list(out.iterdir()) == []


def test_cbis_views_that_disagree_keep_the_most_severe_value(tmp_path: Path, cbis_path: Path) -> None:
    """CC says BI-RADS 2 and benign, MLO says 4 and malignant: the lesion is BI-RADS 4 and malignant, with a note."""
    import warnings

    from microcalc.io.errors import LesionWarning
    from microcalc.io.readers import read_lesions

    table = pd.read_csv(cbis_path, dtype=str, keep_default_na=False)
    lesion = table.iloc[0]
    views = table[
        (table["patient_id"] == lesion["patient_id"])
        & (table["left or right breast"] == lesion["left or right breast"])
        & (table["abnormality id"] == lesion["abnormality id"])
    ].index
    assert len(views) == 2  # the fixture's first lesion has a CC and an MLO row
    table.loc[views[0], ["assessment", "pathology"]] = ["2", "BENIGN"]
    table.loc[views[1], ["assessment", "pathology"]] = ["4", "MALIGNANT"]
    path = tmp_path / "cbis.csv"
    table.to_csv(path, index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LesionWarning)
        frame = read_lesions(path)
    first = frame.iloc[0]
    assert (first["birads"], int(first["malignant"])) == ("4", 1)
    texts = [str(w.message) for w in caught]
    assert any("'assessment'" in t and "most severe" in t and "row 2 (2/4)" in t for t in texts), texts
    assert any("'pathology'" in t and "most severe" in t for t in texts), texts
