"""Populations of blank-site lesions: clinical (the published series), new-site (DDSM-like), a training site."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from microcalc.io.errors import LesionInputError
from microcalc.modelling import clinical as cl
from microcalc.modelling.predict import CLINICAL, NEW_SITE, probability_draws, resolve_population, with_site
from test_model import lesions  # tests/ is on sys.path: the canonical-frame builder of the model tests


@pytest.fixture(scope="module")
def series():
    return cl.clinical_series()


# -- resolving the population ----------------------------------------------------------------------


def test_population_and_site_resolve_to_one_choice():
    assert resolve_population("clinical") == CLINICAL
    assert resolve_population(None, "A") == "A" == resolve_population("A", "A")
    assert resolve_population(NEW_SITE) == NEW_SITE
    with pytest.raises(LesionInputError, match="not both"):
        resolve_population("clinical", "A")
    with pytest.raises(LesionInputError, match="blank"):
        resolve_population("  ")
    frame = lesions(birads=["4", "4"], site=[pd.NA, "B"])
    assert with_site(frame, NEW_SITE)["site"].isna().tolist() == [True, False]
    assert with_site(frame, CLINICAL)["site"].tolist() == ["clinical", "B"]


# -- what the literature says about a clinical series ------------------------------------------------


def test_clinical_series_comes_from_whole_partitions_of_the_studies(series):
    from microcalc.synthesis import meta
    from microcalc.synthesis import studies as st

    assert set(series.birads_studies) == {"chula_cmj59", "dmg_turkey", "jksr2009", "matrix2017", "menezes2018"}
    assert sum(series.birads_share.values()) == pytest.approx(1.0)
    assert series.birads_share["4"] > 0.7 and series.birads_lesions == 1862
    table = st.load_studies()
    rows, _ = st.likelihood_rows(table)
    syn = meta.synthesise(rows)
    overall = meta.summarise(syn.posteriors[("overall", "all")], syn.spec)
    assert series.rate_mean == pytest.approx(overall.predictive_mean, abs=1e-9)
    mu, tau = series.draws(20000)
    # the paired draws reproduce the MAP predictive mean of a new series
    assert cl.series_rate(mu, tau).mean() == pytest.approx(series.rate_mean, abs=0.005)
    again = series.draws(5)
    np.testing.assert_array_equal(again[0], series.draws(5)[0])  # fixed seed


def test_offset_solves_its_equation_on_a_known_case():
    from scipy.optimize import brentq
    from scipy.special import expit

    rng = np.random.default_rng(3)
    logits = rng.normal(-0.5, 1.5, size=(40, 6))
    weights = rng.uniform(0.1, 1.0, size=40)
    spread = np.linspace(0.2, 1.5, 6)
    target = np.linspace(0.1, 0.6, 6)
    delta = cl.solve_offset(logits, weights, spread, target)
    x, w = np.polynomial.hermite_e.hermegauss(9)
    w = w / w.sum()
    for d in range(6):

        def f(t, d=d):
            return (
                sum(wk * (weights @ expit(logits[:, d] + t + xk * spread[d])) for wk, xk in zip(w, x)) / weights.sum()
                - target[d]
            )

        assert delta[d] == pytest.approx(brentq(f, -20, 20, xtol=1e-12), abs=1e-7)


def test_clinical_donors_take_the_series_birads_mix(small_fit, series):
    donors = cl.clinical_donors(small_fit.donors, series)
    group = donors["birads"].astype("string").map({"3": "3", "4": "4", "5": "5"}, na_action="ignore")
    biopsied = group.notna().to_numpy()
    shares = donors[biopsied].groupby(group[biopsied])["weight"].sum() / donors.loc[biopsied, "weight"].sum()
    for g, share in series.birads_share.items():
        assert shares[g] == pytest.approx(share)
    assert (donors.loc[donors["birads"].isin(["0", "2"]).fillna(False), "weight"] == 0).all()
    four = donors[donors["birads"] == "4"]
    ratio = four["weight"] / four["count"]
    assert np.allclose(ratio, ratio.iloc[0])  # uniform within a category: P(other findings | BI-RADS) kept
    assert (donors["count"] == small_fit.donors["count"]).all()


# -- predictions for a clinical population -----------------------------------------------------------


def test_clinical_case_mix_averages_to_the_literature_rate(small_fit):
    """The defining property, through the public prediction path: the clinical case mix, predicted for the
    clinical population, averages to the literature's rate for a new series in every draw."""
    from microcalc.modelling.clinical import cached_population, case_mix_frame

    params = small_fit.params()
    pop = cached_population(params, small_fit.priors, small_fit.sites, small_fit.donors)
    frame, weights = case_mix_frame(pop.donors)
    draws = probability_draws(with_site(frame, CLINICAL), params, small_fit.priors, small_fit.sites, small_fit.donors)
    np.testing.assert_allclose(weights @ draws / weights.sum(), pop.target, rtol=1e-7)
    assert 0.25 < pop.target.mean() < 0.5


