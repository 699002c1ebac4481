"""Reading the three input formats into the canonical frame (fast; no PyMC)."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import pandas as pd
import pytest

from microcalc.io import lexicon, schema
from microcalc.io.errors import LesionInputError, LesionWarning
from microcalc.io.readers import bundled_data_path, csv_header, detect_format, read_lesions, validate_cells


def _read_quietly(path: Path, **kwargs: object) -> pd.DataFrame:
    """read_lesions without failing on the expected age warning of the bundled file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LesionWarning)
        return read_lesions(path, **kwargs)


@pytest.fixture(scope="module")
def bundled(bundled_path: Path) -> pd.DataFrame:
    return _read_quietly(bundled_path)


@pytest.fixture(scope="module")
def cbis(cbis_path: Path) -> pd.DataFrame:
    return read_lesions(cbis_path)


# --- bundled DDSM ------------------------------------------------------------------------------


def test_bundled_path_exists() -> None:
    path = bundled_data_path()
    assert path.is_file() and path.name == "ddsm_calcifications.csv"


def test_bundled_counts(bundled: pd.DataFrame) -> None:
    assert len(bundled) == 617
    assert bundled["lesion_id"].is_unique
    assert int(bundled["malignant"].sum()) == 226
    assert bundled["malignant"].notna().all()
    assert bundled["birads"].value_counts().to_dict() == {"4": 390, "2": 113, "5": 54, "3": 39, "0": 21}


def test_bundled_columns_and_dtypes(bundled: pd.DataFrame) -> None:
    assert tuple(bundled.columns[: len(schema.COLUMNS)]) == schema.COLUMNS
    assert list(bundled.columns[len(schema.COLUMNS) :]) == ["side", "views", "subtlety", "study_year", "scanner"]
    for column, dtype in schema.DTYPES.items():
        assert str(bundled[column].dtype) == dtype, column
    assert bundled.attrs["format"] == "ddsm"


def test_bundled_blanks(bundled: pd.DataFrame) -> None:
    assert bundled["morphology"].isna().sum() == 5
    assert bundled["distribution"].isna().sum() == 94
    assert bundled["breast_density"].isna().sum() == 1  # DDSM density 0 = not recorded
    assert bundled["age"].isna().sum() == 1  # the age of 1
    assert bundled["age"].min() >= schema.AGE_RANGE[0]
    assert bundled["patient_id"].notna().all() and bundled["site"].isin(["A", "B", "C", "D"]).all()
    for column in ("cluster_density", "calc_count", "change", *schema.YES_NO_COLUMNS):
        assert bundled[column].isna().all()


def test_bundled_age_warning_names_file_and_row(bundled_path: Path) -> None:
    with pytest.warns(LesionWarning) as record:
        read_lesions(bundled_path)
    message = str(record[0].message)
    assert "ddsm_calcifications.csv" in message and "row 205" in message and "age" in message


def test_bundled_vocabulary(bundled: pd.DataFrame) -> None:
    for column in schema.MULTI_VALUED:
        words = bundled[column].dropna().str.split(schema.MULTI_SEPARATOR).explode()
        assert set(words) <= set(schema.VOCABULARY[column])
    assert set(bundled["breast_density"].dropna()) == set(schema.BREAST_DENSITY)


@pytest.mark.parametrize(
    ("calc_type", "expected"),
    [
        ("PLEOMORPHIC", "fine_pleomorphic"),
        ("FINE_LINEAR_BRANCHING", "fine_linear"),
        ("LUCENT_CENTERED", "rim"),
        ("EGGSHELL", "rim"),
        ("COARSE", "coarse_popcorn"),
        ("ROUND_AND_REGULAR-LUCENT_CENTER", "round|rim"),
        ("PLEOMORPHIC-PLEOMORPHIC", "fine_pleomorphic"),
        ("PUNCTATE-AMORPHOUS-PLEOMORPHIC", "punctate|amorphous|fine_pleomorphic"),
        ("VASCULAR-COARSE-LUCENT_CENTER-ROUND_AND_REGULAR-PUNCTATE", "vascular|coarse_popcorn|round|rim|punctate"),
        ("MILK_OF_CALCIUM", "milk_of_calcium"),
    ],
)
def test_morphology_mapping(bundled: pd.DataFrame, bundled_path: Path, calc_type: str, expected: str) -> None:
    raw = pd.read_csv(bundled_path, dtype=str, keep_default_na=False)
    ids = raw.loc[raw["calc_type"] == calc_type, "lesion_id"]
    assert len(ids) > 0
    assert set(bundled.set_index("lesion_id").loc[ids, "morphology"]) == {expected}


