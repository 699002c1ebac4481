"""``microcalc literature``: the synthesis on the command line, its files, conflict columns and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from microcalc.checks.counts import counts_from_donors, counts_from_frame
from microcalc.cli import main
from microcalc.synthesis import meta, prior_data_conflict
from microcalc.synthesis.loso import LOSO_COLUMNS

STUDIES_HEADER = "study_id,citation,finding,level,malignant,total,checked"
# four small series: an overall row each and BI-RADS 4A/4B/4C rows in two, an undivided 4 in a third
STUDY_LINES = [f"s{i},c,overall,all,{y},{n},✔" for i, (y, n) in enumerate([(30, 100), (45, 120), (20, 90), (60, 150)])]
STUDY_LINES += [
    "s0,c,birads,4A,5,40,✔",
    "s1,c,birads,4A,9,50,✔",
    "s0,c,birads,4B,15,40,✔",
    "s1,c,birads,4B,14,45,✔",
    "s0,c,birads,4C,14,20,✔",
    "s1,c,birads,4C,18,25,✔",
    "s2,c,birads,4,20,90,✔",
    "s0,c,distribution,grouped,20,80,✔",
    "s3,c,distribution,grouped,30,100,✔",
]
LESIONS = """lesion_id,morphology,distribution,birads,malignant
L1,amorphous|fine_pleomorphic,grouped,4A,1
L2,amorphous,grouped,4A,0
L3,rim,,2,0
L4,fine_pleomorphic,linear,4C,1
L5,,grouped,4B,0
L6,amorphous,grouped|linear,5,1
"""


def _studies(tmp_path: Path, lines=STUDY_LINES, name: str = "studies.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([STUDIES_HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def _lesions(tmp_path: Path) -> Path:
    path = tmp_path / "lesions.csv"
    path.write_text(LESIONS, encoding="utf-8")
    return path


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_counts_are_marginal_per_level_and_count_every_word(tmp_path):
    from microcalc.io.readers import read_lesions

    counts = counts_from_frame(read_lesions(_lesions(tmp_path), require_outcome=True))
    got = {(f, lvl): (m, n) for f, lvl, m, n in counts.itertuples(index=False)}
    assert got[("overall", "all")] == (3, 6)
    assert got[("morphology", "amorphous")] == (2, 3)  # L1 counts under both of its words
    assert got[("morphology", "fine_pleomorphic")] == (2, 2)
    assert got[("distribution", "grouped")] == (2, 4)
    assert got[("distribution", "linear")] == (2, 2)
    assert got[("birads", "4A")] == (1, 2) and got[("birads", "2")] == (0, 1)
    assert ("morphology", "punctate") not in got  # no lesion shows it: no row


def test_literature_command_writes_files_and_fills_conflict_columns(tmp_path, capsys):
    out = tmp_path / "lit"
    status = main(["literature", "--out", str(out), "--studies", str(_studies(tmp_path)), str(_lesions(tmp_path))])
    assert status == 0
    said = capsys.readouterr().out
    assert "Leave-one-study-out" in said and "Prior-data conflict with" in said
    names = {p.name for p in out.iterdir()}
    assert {
        "synthesis.csv",
        "studies_loso.csv",
        "prior_ess.csv",
        "literature.html",
        "forest_birads.png",
        "forest_overall.png",
    } <= names
    assert not [n for n in names if n.startswith(".")]  # no temporary files left
    assert list(pd.read_csv(out / "studies_loso.csv").columns) == list(LOSO_COLUMNS)
    ess = pd.read_csv(out / "prior_ess.csv").set_index("parameter")
    # the conflict columns hold the lesion file's counts and the conflict measure of the written prior
    priors = meta.level_priors(_studies(tmp_path))
    for name, (y, n) in {
        "overall.all": (3, 6),
        "birads.4A": (1, 2),
        "distribution.grouped": (2, 4),
        "birads.2": (0, 1),
    }.items():
        row = ess.loc[name]
        assert (row["conflict_malignant"], row["conflict_total"]) == (y, n)
        c = prior_data_conflict(priors[name].prior, y, n)
        assert row["conflict_p_value"] == pytest.approx(c.p_value, abs=1e-4)
        assert row["robust_posterior_weight"] == pytest.approx(c.robust_posterior_weight, abs=1e-4)
    assert np.isnan(ess.loc["morphology.punctate", "conflict_p_value"])  # not in the lesion file
    # without data the conflict columns stay empty
    bare = tmp_path / "bare"
    assert main(["literature", "--out", str(bare), "--studies", str(_studies(tmp_path))]) == 0
    assert pd.read_csv(bare / "prior_ess.csv")["conflict_p_value"].isna().all()


def test_conflict_is_flagged_where_the_data_disagree(tmp_path, capsys):
    """BI-RADS 4A lesions 95% malignant (the series: 10-20%) give a small p-value and shift weight to the
    robust component; 9 of 60 (agreeing) do neither."""
    weights = {}
    for label, k in (("clash", 57), ("agree", 9)):
        lines = ["lesion_id,birads,malignant"] + [f"L{i},4A,{int(i < k)}" for i in range(60)]
        data = tmp_path / f"{label}.csv"
        data.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = tmp_path / label
        assert main(["literature", "--out", str(out), "--studies", str(_studies(tmp_path)), str(data)]) == 0
        weights[label] = pd.read_csv(out / "prior_ess.csv").set_index("parameter").loc["birads.4A"]
    clash, agree = weights["clash"], weights["agree"]
    assert clash["conflict_p_value"] < 0.01 and agree["conflict_p_value"] > 0.3
    assert clash["robust_posterior_weight"] > 0.5 > 0.2 > agree["robust_posterior_weight"]
    assert "birads.4A 57/60" in capsys.readouterr().out


def test_bundled_table_on_the_command_line(tmp_path, capsys):
    out = tmp_path / "lit"
    assert main(["literature", "--out", str(out), "--with-bundled"]) == 0
    loso = pd.read_csv(out / "studies_loso.csv")
    judged = loso["covered"].dropna()
    assert len(judged) >= 40 and 0.85 <= judged.astype(bool).mean() <= 0.95
    syn = pd.read_csv(out / "synthesis.csv").set_index(["finding", "level"])
    for col in ("pooled_rate", "tau", "predictive_lower_90", "predictive_upper_90"):
        assert syn.loc[("distribution", "grouped"), col] == syn.loc[("distribution", "grouped"), col]  # not NaN
    ess = pd.read_csv(out / "prior_ess.csv").set_index("parameter")
    assert (ess.loc["overall.all", "conflict_malignant"], ess.loc["overall.all", "conflict_total"]) == (226, 617)
    assert "Leave-one-study-out" in capsys.readouterr().out


def test_counts_from_a_fit_equal_counts_from_its_data(small_fit, ddsm):
    a = counts_from_donors(small_fit.donors)
    b = counts_from_frame(ddsm)
    pd.testing.assert_frame_equal(a, b)


def test_fit_file_fills_conflict_columns(small_fit_path, tmp_path):
    out = tmp_path / "lit"
    assert (
        main(["literature", "--out", str(out), "--studies", str(_studies(tmp_path)), "--fit", str(small_fit_path)]) == 0
    )
    ess = pd.read_csv(out / "prior_ess.csv").set_index("parameter")
    assert (ess.loc["overall.all", "conflict_malignant"], ess.loc["overall.all", "conflict_total"]) == (226, 617)


@pytest.mark.parametrize(
    "case", ["bad_table", "missing_fit", "fit_and_data", "out_is_file", "missing_table", "missing_priors"]
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case, tmp_path, capsys):
    out = tmp_path / "lit"
    args = ["literature", "--out", str(out)]
    if case == "bad_table":
        args += ["--studies", str(_studies(tmp_path, STUDY_LINES + ["s9,c,birads,4A,12,10,✔"]))]
        expect = ["studies.csv", "row", "malignant"]
    elif case == "missing_table":
        args += ["--studies", str(tmp_path / "nowhere.csv")]
        expect = ["nowhere.csv"]
    elif case == "missing_priors":
        args += ["--priors", str(tmp_path / "nopriors.toml")]
        expect = ["nopriors.toml", "not found"]
    elif case == "missing_fit":
        args += ["--fit", str(tmp_path / "nofit.nc")]
        expect = ["nofit.nc"]
    elif case == "fit_and_data":
        args += ["--fit", str(tmp_path / "fit.nc"), str(_lesions(tmp_path))]
        expect = ["--fit", "not both"]
    else:
        out.write_text("a file", encoding="utf-8")
        expect = ["lit", "folder"]
    assert main(args) == 2
    err = _one_line_error(capsys)
    for word in expect:
        assert word in err, err
    if case == "out_is_file":
        assert out.read_text(encoding="utf-8") == "a file"
    else:
        assert not out.exists()


def test_derived_priors_sit_beside_the_prior_file(tmp_path):
    """derived_priors.csv: every prior the table gives (reference rate, level centres, steps, intercept,
    category-4 mix) beside a prior file's numbers; the default's hand-set intercept and 4C -> 5 step sit
    above the table's, synthesis.toml takes the table's, and hand-set levels have no table value."""
    from microcalc.priors import load_priors, scenario_paths
    from microcalc.synthesis.intercept import derived_intercept

    tables = {}
    for name, extra in (("default", []), ("synthesis", ["--priors", str(scenario_paths()["synthesis"])])):
        out = tmp_path / name
        assert main(["literature", "--out", str(out), *extra]) == 0
        tables[name] = pd.read_csv(out / "derived_priors.csv").set_index("parameter")
        assert "Priors from the table" in (out / "literature.html").read_text(encoding="utf-8")
    default, synthesis = tables["default"], tables["synthesis"]
    icpt = derived_intercept()
    assert default.loc["intercept", "table_value"] == pytest.approx(icpt.mu)
    assert default.loc["intercept", "file_origin"] == "hand-set" and default.loc["intercept", "shift_sd"] > 1.0
    assert default.loc["intercept", "file_value"] == pytest.approx(load_priors().intercept.mu)
    assert default.loc["birads.step_4C_to_5", "shift_sd"] > 0.5
    assert synthesis.loc["intercept", "file_origin"] == "studies" and synthesis.loc["intercept", "shift_sd"] == 0
    assert (synthesis.loc[synthesis["kind"] == "BI-RADS step (logit)", "file_origin"] == "studies").all()
    levels = default[default["kind"] == "level centre (rate)"]
    prior = load_priors()
    assert len(levels) == len(prior.morphology.levels) + len(prior.distribution.levels)
    hand = levels[levels["file_origin"] == "hand-set"]
    assert "morphology.punctate" in hand.index and hand["table_value"].isna().all()
    assert (levels.loc[levels["file_origin"] == "studies", "shift_sd"].abs() < 1e-3).all()


def test_undivided_birads_4_is_compared_with_the_pooled_prediction(tmp_path):
    """DDSM records an unsplit BI-RADS 4: its counts get a row of their own, predicted as the lesion-weighted union
    of 4A, 4B and 4C; a rate near the series' (about a third) agrees, none malignant in 100 conflicts."""
    p_values = {}
    for label, k in (("agree", 33), ("clash", 0)):
        lines = ["lesion_id,birads,malignant"] + [f"L{i},4,{int(i < k)}" for i in range(100)]
        data = tmp_path / f"{label}.csv"
        data.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = tmp_path / label
        assert main(["-q", "literature", "--out", str(out), "--studies", str(_studies(tmp_path)), str(data)]) == 0
        row = pd.read_csv(out / "prior_ess.csv").set_index("parameter").loc["birads.4"]
        assert (row["conflict_malignant"], row["conflict_total"]) == (k, 100)
        assert row["source"] == "meta-analysis (pooled level)" and np.isnan(row["robust_posterior_weight"])
        assert row["prior_lower_90"] < 0.33 < row["prior_upper_90"]
        p_values[label] = row["conflict_p_value"]
    assert p_values["agree"] > 0.3 and p_values["clash"] < 0.01
