"""Property-based tests (hypothesis): any valid lesion file, in any supported format, reads, fits and predicts.

Files are generated in the four formats microcalc reads - canonical CSV, canonical Parquet, DDSM
CSV and CBIS-DDSM CSV (one row per view, CC and MLO merged into one lesion) - with any subset of
the optional columns filled, blanks anywhere optional, words in any case and spacing, and header
names in any case and separator style. Every such file must:

- read to one canonical row per lesion, in file order, each value the one that was written;
- predict (``microcalc predict``, the CLI) with a probability inside its credible interval;
- fit (tiny draws: the fit is not assessed, only that it runs and predicts).

The damaged-file property (exit 2, one line, nothing written) is in ``test_real_data.py``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microcalc.cli import main
from microcalc.io import schema
from microcalc.io.readers import read_lesions

FORMATS = ("canonical_csv", "canonical_parquet", "ddsm", "cbis")

# DDSM / CBIS-DDSM words and the canonical words they read as (one reading per word: lexicon.py).
DDSM_MORPHOLOGY = {
    "PLEOMORPHIC": "fine_pleomorphic",
    "FINE_LINEAR_BRANCHING": "fine_linear",
    "AMORPHOUS": "amorphous",
    "PUNCTATE": "punctate",
    "LUCENT_CENTER": "rim",
    "ROUND_AND_REGULAR": "round",
    "VASCULAR": "vascular",
    "DYSTROPHIC": "dystrophic",
}
DDSM_DISTRIBUTION = {
    "CLUSTERED": "grouped",
    "SEGMENTAL": "segmental",
    "LINEAR": "linear",
    "REGIONAL": "regional",
    "DIFFUSELY_SCATTERED": "diffuse",
}
DDSM_PATHOLOGY = {"MALIGNANT": 1, "BENIGN": 0, "BENIGN_WITHOUT_CALLBACK": 0}


def spelled(word: str) -> st.SearchStrategy[str]:
    """A schema word as a person may type it: any case, '_' as ' ' or '-', spaces around."""

    def variant(upper: bool, sep: str, pad: str) -> str:
        text = word.replace("_", sep)
        return pad + (text.upper() if upper else text) + pad

    return st.builds(variant, st.booleans(), st.sampled_from(["_", " ", "-"]), st.sampled_from(["", " "]))


def header(name: str) -> st.SearchStrategy[str]:
    """A canonical column name in the spellings spreadsheets use (BI-RADS, Breast Density, ...)."""
    if name == "birads":
        return st.sampled_from(["birads", "BIRADS", "BI-RADS", "Birads"])
    return st.builds(
        lambda title, sep: (name.title() if title else name).replace("_", sep),
        st.booleans(),
        st.sampled_from(["_", " ", "-"]),
    )


@st.composite
def canonical_lesions(draw, with_outcome: bool = True) -> tuple[list[str], list[dict], list[dict]]:
    """(header names, written cells per lesion, the canonical values they must read as)."""
    n = draw(st.integers(min_value=2, max_value=8))
    optional = [c for c in schema.COLUMNS if c not in ("lesion_id", "patient_id", "malignant")]
    columns = draw(st.lists(st.sampled_from(optional), unique=True, max_size=len(optional)))
    rows, expected = [], []
    for i in range(n):
        cells, values = {"lesion_id": f"L{i}"}, {"lesion_id": f"L{i}"}
        for column in columns:
            if draw(st.integers(0, 4)) == 0:  # blank: not recorded
                cells[column], values[column] = "", None
                continue
            if column == "site":
                value = draw(st.sampled_from(["A", "B", "mine"]))
                cells[column], values[column] = value, value
            elif column in ("morphology", "distribution"):
                words = draw(st.lists(st.sampled_from(schema.VOCABULARY[column]), min_size=1, max_size=2, unique=True))
                cells[column] = schema.MULTI_SEPARATOR.join(draw(spelled(w)) for w in words)
                values[column] = set(words)
            elif column in schema.VOCABULARY:
                word = draw(st.sampled_from(schema.VOCABULARY[column]))
                cells[column], values[column] = draw(spelled(word)), word
            elif column == "calc_count":
                count = draw(st.integers(1, 200))
                cells[column], values[column] = str(count), count
            elif column == "age":
                age = draw(st.integers(int(schema.AGE_RANGE[0]), int(schema.AGE_RANGE[1])))
                cells[column], values[column] = str(age), float(age)
            else:  # yes/no columns
                answer = draw(st.booleans())
                cells[column] = draw(
                    st.sampled_from(["yes", "Yes", "1", "TRUE"] if answer else ["no", "NO", "0", "false"])
                )
                values[column] = answer
        if with_outcome:
            outcome = draw(st.integers(0, 1))
            cells["malignant"], values["malignant"] = str(outcome), outcome
        rows.append(cells)
        expected.append(values)
    names = ["lesion_id", *[draw(header(c)) for c in columns], *(["malignant"] if with_outcome else [])]
    return names, rows, expected


@st.composite
def ddsm_lesions(draw) -> tuple[list[str], list[dict], list[dict]]:
    """A DDSM table (the bundled file's columns): several morphology words joined with '-'."""
    n = draw(st.integers(min_value=2, max_value=8))
    rows, expected = [], []
    for i in range(n):
        morph = draw(st.lists(st.sampled_from(sorted(DDSM_MORPHOLOGY)), min_size=1, max_size=2, unique=True))
        dist = draw(st.sampled_from(sorted(DDSM_DISTRIBUTION)))
        density, assessment = draw(st.integers(0, 4)), draw(st.integers(0, 5))
        pathology, age = draw(st.sampled_from(sorted(DDSM_PATHOLOGY))), draw(st.integers(30, 90))
        site = draw(st.sampled_from("ABCD"))
        rows.append(
            {
                "lesion_id": f"{site}_{1000 + i}_1.LEFT.1",
                "case_id": f"{site}_{1000 + i}_1",
                "site": site,
                "side": "LEFT",
                "views": "CC+MLO",
                "age": str(age),
                "breast_density": str(density),
                "calc_type": "-".join(morph),
                "calc_distribution": dist,
                "assessment": str(assessment),
                "subtlety": "3",
                "pathology": pathology,
                "study_year": "1995",
                "scanner": "DBA 21",
            }
        )
        expected.append(
            {
                "lesion_id": rows[-1]["lesion_id"],
                "site": site,
                "morphology": {DDSM_MORPHOLOGY[w] for w in morph},
                "distribution": {DDSM_DISTRIBUTION[dist]},
                "breast_density": "abcd"[density - 1] if density else None,
                "age": float(age),
                "birads": str(assessment),
                "malignant": DDSM_PATHOLOGY[pathology],
            }
        )
    return list(rows[0]), rows, expected


@st.composite
def cbis_lesions(draw) -> tuple[list[str], list[dict], list[dict]]:
    """A CBIS-DDSM calcification table: one row per view (CC, MLO or both) of each abnormality."""
    n = draw(st.integers(min_value=2, max_value=6))
    rows, expected = [], []
    for i in range(n):
        patient, side = f"P_{i:05d}", draw(st.sampled_from(["LEFT", "RIGHT"]))
        morph = draw(st.sampled_from(sorted(DDSM_MORPHOLOGY)))
        dist = draw(st.sampled_from([*sorted(DDSM_DISTRIBUTION), "N/A"]))
        density, assessment = draw(st.integers(0, 4)), draw(st.integers(0, 5))
        pathology = draw(st.sampled_from(sorted(DDSM_PATHOLOGY)))
        views = draw(st.sampled_from([["CC"], ["MLO"], ["CC", "MLO"]]))
        for view in views:
            rows.append(
                {
                    "patient_id": patient,
                    "breast density": str(density),
                    "left or right breast": side,
                    "image view": view,
                    "abnormality id": "1",
                    "abnormality type": "calcification",
                    "calc type": morph,
                    "calc distribution": dist,
                    "assessment": str(assessment),
                    "pathology": pathology,
                    "subtlety": "3",
                    "image file path": f"Calc-Training_{patient}_{side}_{view}/1/000000.dcm",
                    "cropped image file path": f"Calc-Training_{patient}_{side}_{view}_1/1/000001.dcm",
                    "ROI mask file path": f"Calc-Training_{patient}_{side}_{view}_1/1/000000.dcm",
                }
            )
        expected.append(
            {
                "lesion_id": f"{patient}.{side}.1",
                "morphology": {DDSM_MORPHOLOGY[morph]},
                "distribution": {DDSM_DISTRIBUTION[dist]} if dist != "N/A" else None,
                "breast_density": "abcd"[density - 1] if density else None,
                "birads": str(assessment),
                "malignant": DDSM_PATHOLOGY[pathology],
            }
        )
    return list(rows[0]), rows, expected


def lesion_file(fmt: str) -> st.SearchStrategy:
    return {
        "canonical_csv": canonical_lesions(),
        "canonical_parquet": canonical_lesions(),
        "ddsm": ddsm_lesions(),
        "cbis": cbis_lesions(),
    }[fmt]


def write(fmt: str, names: list[str], rows: list[dict], folder: Path) -> Path:
    """The generated cells as a file of the format (header names as generated)."""
    keys = list(rows[0])
    table = pd.DataFrame([[row[k] for k in keys] for row in rows], columns=names, dtype="string")
    if fmt == "canonical_parquet":
        path = folder / "lesions.parquet"
        table.replace("", pd.NA).to_parquet(path, index=False)  # a blank cell is a null in Parquet
    else:
        path = folder / "lesions.csv"
        table.to_csv(path, index=False)
    return path


def words(value) -> set[str]:
    return set(str(value).split(schema.MULTI_SEPARATOR))


def assert_read_as_written(frame: pd.DataFrame, expected: list[dict]) -> None:
    """Every lesion in file order, each written value read back as the canonical value (None = blank)."""
    assert frame["lesion_id"].tolist() == [lesion["lesion_id"] for lesion in expected]
    for row, lesion in zip(frame.to_dict("records"), expected, strict=True):
        for column, want in lesion.items():
            got = row[column]
            if want is None:
                assert pd.isna(got), (lesion["lesion_id"], column, got)
            elif isinstance(want, set):
                assert words(got) == want, (lesion["lesion_id"], column, got, want)
            else:
                assert got == want, (lesion["lesion_id"], column, got, want)


def quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. unused extra columns, a lesion of BI-RADS 0
        return function(*args, **kwargs)


PROPERTY = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@pytest.mark.parametrize("fmt", FORMATS)
@PROPERTY
@given(data=st.data())
def test_valid_files_read_as_written_and_predict(fmt, data, small_fit_path, tmp_path_factory, capsys):
    names, rows, expected = data.draw(lesion_file(fmt))
    folder = tmp_path_factory.mktemp(fmt)
    path = write(fmt, names, rows, folder)
    frame = quietly(read_lesions, path)
    assert_read_as_written(frame, expected)

    out = folder / "predictions.csv"
    assert quietly(main, ["predict", str(small_fit_path), str(path), "--out", str(out)]) == 0, capsys.readouterr().err
    predictions = pd.read_csv(out, dtype={"lesion_id": str})
    assert predictions["lesion_id"].tolist() == [lesion["lesion_id"] for lesion in expected]
    p, lo, hi = (predictions[c].to_numpy() for c in ("p_malignant", "ci_lower", "ci_upper"))
    assert np.all((0 <= lo) & (lo <= p) & (p <= hi) & (hi <= 1))


@pytest.mark.parametrize("fmt", FORMATS)
@settings(
    max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_valid_files_fit_and_predict(fmt, data, tmp_path_factory):
    from microcalc.modelling.fitting import fit

    names, rows, expected = data.draw(lesion_file(fmt))
    path = write(fmt, names, rows, tmp_path_factory.mktemp(fmt))
    frame = quietly(read_lesions, path, require_outcome=True)
    model = quietly(fit, frame, draws=30, tune=30, chains=1, seed=1)
    predictions = quietly(model.predict, frame)
    assert predictions["lesion_id"].tolist() == [lesion["lesion_id"] for lesion in expected]
    assert predictions["p_malignant"].between(0, 1).all()
    assert model.convergence is not None  # diagnostics are read on every fit, tiny or not