@pytest.mark.parametrize(
    ("calc_distribution", "expected"),
    [
        ("CLUSTERED", "grouped"),
        ("DIFFUSELY_SCATTERED", "diffuse"),
        ("CLUSTERED-LINEAR", "grouped|linear"),
        ("REGIONAL-REGIONAL", "regional"),
    ],
)
def test_distribution_mapping(bundled: pd.DataFrame, bundled_path: Path, calc_distribution: str, expected: str) -> None:
    raw = pd.read_csv(bundled_path, dtype=str, keep_default_na=False)
    ids = raw.loc[raw["calc_distribution"] == calc_distribution, "lesion_id"]
    assert set(bundled.set_index("lesion_id").loc[ids, "distribution"]) == {expected}


def test_lexicon_targets_are_schema_words() -> None:
    for column, table in (("morphology", lexicon.DDSM_MORPHOLOGY), ("distribution", lexicon.DDSM_DISTRIBUTION)):
        assert {w for w in table.values() if w is not None} <= set(schema.VOCABULARY[column])
        assert {lexicon.normalise_word(w) for w in lexicon.DDSM_WORDS[column]} <= set(table)
    for column, table in lexicon.CANONICAL_WORDS.items():
        assert set(table.values()) <= set(schema.VOCABULARY[column])
        assert set(schema.VOCABULARY[column]) <= set(table.values())


# --- CBIS-DDSM ---------------------------------------------------------------------------------