def test_known_sites_ignore_the_population_and_site_means_population(small_fit):
    frame = lesions(morphology=["amorphous", "fine_linear"], birads=["4", "5"], site=["A", "C"])
    a = small_fit.predict(frame, population=CLINICAL)
    b = small_fit.predict(frame, population=NEW_SITE)
    np.testing.assert_allclose(a["p_malignant"], b["p_malignant"], rtol=1e-12)
    blank = frame.assign(site=pd.NA)
    np.testing.assert_array_equal(
        small_fit.predict(blank, population="A")["p_malignant"], small_fit.predict(blank, site="A")["p_malignant"]
    )
    new = probability_draws(blank, small_fit.params(), small_fit.priors, small_fit.sites, small_fit.donors)
    np.testing.assert_array_equal(small_fit.predict(blank, population=NEW_SITE)["p_malignant"], new.mean(axis=1))
    clinical = small_fit.predict(blank, population=CLINICAL)
    assert not np.allclose(clinical["p_malignant"], new.mean(axis=1))
    assert clinical["site"].tolist() == ["clinical", "clinical"]


def test_clinical_single_findings_in_the_robust_published_ranges(small_fit):
    """BI-RADS 4 15-40%, grouped cluster 20-50%, 4A < 4B < 4C < 5 and BI-RADS 2 < 3% for the clinical population."""
    from microcalc.reporting.headline import check_means, clinical_checks

    means = check_means(small_fit.params(), small_fit.priors, small_fit.sites, small_fit.donors, CLINICAL)
    checks = clinical_checks(means).set_index("check")["holds"]
    assert len(checks) == 33
    for name in (
        "birads: 4",
        "headline: biopsied grouped cluster",
        "birads: 2",
        "birads: 4A < birads: 4B < birads: 4C < birads: 5",
        "change: stable < change: new",
    ):
        assert checks[name], name
    new = check_means(small_fit.params(), small_fit.priors, small_fit.sites, small_fit.donors, NEW_SITE)
    # the DDSM enrichment (sites 14-73% malignant, an archive of cancers) is gone from the clinical answer
    assert means[("headline", "biopsied grouped cluster")] < new[("headline", "biopsied grouped cluster")]


