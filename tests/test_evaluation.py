"""Evaluation and cross-validation: metrics.json equals what `microcalc predict` output gives; folds; LOO."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln

from microcalc.checks import metrics
from microcalc.checks.crossval import VARIANTS, case_folds, lesion_log_likelihood, lesion_loo, run_crossval, site_folds
from microcalc.checks.evaluation import BAND_DRAWS, FIGURES, evaluate_file
from microcalc.cli import main
from microcalc.io.errors import LesionInputError
from microcalc.io.readers import read_lesions
from microcalc.modelling.design import aggregate, encode

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def evaluated(small_fit_path, cbis_path, tmp_path_factory):
    """`microcalc evaluate` and `microcalc predict` run on the same fit and CBIS-DDSM test file."""
    out = tmp_path_factory.mktemp("evaluate")
    assert main(["-q", "evaluate", str(small_fit_path), str(cbis_path), "--out", str(out / "eval")]) == 0
    assert main(["-q", "predict", str(small_fit_path), str(cbis_path), "--out", str(out / "pred.csv")]) == 0
    return out / "eval", pd.read_csv(out / "pred.csv")


def test_metrics_json_equals_metrics_of_predict_output(evaluated, cbis_path):
    folder, predictions = evaluated
    written = json.loads((folder / "metrics.json").read_text())
    truth = read_lesions(cbis_path)["malignant"].to_numpy(dtype=float)
    p = predictions["p_malignant"].to_numpy()
    assert written["n"] == len(p) == 21
    assert written["log_loss"] == pytest.approx(metrics.log_loss(truth, p), rel=1e-9)
    assert written["brier"] == pytest.approx(metrics.brier(truth, p), rel=1e-9)
    assert written["auc"] == pytest.approx(metrics.auc(truth, p), rel=1e-9)
    slope, intercept = metrics.calibration(truth, p)
    assert written["calibration_slope"] == pytest.approx(slope, rel=1e-9)
    assert written["calibration_intercept"] == pytest.approx(intercept, rel=1e-9, abs=1e-12)


def test_interval_coverage_is_recomputable_from_the_draws(evaluated, small_fit, cbis_path):
    folder, _ = evaluated
    written = json.loads((folder / "metrics.json").read_text())
    frame = read_lesions(cbis_path)
    draws = small_fit.probability_draws(frame, max_draws=BAND_DRAWS)
    table = metrics.reliability_bins(frame["malignant"].to_numpy(dtype=float), draws)
    assert written["interval_coverage"] == pytest.approx(metrics.interval_coverage(table))
    assert 0.0 <= written["interval_coverage"] <= 1.0


def test_evaluate_writes_the_three_figures(evaluated):
    folder, _ = evaluated
    for name in FIGURES.values():
        assert (folder / name).read_bytes()[:8] == PNG
    assert json.loads((folder / "metrics.json").read_text(encoding="utf-8"))["n"] == 21


def test_test_file_without_outcome_is_refused(small_fit_path, write_csv, tmp_path, capsys):
    path = write_csv("lesion_id,morphology,distribution,birads\nL1,amorphous,grouped,4\n", "no_outcome.csv")
    with pytest.raises(LesionInputError, match="no_outcome.csv.*outcome"):
        evaluate_file(small_fit_path, path, tmp_path / "out")
    assert main(["evaluate", str(small_fit_path), str(path), "--out", str(tmp_path / "out")]) == 2
    assert "no_outcome.csv" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_case_folds_keep_each_woman_in_one_fold(ddsm):
    fold = case_folds(ddsm, 5, seed=3)
    per_woman = pd.Series(fold).groupby(ddsm["patient_id"].to_numpy()).nunique()
    assert (per_woman == 1).all()
    sizes = np.bincount(fold)
    assert len(sizes) == 5 and sizes.max() - sizes.min() <= 10  # balanced: about 123 lesions each


def test_site_folds_leave_one_site_out(ddsm):
    fold, names = site_folds(ddsm)
    assert names == ["A", "B", "C", "D"]
    assert (ddsm["site"].to_numpy()[fold == 3] == "D").all()


def test_lesion_log_likelihood_matches_the_binomial_likelihood_of_the_fit(small_fit, ddsm):
    # per draw, the Bernoulli terms of all lesions = the fit's binomial pattern terms minus log C(n, k)
    lesion = lesion_log_likelihood(small_fit, ddsm).sum("lesion").values
    pattern = small_fit.idata["log_likelihood"]["malignant"].sum("pattern").values
    patterns = aggregate(encode(ddsm, small_fit.priors, small_fit.sites), ddsm["malignant"].to_numpy(float))
    n, k = patterns.trials, patterns.malignant
    log_choose = float(np.sum(gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)))
    np.testing.assert_allclose(lesion, pattern - log_choose, rtol=1e-8)


def test_loo_per_lesion(small_fit, ddsm):
    loo = lesion_loo(small_fit, ddsm)
    assert loo["n"] == 617 and loo["p_loo"] > 0
    assert 0.3 < loo["loo_log_loss"] < 0.7 and loo["se"] > 0


def test_crossval_smoke(ddsm, tmp_path):
    frame = ddsm.sample(160, random_state=5).reset_index(drop=True)
    keep = tuple(v for v in VARIANTS if v.name in ("literature", "birads_blank", "base_rate"))
    table = run_crossval(
        frame,
        tmp_path,
        by="case",
        folds=2,
        draws=100,
        tune=100,
        chains=2,
        seed=2,
        say=lambda s: None,
        variants=keep,
        loo=False,
    )
    assert table["model"].tolist() == ["literature", "birads_blank", "base_rate"]
    assert (table["n"] == 160).all()
    predictions = pd.read_csv(tmp_path / "crossval_predictions.csv")
    counts = predictions.groupby("model")["lesion_id"].nunique()
    assert (counts == 160).all() and len(predictions) == 3 * 160  # every lesion predicted once per model
    assert table.set_index("model").loc["literature", "auc"] > 0.6
    assert (tmp_path / "crossval.png").read_bytes()[:8] == PNG


def test_crossval_compares_the_prior_file_it_is_given(ddsm, tmp_path):
    """--priors FILE: the 'literature' variants use that file (recorded in the settings), vague stays vague."""
    import json

    from microcalc.priors import scenario_paths

    keep = tuple(v for v in VARIANTS if v.name == "base_rate")  # no fit needed: checks the wiring only
    run_crossval(
        ddsm.head(80),
        tmp_path,
        by="case",
        folds=2,
        say=lambda s: None,
        variants=keep,
        loo=False,
        priors=scenario_paths()["synthesis"],
    )
    settings = json.loads((tmp_path / "crossval_settings.json").read_text())
    assert settings["priors"] == {"literature": "synthesis", "vague": "vague"}