def test_cbis_merges_views(cbis: pd.DataFrame, cbis_path: Path) -> None:
    with open(cbis_path, newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    lesions = {(r["patient_id"], r["left or right breast"], r["abnormality id"]) for r in records}
    assert len(records) == 40
    assert len(cbis) == len(lesions) == 21
    assert set(cbis["lesion_id"]) == {f"{p}.{s}.{a}" for p, s, a in lesions}
    assert cbis.attrs["format"] == "cbis-ddsm"


def test_cbis_fields(cbis: pd.DataFrame) -> None:
    by_id = cbis.set_index("lesion_id")
    assert by_id.loc["P_00005.RIGHT.1", "morphology"] == "amorphous"
    assert by_id.loc["P_00005.RIGHT.1", "malignant"] == 1
    assert by_id.loc["P_00005.RIGHT.1", "breast_density"] == "c"
    assert by_id.loc["P_00005.RIGHT.1", "birads"] == "3"
    assert by_id.loc["P_00019.RIGHT.1", "views"] == "CC+MLO"  # MLO comes first in the file
    assert by_id.loc["P_00013.RIGHT.1", "views"] == "MLO"
    assert pd.isna(by_id.loc["P_00008.LEFT.2", "morphology"])  # N/A = not recorded
    assert by_id.loc["P_00008.LEFT.2", "distribution"] == "regional"
    assert by_id.loc["P_00010.LEFT.1", "morphology"] == "round|rim|dystrophic"
    assert by_id.loc["P_00010.LEFT.1", "distribution"] == "diffuse"
    # the views disagree (PLEOMORPHIC on CC, AMORPHOUS on MLO): keep both
    assert by_id.loc["P_00022.LEFT.1", "morphology"] == "amorphous|fine_pleomorphic"
    assert cbis["site"].isna().all() and cbis["age"].isna().all()
    assert cbis["patient_id"].str.startswith("P_").all()


def test_cbis_columns(cbis: pd.DataFrame) -> None:
    assert tuple(cbis.columns[: len(schema.COLUMNS)]) == schema.COLUMNS
    extras = list(cbis.columns[len(schema.COLUMNS) :])
    assert "views" in extras and "image view" not in extras
    # the file's own columns are kept: each view's image paths, joined in view order
    paths = [c for c in extras if "file path" in c]
    assert paths == ["image file path", "cropped image file path", "ROI mask file path"]
    both = cbis[cbis["views"] == "CC+MLO"]
    assert both["image file path"].str.count(" \\+ ").eq(1).all()
    assert cbis.loc[cbis["views"] != "CC+MLO", "image file path"].str.contains(" + ", regex=False).sum() == 0


def test_cbis_test_set_header_spelling(cbis_path: Path, write_csv) -> None:
    text = cbis_path.read_text(encoding="utf-8").replace("breast density", "breast_density", 1)
    frame = read_lesions(write_csv(text))
    assert frame["breast_density"].notna().all()


# --- canonical ---------------------------------------------------------------------------------


def test_canonical_round_trip(bundled: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "canonical.csv"
    bundled.to_csv(path, index=False)
    back = read_lesions(path)
    assert back.attrs["format"] == "canonical"
    pd.testing.assert_frame_equal(back, bundled)


def test_canonical_parquet_round_trip(bundled: pd.DataFrame, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "canonical.parquet"
    bundled.to_parquet(path)
    pd.testing.assert_frame_equal(read_lesions(path), bundled)


def test_canonical_only_lesion_id_required(write_csv) -> None:
    frame = read_lesions(write_csv("lesion_id\nL1\nL2\n"))
    assert list(frame["lesion_id"]) == ["L1", "L2"]
    assert tuple(frame.columns) == schema.COLUMNS
    assert frame.drop(columns="lesion_id").isna().all().all()
    for column, dtype in schema.DTYPES.items():
        assert str(frame[column].dtype) == dtype, column


def test_canonical_normalises_values(write_csv) -> None:
    text = (
        "note,malignant,morphology,lesion_id,distribution,birads,breast_density,brca,age,calc_count,change\n"
        "x,MALIGNANT,Fine-Linear| PLEOMORPHIC |fine linear branching,L1,Clustered,4a,3,Yes,54,12,New\n"
        "y,0,,L2,regional|diffuse,4C,B,false,,1,stable\n"
        ",benign_without_callback,NA,L3,N/A,0,d,0,71.5,,\n"
    )
    frame = read_lesions(write_csv(text))
    assert list(frame["morphology"].fillna("-")) == ["fine_pleomorphic|fine_linear", "-", "-"]
    assert list(frame["distribution"].fillna("-")) == ["grouped", "diffuse|regional", "-"]
    assert list(frame["birads"]) == ["4A", "4C", "0"]
    assert list(frame["breast_density"]) == ["c", "b", "d"]
    assert list(frame["brca"]) == [True, False, False]
    assert list(frame["malignant"]) == [1, 0, 0]
    assert list(frame["change"].fillna("-")) == ["new", "stable", "-"]
    assert frame["age"].tolist()[0] == 54 and pd.isna(frame["age"].iloc[1])
    assert list(frame["calc_count"].fillna(-1)) == [12, 1, -1]
    assert list(frame.columns[len(schema.COLUMNS) :]) == ["note"]
    assert frame["note"].iloc[0] == "x" and pd.isna(frame["note"].iloc[2])


def test_canonical_semicolons_bom_and_crlf(write_csv) -> None:
    content = "\ufefflesion_id;morphology\r\nL1;amorphous\r\n\r\nL2;punctate\r\n".encode()
    frame = read_lesions(write_csv(content))
    assert list(frame["morphology"]) == ["amorphous", "punctate"]


def test_canonical_saved_pandas_index_is_dropped(write_csv) -> None:
    frame = read_lesions(write_csv(",lesion_id,age\n0,L1,50\n1,L2,60\n"))
    assert tuple(frame.columns) == schema.COLUMNS and list(frame["age"]) == [50, 60]


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("Age", "age"),
        ("Patient Age", "age"),
        ("BI-RADS", "birads"),
        ("BIRADS", "birads"),
        ("Bi Rads", "birads"),
        ("Breast Density", "breast_density"),
        ("breast-density", "breast_density"),
        ("ACR density", "breast_density"),
        ("Morphology", "morphology"),
        ("FAMILY HISTORY", "family_history"),
        ("Hormone replacement therapy", "hrt"),
    ],
)
def test_canonical_headers_match_whatever_their_case_and_separators(write_csv, header: str, column: str) -> None:
    values = {
        "age": "50",
        "birads": "4b",
        "breast_density": "C",
        "morphology": "Fine Pleomorphic",
        "family_history": "Yes",
        "hrt": "no",
    }
    frame = read_lesions(write_csv(f"Lesion ID,{header}\nL1,{values[column]}\n"))
    assert header not in frame.columns and frame["lesion_id"].iloc[0] == "L1"
    expected = {
        "age": 50.0,
        "birads": "4B",
        "breast_density": "c",
        "morphology": "fine_pleomorphic",
        "family_history": True,
        "hrt": False,
    }[column]
    assert frame[column].iloc[0] == expected


def test_canonical_header_values_stay_strict(write_csv) -> None:
    with pytest.raises(LesionInputError, match=r"row 2, column 'BI-RADS': unknown birads value \(got '4D'\)"):
        read_lesions(write_csv("lesion_id,BI-RADS\nL1,4D\n"))


def test_two_headers_naming_one_column_are_refused(write_csv) -> None:
    with pytest.raises(LesionInputError, match="'age' and 'Patient Age' would both become 'age'"):
        read_lesions(write_csv("lesion_id,age,Patient Age\nL1,50,51\n"))


# --- format detection and scale ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["lesion_id"], "canonical"),
        (["lesion_id", "morphology", "calc_type"], "canonical"),
        (["lesion_id", "case_id", "calc_type", "calc_distribution", "pathology"], "ddsm"),
        (
            [
                "patient_id",
                "breast_density",
                "left or right breast",
                "image view",
                "abnormality id",
                "calc type",
                "calc distribution",
                "pathology",
            ],
            "cbis-ddsm",
        ),
    ],
)
def test_detect_format(columns: list[str], expected: str) -> None:
    assert detect_format(columns) == expected