def test_cli_population_equals_fit_predict(small_fit, small_fit_path, tmp_path, capsys):
    from microcalc.cli import main

    cases = tmp_path / "cases.csv"
    cases.write_text("lesion_id,morphology,birads,site\na,amorphous,4,\nb,fine_linear,,A\nc,,2,\n", encoding="utf-8")
    out = tmp_path / "pred.csv"
    assert main(["predict", str(small_fit_path), str(cases), "--out", str(out), "--population", "clinical"]) == 0
    got = pd.read_csv(out)
    from microcalc.io.readers import read_lesions

    expected = small_fit.predict(read_lesions(cases), population="clinical")
    np.testing.assert_allclose(got["p_malignant"], expected["p_malignant"], rtol=1e-12)
    np.testing.assert_allclose(got["ci_upper"], expected["ci_upper"], rtol=1e-12)
    capsys.readouterr()
    assert (
        main(
            [
                "predict",
                str(small_fit_path),
                str(cases),
                "--out",
                str(tmp_path / "x.csv"),
                "--population",
                "clinical",
                "--site",
                "A",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not both" in err and "Traceback" not in err
    assert not (tmp_path / "x.csv").exists()


def test_report_shows_the_clinical_answer_with_the_ddsm_one_beside_it(small_fit, tmp_path):
    from microcalc.reporting.figures import percent
    from microcalc.reporting.headline import headline_table
    from microcalc.reporting.report import report_content, write_report

    content = report_content(small_fit, tmp_path)
    assert content.population == CLINICAL  # the default
    ddsm = headline_table(small_fit.params(), small_fit.priors, small_fit.sites, small_fit.donors, population=NEW_SITE)
    np.testing.assert_allclose(content.ddsm_headline["mean"], ddsm["mean"], rtol=1e-12)
    clinical = headline_table(
        small_fit.params(), small_fit.priors, small_fit.sites, small_fit.donors, population=CLINICAL
    )
    np.testing.assert_allclose(content.headline["mean"], clinical["mean"], rtol=1e-12)
    assert content.headline["level"].iloc[0] == "biopsied grouped cluster, clinical population"
    new_site_row = content.sites[content.sites["site"] == "new site"].iloc[0]
    assert new_site_row["mean"] == pytest.approx(ddsm["mean"].iloc[0], rel=1e-12)
    (md,) = write_report(small_fit, tmp_path / "r", fmt="md")
    text = md.read_text(encoding="utf-8")
    assert "in a clinical population" in text and "new DDSM-like site" in text
    assert f"At a new site like DDSM's (an archive enriched for cancer) it is {percent(ddsm['mean'].iloc[0])}" in text
    (plain,) = write_report(small_fit, tmp_path / "n", fmt="md", population=NEW_SITE)
    text = plain.read_text(encoding="utf-8")
    assert "new DDSM-like site" not in text and "at a new site, the model" in text


def test_clinical_answers_do_not_depend_on_the_intercept(small_fit):
    """The clinical offset re-anchors the case-mix average to the literature, so moving the model's intercept
    by any constant leaves clinical answers unchanged, while it moves the answers at a new DDSM-like site."""
    frame = lesions(morphology=["amorphous", pd.NA], distribution=["grouped", "segmental"], birads=[pd.NA, "4"])
    params = small_fit.params()
    moved = {**params, "intercept": params["intercept"] + 0.7}
    for population, same in ((CLINICAL, True), (NEW_SITE, False)):
        a = probability_draws(with_site(frame, population), params, small_fit.priors, small_fit.sites, small_fit.donors)
        b = probability_draws(with_site(frame, population), moved, small_fit.priors, small_fit.sites, small_fit.donors)
        assert np.allclose(a, b, rtol=0, atol=1e-9) == same, population


def test_evaluate_scores_the_population_asked_for(small_fit, small_fit_path, ddsm, tmp_path):
    import json

    from microcalc.cli import main

    test = ddsm.sample(80, random_state=5).drop(columns=["site"])
    path = tmp_path / "test.csv"
    test.to_csv(path, index=False)
    losses = {}
    for population in (CLINICAL, NEW_SITE):
        out = tmp_path / population
        assert (
            main(["-q", "evaluate", str(small_fit_path), str(path), "--out", str(out), "--population", population]) == 0
        )
        losses[population] = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["log_loss"]
        p = small_fit.predict(test, population=population)["p_malignant"].to_numpy()
        y = test["malignant"].to_numpy(dtype=float)
        assert losses[population] == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), rel=1e-9)
    assert losses[CLINICAL] != losses[NEW_SITE]
