"""Bad input: each case raises one LesionInputError naming file, row, column, value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from microcalc.io.errors import LesionInputError, LesionWarning
from microcalc.io.readers import detect_format, read_lesions

DDSM_HEADER = "lesion_id,case_id,site,side,age,breast_density,calc_type,calc_distribution,assessment,pathology\n"


def _error(path: Path, **kwargs: object) -> LesionInputError:
    """The error read_lesions raises for path."""
    with pytest.raises(LesionInputError) as info:
        read_lesions(path, **kwargs)
    return info.value


def _says(err: LesionInputError, *parts: str) -> None:
    """Every part appears in the message."""
    message = str(err)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


# --- the file itself ---------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    err = _error(tmp_path / "nowhere.csv")
    _says(err, "nowhere.csv", "not found")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    _says(_error(tmp_path), str(tmp_path), "folder")


def test_empty_file(write_csv) -> None:
    err = _error(write_csv(b"", "empty.csv"))
    _says(err, "empty.csv", "empty")


def test_header_without_rows(write_csv) -> None:
    err = _error(write_csv("lesion_id,morphology\n\n", "header.csv"))
    _says(err, "header.csv", "no lesion rows")


def test_binary_garbage(write_csv) -> None:
    err = _error(write_csv(bytes(range(256)) * 4, "garbage.csv"))
    _says(err, "garbage.csv", "not a text file")


def test_not_utf8(write_csv) -> None:
    err = _error(write_csv("lesion_id,site\nL1,Malmö\n".encode("latin-1"), "latin.csv"))
    _says(err, "latin.csv", "not UTF-8", "line 2")


def test_excel_workbook(write_csv) -> None:
    err = _error(write_csv(b"PK\x03\x04" + b"\x14" * 50, "book.xlsx"))
    _says(err, "book.xlsx", "Excel", "CSV")


def test_corrupt_parquet(write_csv) -> None:
    _says(_error(write_csv(b"not parquet at all", "bad.parquet")), "bad.parquet", "Parquet")


def test_unrecognised_format(write_csv) -> None:
    err = _error(write_csv("id,shape\n1,round\n", "odd.csv"))
    assert err.row == 1
    _says(
        err,
        "odd.csv",
        "id, shape",
        "canonical",
        "'lesion_id'",
        "DDSM",
        "calc_type",
        "calc_distribution",
        "CBIS-DDSM",
        "'abnormality id'",
        "'calc type'",
        "'image view'",
    )


def test_long_values_are_cut_in_messages(write_csv) -> None:
    err = _error(write_csv("lesion_id,morphology\nL1," + "x" * 5_000_000 + "\n"))
    text = str(err)
    assert len(text) < 600 and "5,000,00" in text and "\n" not in text


def test_detect_format_refuses_unknown_header() -> None:
    with pytest.raises(LesionInputError, match="cannot tell the format"):
        detect_format(["a", "b"])


def test_duplicate_header_column(write_csv) -> None:
    err = _error(write_csv("lesion_id,age,age\nL1,50,51\n", "dup.csv"))
    assert (err.row, err.column) == (1, "age")
    _says(err, "dup.csv", "twice")


def test_ragged_row(write_csv) -> None:
    err = _error(write_csv("lesion_id,morphology\nL1,round\nL2,round,extra\nL3,rim\n", "ragged.csv"))
    assert err.row == 3
    _says(err, "ragged.csv", "row 3", "3 cells", "header has 2")


def test_ragged_first_row_is_not_silently_dropped(write_csv) -> None:
    err = _error(write_csv("lesion_id,morphology\nL1,round,extra\nL2,rim\n", "ragged1.csv"))
    assert err.row == 2
    _says(err, "ragged1.csv", "row 2")


def test_ragged_row_counts_records_not_lines(write_csv) -> None:
    text = 'lesion_id,note\nL1,"two\nlines"\nL2,ok,extra\n'
    assert _error(write_csv(text)).row == 3


def test_unclosed_quote(write_csv) -> None:
    err = _error(write_csv('lesion_id,note\nL1,ok\nL2,"open\nL3,x\n', "quote.csv"))
    assert err.row == 3
    _says(err, "quote.csv", "row 3", "not closed")


def test_unnamed_column_with_values(write_csv) -> None:
    err = _error(write_csv("lesion_id,,age\nL1,x,50\n", "unnamed.csv"))
    assert err.row == 1
    _says(err, "unnamed.csv", "no name", "'x'")


def test_cbis_with_own_lesion_id_column(cbis_path: Path, write_csv) -> None:
    text = cbis_path.read_text(encoding="utf-8").replace("patient_id,", "lesion_id,patient_id,", 1)
    _says(_error(write_csv(text, "cbis.csv")), "cbis.csv", "'lesion_id'", "CBIS-DDSM")


# --- cells -------------------------------------------------------------------------------------


def test_unknown_morphology_word(write_csv) -> None:
    err = _error(write_csv("lesion_id,morphology\nL1,amorphous\nL2,amorphous|starry\n", "morph.csv"))
    assert (err.row, err.column, err.value) == (3, "morphology", "amorphous|starry")
    _says(
        err,
        "morph.csv",
        "row 3",
        "column 'morphology'",
        "'starry'",
        "amorphous|starry",
        "allowed: ",
        "fine_pleomorphic",
        "fine_linear",
        "'|'",
    )


def test_coarse_alone_is_ambiguous_in_canonical_files(write_csv) -> None:
    _says(_error(write_csv("lesion_id,morphology\nL1,coarse\n")), "'coarse'", "coarse_popcorn", "coarse_heterogeneous")


def test_unknown_distribution_word(write_csv) -> None:
    err = _error(write_csv("lesion_id,distribution\nL1,scattered-ish\n", "dist.csv"))
    _says(err, "dist.csv", "row 2", "column 'distribution'", "scattered-ish", "grouped", "segmental")


def test_unknown_ddsm_calc_type(write_csv) -> None:
    text = DDSM_HEADER + "A_1.LEFT.1,A_1,A,LEFT,50,2,PLEOMORPHIC-SPARKLY,CLUSTERED,4,MALIGNANT\n"
    err = _error(write_csv(text, "ddsm.csv"))
    assert err.column == "calc_type"
    _says(err, "ddsm.csv", "row 2", "column 'calc_type'", "'SPARKLY'", "PLEOMORPHIC", "FINE_LINEAR_BRANCHING", "'-'")


def test_unknown_cbis_calc_type_names_first_view_row(cbis_path: Path, write_csv) -> None:
    text = cbis_path.read_text(encoding="utf-8").replace("PLEOMORPHIC,LINEAR", "GLITTER,LINEAR", 1)
    err = _error(write_csv(text, "cbis.csv"))
    assert (err.row, err.column) == (4, "calc type")  # P_00007 LEFT CC is the 3rd record
    _says(err, "cbis.csv", "'GLITTER'", "PLEOMORPHIC")


def test_cbis_blank_patient(cbis_path: Path, write_csv) -> None:
    text = cbis_path.read_text(encoding="utf-8").replace("\nP_00007,", "\n,", 1)
    err = _error(write_csv(text, "cbis.csv"))
    assert (err.row, err.column) == (4, "patient_id")


@pytest.mark.parametrize("birads", ["7", "4D", "high"])
def test_unknown_birads(write_csv, birads: str) -> None:
    err = _error(write_csv(f"lesion_id,birads\nL1,4\nL2,{birads}\n", "birads.csv"))
    _says(err, "birads.csv", "row 3", "column 'birads'", repr(birads), "0, 1, 2, 3, 4, 4A, 4B, 4C, 5")


def test_birads_6_refused_with_reason(write_csv) -> None:
    err = _error(write_csv("lesion_id,birads\nL1,6\n", "b6.csv"))
    _says(err, "b6.csv", "row 2", "column 'birads'", "'6'", "already proven", "allowed: ")


def test_ddsm_assessment_6_names_ddsm_column(write_csv) -> None:
    err = _error(write_csv(DDSM_HEADER + "A_1.LEFT.1,A_1,A,LEFT,50,2,PLEOMORPHIC,CLUSTERED,6,MALIGNANT\n"))
    assert err.column == "assessment"


def test_non_numeric_age(write_csv) -> None:
    err = _error(write_csv("lesion_id,age\nL1,50\nL2,fifty\n", "age.csv"))
    assert (err.row, err.column, err.value) == (3, "age", "fifty")
    _says(err, "age.csv", "row 3", "column 'age'", "'fifty'", "18 to 110")


def test_impossible_age_warns_and_becomes_blank(write_csv) -> None:
    with pytest.warns(LesionWarning, match=r"ages\.csv.*row 3") as record:
        frame = read_lesions(write_csv("lesion_id,age\nL1,50\nL2,250\n", "ages.csv"))
    assert "250" in str(record[0].message)
    assert frame["age"].isna().tolist() == [False, True]


@pytest.mark.parametrize("count", ["0", "2.5", "many", "-3"])
def test_bad_calc_count(write_csv, count: str) -> None:
    err = _error(write_csv(f"lesion_id,calc_count\nL1,{count}\n", "count.csv"))
    _says(err, "count.csv", "row 2", "column 'calc_count'", repr(count), "whole number")


def test_bad_yes_no(write_csv) -> None:
    err = _error(write_csv("lesion_id,brca\nL1,maybe\n", "yn.csv"))
    _says(err, "yn.csv", "row 2", "column 'brca'", "'maybe'", "yes, no, true, false, 1, 0")


@pytest.mark.parametrize(
    ("column", "value", "allowed"),
    [
        ("breast_density", "e", "a, b, c, d (or 1, 2, 3, 4)"),
        ("breast_density", "0", "a, b, c, d"),
        ("change", "worse", "new, increasing, stable, decreasing"),
        ("cluster_density", "medium", "low, high"),
        ("size_variability", "odd", "uniform, variable"),
    ],
)
def test_bad_single_word(write_csv, column: str, value: str, allowed: str) -> None:
    err = _error(write_csv(f"lesion_id,{column}\nL1,{value}\n", "words.csv"))
    _says(err, "words.csv", "row 2", f"column '{column}'", repr(value), allowed)


def test_unknown_outcome(write_csv) -> None:
    err = _error(write_csv("lesion_id,malignant\nL1,1\nL2,suspicious\n", "outcome.csv"))
    _says(err, "outcome.csv", "row 3", "column 'malignant'", "'suspicious'", "MALIGNANT", "BENIGN_WITHOUT_CALLBACK")


def test_unknown_ddsm_pathology(write_csv) -> None:
    err = _error(write_csv(DDSM_HEADER + "A_1.LEFT.1,A_1,A,LEFT,50,2,PLEOMORPHIC,CLUSTERED,4,UNPROVEN\n"))
    _says(err, "row 2", "column 'pathology'", "'UNPROVEN'", "MALIGNANT")


def test_duplicate_lesion_id_names_both_rows(write_csv) -> None:
    err = _error(write_csv("lesion_id,age\nL1,50\nL2,60\nL1,70\n", "dup.csv"))
    assert (err.row, err.column, err.value) == (4, "lesion_id", "L1")
    _says(err, "dup.csv", "rows 2 and 4", "'L1'")


def test_blank_lesion_id(write_csv) -> None:
    err = _error(write_csv("lesion_id,age\nL1,50\n,60\n", "blank.csv"))
    assert (err.row, err.column) == (3, "lesion_id")


def test_column_clash(write_csv) -> None:
    row = "A_1.LEFT.1,A_1,A,LEFT,50,2,PLEOMORPHIC,CLUSTERED,4,BENIGN,4\n"
    err = _error(write_csv(DDSM_HEADER.strip() + ",birads\n" + row))
    _says(err, "'assessment'", "'birads'")


def test_first_bad_cell_by_row(write_csv) -> None:
    err = _error(write_csv("lesion_id,age,morphology\nL1,50,round\nL2,60,bogus\nL3,old,rim\n"))
    assert (err.row, err.column) == (3, "morphology")


# --- outcome needed for fitting ----------------------------------------------------------------


def test_require_outcome_without_column(write_csv) -> None:
    err = _error(write_csv("lesion_id,age\nL1,50\n", "noout.csv"), require_outcome=True)
    _says(err, "noout.csv", "fitting needs an outcome", "malignant", "pathology")


def test_require_outcome_with_blank_cell(write_csv) -> None:
    err = _error(write_csv("lesion_id,malignant\nL1,1\nL2,\n", "blankout.csv"), require_outcome=True)
    assert (err.row, err.column) == (3, "malignant")
    _says(err, "blankout.csv", "row 3", "fitting needs an outcome", "MALIGNANT")


def test_blank_outcome_allowed_without_require(write_csv) -> None:
    frame = read_lesions(write_csv("lesion_id,malignant\nL1,1\nL2,\n"))
    assert frame["malignant"].isna().tolist() == [False, True]


def test_bundled_file_has_outcomes(bundled_path: Path) -> None:
    with pytest.warns(LesionWarning):
        frame = read_lesions(bundled_path, require_outcome=True)
    assert frame["malignant"].notna().all()