def test_reads_200k_rows(write_csv) -> None:
    """Large files read correctly (speed is measured in tests/benchmarks, not asserted here)."""
    header = "lesion_id,patient_id,morphology,distribution,age,birads,breast_density,brca,malignant\n"
    body = "".join(
        f"L{i},P{i // 2},{'fine_pleomorphic|amorphous' if i % 3 else 'rim'},grouped,{40 + i % 50},"
        f"{'4A' if i % 2 else '2'},{'abcd'[i % 4]},{'yes' if i % 7 == 0 else 'no'},{i % 2}\n"
        for i in range(200_000)
    )
    path = write_csv(header + body)
    frame = read_lesions(path)
    assert len(frame) == 200_000 and int(frame["malignant"].sum()) == 100_000
    assert frame["morphology"].iloc[1] == "amorphous|fine_pleomorphic"


# --- blocks of cells (the streaming entry point) -----------------------------------------------


def _text_cells(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _blocks(cells: pd.DataFrame, size: int) -> list[tuple[int, pd.DataFrame]]:
    """(spreadsheet row of the first record, block) pairs, as a chunked reader yields them."""
    return [
        (2 + start, cells.iloc[start : start + size].reset_index(drop=True)) for start in range(0, len(cells), size)
    ]


def test_validate_cells_block_by_block_equals_read_lesions(bundled: pd.DataFrame, bundled_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LesionWarning)
        parts = [
            validate_cells(block, file="x", first_row=row) for row, block in _blocks(_text_cells(bundled_path), 100)
        ]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), bundled)


def test_validate_cells_warns_with_the_files_row(bundled_path: Path) -> None:
    row, block = _blocks(_text_cells(bundled_path), 100)[2]
    with pytest.warns(LesionWarning, match="row 205"):  # the DDSM age of 1, as read_lesions words it
        validate_cells(block, file=str(bundled_path), first_row=row)


def test_validate_cells_error_names_the_files_row_like_read_lesions(bundled_path: Path, write_csv) -> None:
    cells = _text_cells(bundled_path)
    cells.loc[250, "assessment"] = "7"
    with pytest.raises(LesionInputError) as whole:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LesionWarning)
            read_lesions(write_csv(cells.to_csv(index=False), name="x.csv"))
    row, block = _blocks(cells, 100)[2]
    with pytest.raises(LesionInputError) as blockwise:
        validate_cells(block, file=str(whole.value.file), first_row=row)
    assert whole.value.row == 252 and str(blockwise.value) == str(whole.value)


def test_validate_cells_blank_block_is_empty_not_an_error(write_csv) -> None:
    cells = pd.DataFrame({"lesion_id": ["", " "], "morphology": ["", ""]})
    frame = validate_cells(cells, first_row=500)
    assert len(frame) == 0 and tuple(frame.columns) == schema.COLUMNS
    with pytest.raises(LesionInputError, match="no lesion rows"):
        read_lesions(write_csv("lesion_id,morphology\n,\n"))


def test_validate_cells_repeated_id_refused_unless_checked_by_the_caller() -> None:
    cells = pd.DataFrame({"lesion_id": ["L1", "L2", "L1"]})
    with pytest.raises(LesionInputError, match="rows 11 and 13"):
        validate_cells(cells, first_row=11)
    assert list(validate_cells(cells, first_row=11, unique_ids=False)["lesion_id"]) == ["L1", "L2", "L1"]


def test_validate_cells_saved_index_continues_in_later_blocks() -> None:
    later = pd.DataFrame({"Unnamed: 0": ["100", "101"], "lesion_id": ["L1", "L2"]})
    assert tuple(validate_cells(later, first_row=102).columns) == schema.COLUMNS
    with pytest.raises(LesionInputError, match="no name in the header"):
        validate_cells(later, first_row=2)


def test_csv_header() -> None:
    assert csv_header('lesion_id;"calc; type"\nL1;x\n') == (["lesion_id", "calc; type"], ";")
    assert csv_header("lesion_id,age\n") == (["lesion_id", "age"], ",")


def test_header_with_an_unclosed_quote_is_one_clear_error(write_csv) -> None:
    """The csv module gives up on a header whose quote swallows 128 kB: one message naming row 1, no traceback."""
    path = write_csv('lesion_id,"calc_type\n' + "x" * 200_000 + "\n")
    with pytest.raises(LesionInputError, match="header row cannot be read as CSV") as err:
        read_lesions(path)
    assert err.value.row == 1
