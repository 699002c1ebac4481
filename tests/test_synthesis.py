"""Evidence synthesis of the studies table (microcalc.synthesis): loading, validation, known answers, LOSO."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import digamma, polygamma

from microcalc.io.errors import LesionInputError
from microcalc.synthesis import MixturePrior, ess_elir, fit_mixture, meta, prior_data_conflict, studies
from microcalc.synthesis.loso import LOSO_COLUMNS, leave_one_study_out

HEADER = "study_id,citation,finding,level,malignant,total,checked"


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return studies.load_studies()


@pytest.fixture(scope="module")
def rows(table):
    return studies.likelihood_rows(table)[0]


@pytest.fixture(scope="module")
def synthesis(rows):
    return meta.synthesise(rows)


def _table(tmp_path: Path, lines: list[str], name: str = "studies.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


# -- the table ---------------------------------------------------------------------------------------


def test_bundled_table_loads_from_the_package(table):
    path = studies.bundled_studies_path()
    assert path.name == "studies.csv" and path.is_file()
    assert (path.parent / "studies.md").is_file()
    assert len(table) == 92 and table["study_id"].nunique() == 32
    assert (table["checked"] == "✔").all()
    assert (table["malignant"] <= table["total"]).all()


@pytest.mark.parametrize(
    "line, column, problem",
    [
        ("s1,c,morphology,amorphous,12,10,✔", "malignant", "between 0 and total"),
        ("s1,c,morphology,amorfous,1,10,✔", "level", "unknown morphology level"),
        ("s1,c,morphology,amorphous,1.5,10,✔", "malignant", "whole number"),
        ("s1,c,histology,amorphous,1,10,✔", "finding", "unknown finding"),
        ("s1,c,morphology,amorphous,1,0,✔", "total", "at least 1"),
        ("s1,c,morphology,amorphous,1,10,yes", "checked", "check mark"),
    ],
)
def test_damaged_table_names_row_column_and_value(tmp_path, line, column, problem):
    path = _table(tmp_path, ["s0,c,overall,all,3,10,✔", line])
    with pytest.raises(LesionInputError) as err:
        studies.load_studies(path)
    e = err.value
    assert e.row == 3 and e.column == column and problem in e.problem
    assert str(path) in str(e)


def test_damaged_table_structure(tmp_path):
    missing = tmp_path / "missing.csv"
    missing.write_text("study_id,finding,level,malignant,total\ns,overall,all,1,2\n", encoding="utf-8")
    with pytest.raises(LesionInputError, match="missing column"):
        studies.load_studies(missing)
    with pytest.raises(LesionInputError, match="repeat an earlier row"):
        studies.load_studies(_table(tmp_path, ["s,c,overall,all,1,2,✔", "s,c,overall,all,1,3,✔"], "dup.csv"))
    overlap = ["s,c,morphology,fine_pleomorphic,5,10,✔", "s,c,morphology,fine_pleomorphic_or_fine_linear,6,9,✔"]
    with pytest.raises(LesionInputError, match="partition"):
        studies.load_studies(_table(tmp_path, overlap, "overlap.csv"))
    with pytest.raises(LesionInputError, match="not found"):
        studies.load_studies(tmp_path / "nowhere.csv")


def test_long_values_are_cut(tmp_path):
    path = _table(tmp_path, ["s,c,morphology," + "x" * 300 + ",1,2,✔"])
    with pytest.raises(LesionInputError) as err:
        studies.load_studies(path)
    assert len(str(err.value.value)) <= 80


def test_rows_map_pooled_levels_and_respect_partitions(table, rows):
    by = {(r.study_id, r.finding, r.level): r for r in rows}
    four = by[("menezes2018", "birads", "4")]
    assert four.units == ("4A", "4B", "4C") and math.isclose(sum(w for _, w in four.components), 1.0)
    assert by[("jksr2009", "birads", "4BC")].units == ("4B", "4C")
    assert by[("matrix2017", "morphology", "indeterminate_pooled")].units == ("amorphous", "coarse_heterogeneous")
    grouped = by[("oligane2018", "distribution", "grouped")]  # multiple_groups added to grouped
    assert (grouped.malignant, grouped.total) == (25 + 9, 356 + 36)
    assert grouped.restriction[:2] == ("morphology", "amorphous")
    assert by[("kimj2018", "morphology", "amorphous")].restriction[:2] == ("birads", "4A")
    assert by[("kimj2018", "birads", "4A")].restriction is None
    assert not any(r.study_id == "liberman1998" for r in rows)  # masses in the denominators
    assert not any(r.level.startswith("amorphous_") for r in rows)  # re-splits of one row
    # one term per study and unit: no lesion enters one likelihood twice
    keys = [(r.study_id, r.finding, r.units) for r in rows]
    assert len(keys) == len(set(keys))
    assert {r.cohort for r in rows if r.study_id.startswith("burnside")} == {"burnside2006+2007"}


# -- known answers -----------------------------------------------------------------------------------


def _row(study, level, y, n, finding="morphology"):
    return studies.StudyRow(study, study, finding, level, y, n, ((level, 1.0),))


def test_single_study_pooled_rate_near_observed_rate():
    syn = meta.synthesise([_row("a", "amorphous", 300, 1000)])
    s = meta.summarise(syn.posteriors[("morphology", "amorphous")], syn.spec)
    assert abs(s.pooled_rate - 0.30) < 0.03
    assert s.predictive_lower_90 < 0.2 and s.predictive_upper_90 > 0.4  # tau is unknown from one study


def test_homogeneous_studies_give_small_tau_and_the_common_rate():
    syn = meta.synthesise([_row(f"s{i}", "amorphous", 50, 250) for i in range(8)])
    s = meta.summarise(syn.posteriors[("morphology", "amorphous")], syn.spec)
    assert abs(s.pooled_rate - 0.2) < 0.01
    assert s.tau < 0.15


def test_pooled_row_is_the_weighted_sum_of_its_levels():
    mus, taus = [np.array([-1.0]), np.array([1.0])], [np.array([0.0]), np.array([0.0])]
    p = meta.pooled_rate(mus, taus, [0.25, 0.75], np.array([0.0]))
    assert math.isclose(p[0, 0], 0.25 / (1 + math.e) + 0.75 / (1 + math.exp(-1)))


def test_elir_of_logit_beta_normal_is_near_a_plus_b():
    for a, b in [(20.0, 60.0), (10.0, 10.0)]:
        prior = MixturePrior.normal(digamma(a) - digamma(b), math.sqrt(polygamma(1, a) + polygamma(1, b)))
        assert abs(ess_elir(prior) - (a + b)) / (a + b) < 0.08


def test_robustification_lowers_ess_and_flags_conflict():
    informative = MixturePrior.normal(math.log(0.2 / 0.8), 0.3)
    robust = informative.robustify(0.2)
    assert robust.robust_weight == 0.2 and robust.n_components == 2
    assert robust.ess_elir() < 0.7 * informative.ess_elir()
    agree = prior_data_conflict(robust, 20, 100)
    clash = prior_data_conflict(robust, 60, 100)
    assert agree.p_value > 0.3 and agree.robust_posterior_weight < 0.2
    assert clash.p_value < 0.01 and clash.robust_posterior_weight > 0.9


def test_mixture_matches_the_predictive_moments(synthesis):
    post = synthesis.posteriors[("morphology", "amorphous")]
    masses = meta.predictive_masses(post)
    mean = masses @ meta.THETA_CENTRES
    sd = math.sqrt(masses @ (meta.THETA_CENTRES - mean) ** 2)
    mix, kl = fit_mixture(meta.THETA_CENTRES, masses)
    assert kl < 0.01 and mix.n_components <= 3
    assert abs(mix.mean() - mean) < 0.02 and abs(mix.sd() / sd - 1) < 0.02
    lo, hi = mix.interval(0.9)
    cdf = np.cumsum(masses)
    assert abs(np.interp(lo, meta.THETA_EDGES[1:], cdf) - 0.05) < 0.01
    assert abs(np.interp(hi, meta.THETA_EDGES[1:], cdf) - 0.95) < 0.01


def test_every_model_level_has_a_prior_with_provenance(synthesis):
    priors = meta.build_priors(synthesis)
    assert {f"{finding}.{level}" for finding, level in meta.model_units()} <= set(priors)
    for name in ("morphology.punctate", "distribution.diffuse", "birads.2", "morphology.rim"):
        assert priors[name].source == "hand-set" and priors[name].provenance.startswith("hand-set")
    amorphous = priors["morphology.amorphous"]
    assert amorphous.source == "meta-analysis" and "shen2021" in amorphous.provenance
    assert amorphous.prior.robust_weight == 0.2 and 0 < amorphous.ess < amorphous.map_prior.ess_elir() + 1
    four_a = priors["birads.4A"].summary
    assert 0.10 < four_a.pooled_rate < 0.25 and four_a.is_ess > 500  # importance sampling not degenerate


# -- leave-one-study-out and the written files -------------------------------------------------------


def test_leave_one_study_out_coverage(rows):
    result = leave_one_study_out(rows)
    assert list(result.table.columns) == list(LOSO_COLUMNS)
    assert result.rows >= 40
    assert 0.85 <= result.coverage <= 0.95, result.describe()


def test_run_literature_writes_its_files(tmp_path):
    from microcalc.synthesis import run_literature

    lines = [f"s{i},c,overall,all,{y},{n},✔" for i, (y, n) in enumerate([(30, 100), (45, 120), (20, 90), (60, 150)])]
    lines += [
        "s0,c,birads,4A,5,40,✔",
        "s1,c,birads,4A,9,50,✔",
        "s0,c,birads,4B,15,40,✔",
        "s1,c,birads,4B,14,45,✔",
        "s0,c,birads,4C,14,20,✔",
        "s1,c,birads,4C,18,25,✔",
        "s2,c,birads,4,20,90,✔",
    ]
    written = run_literature(tmp_path / "out", studies_path=_table(tmp_path, lines))
    names = {p.name for p in written}
    assert {"synthesis.csv", "studies_loso.csv", "prior_ess.csv", "literature.html", "forest_birads.png"} <= names
    loso = pd.read_csv(tmp_path / "out" / "studies_loso.csv")
    assert list(loso.columns) == list(LOSO_COLUMNS)
    ess = pd.read_csv(tmp_path / "out" / "prior_ess.csv")
    assert ess.columns[:2].tolist() == ["parameter", "ess"] and "robust_weight" in ess.columns
    assert (ess["ess"] > 0).all()
    syn = pd.read_csv(tmp_path / "out" / "synthesis.csv")
    four_b = syn[(syn["finding"] == "birads") & (syn["level"] == "4B")].iloc[0]
    assert "s2:4" in four_b["pooled_rows"]
    page = (tmp_path / "out" / "literature.html").read_text(encoding="utf-8")
    from microcalc import DISCLAIMER

    assert DISCLAIMER in page and "data:image/png;base64," in page
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left behind
