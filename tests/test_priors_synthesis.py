"""priors/synthesis.toml (issue 15): level centres derived from the studies table, a learned
marginal-to-conditional scale, robust (Student-t) level deviations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from microcalc.io.errors import LesionInputError
from microcalc.priors import load_priors, scenario_paths
from microcalc.synthesis import priorfile


@pytest.fixture(scope="module")
def synthesis():
    return load_priors(scenario_paths()["synthesis"])


def test_stored_centres_match_a_fresh_synthesis_of_the_table(synthesis):
    assert synthesis.level_centres == "studies"
    assert priorfile.check_prior_file(synthesis) == []
    reference, levels = priorfile.derived_centres()
    # levels with >= 2 studies are derived and say so; the rest are marked hand-set
    for (descriptor, level), derived in levels.items():
        lp = getattr(synthesis, descriptor).levels[level]
        assert lp.origin == "studies" and lp.ppv == derived.ppv and len(derived.studies) >= 2
        assert ", ".join(derived.studies[:1]) in lp.source
    hand = [
        lp
        for d in ("morphology", "distribution")
        for lp in getattr(synthesis, d).levels.values()
        if lp.origin != "studies"
    ]
    assert hand and all(lp.source.startswith(priorfile.HAND_SET_NOTE) for lp in hand)
    assert {"round", "dystrophic", "punctate"} <= {lp.level for lp in hand}  # one study or none
    assert {("morphology", "amorphous"), ("morphology", "fine_pleomorphic"), ("distribution", "grouped")} <= set(levels)
    assert synthesis.reference_ppv == reference.ppv and 0.2 < reference.ppv < 0.5


def test_within_study_contrasts_and_their_random_effects_pooling():
    """Contrasts are taken against the study's own lesions of the finding, so a series selected to be
    three times as malignant in odds at every level moves a level's contrast far less than its logit rate."""
    from microcalc.synthesis.studies import StudyRow

    def rows(study, counts):
        return [StudyRow(study, study, "morphology", lvl, y, n, ((lvl, 1.0),)) for lvl, (y, n) in counts.items()]

    plain = {"amorphous": (2000, 10000), "fine_linear": (6000, 10000)}
    selected = {"amorphous": (4286, 10000), "fine_linear": (8182, 10000)}  # odds x 3
    c = priorfile.within_study_contrasts(rows("a", plain) + rows("b", selected))
    a, b = (x.contrast for x in c[("morphology", "amorphous")])
    assert abs(a - b) < 0.25 * np.log(3.0)
    assert priorfile.within_study_contrasts(rows("c", {"amorphous": (20, 100)})) == {}  # one level: no contrast
    mean, se, tau = priorfile.random_effects([0.5, 0.5, 0.5], [0.1, 0.2, 0.1])
    assert mean == pytest.approx(0.5) and tau == 0.0 and se == pytest.approx((10 + 5 + 10) ** -0.5)
    _, spread, tau = priorfile.random_effects([-1.0, 1.0], [0.01, 0.01])
    assert tau > 0.9 and spread > 0.6  # disagreeing studies: between-study SD, wide SE


def test_refresh_is_idempotent_and_a_stale_number_is_caught(synthesis):
    path = scenario_paths()["synthesis"]
    text = path.read_text(encoding="utf-8")
    assert priorfile.refresh_text(text) == text
    from microcalc.priors import prior_set_from_text

    amorphous = synthesis.morphology.levels["amorphous"].ppv
    stale = prior_set_from_text(text.replace(f"ppv = {amorphous}\n", "ppv = 0.27\n", 1))
    assert any("amorphous" in p for p in priorfile.check_prior_file(stale))
    assert priorfile.refresh_text(text.replace(f"ppv = {amorphous}\n", "ppv = 0.27\n", 1)) == text


def test_default_centres_are_the_published_figures_updated_by_the_table():
    """default.toml: its derived levels match a fresh synthesis, and a level with a pooled published figure
    (Rominger 2012) gets that figure's contrast updated by the table's series, precision-weighted, without
    the series the figure may already pool; a level with a figure but under two series stays hand-set."""
    from microcalc.priors import default_priors_path
    from microcalc.synthesis import studies as st

    default = load_priors()
    assert default.level_centres == "studies" and priorfile.check_prior_file(default) == []
    text = default_priors_path().read_text(encoding="utf-8")
    assert priorfile.refresh_text(text) == text
    reference, levels = priorfile.derived_centres(published=priorfile.published_figures(default))
    _, table_only = priorfile.derived_centres()
    m = math.log(reference.ppv / (1 - reference.ppv))
    fine_linear = default.morphology.levels["fine_linear"]
    figure = fine_linear.published
    assert figure is not None and "Rominger 2012" in figure.cite and fine_linear.origin == "studies"
    c0, se0 = priorfile.published_contrast(figure, m)
    c1 = (
        math.log(table_only[("morphology", "fine_linear")].ppv / (1 - table_only[("morphology", "fine_linear")].ppv))
        - m
    )
    se1 = table_only[("morphology", "fine_linear")].centre_sd
    c, se = priorfile.combine((c0, se0), (c1, se1))
    assert min(c0, c1) < c < max(c0, c1) and se < min(se0, se1)
    assert fine_linear.ppv == pytest.approx(1 / (1 + math.exp(-(m + c))), abs=1e-4)
    assert fine_linear.centre_sd == pytest.approx(se, abs=1e-3)
    # the overlapping series is left out of the update (it has amorphous rows) and named in the provenance
    amorphous = levels[("morphology", "amorphous")]
    assert "burnside2007" not in amorphous.studies and "burnside2007" in table_only[("morphology", "amorphous")].studies
    assert "burnside2007 left out" in default.morphology.levels["amorphous"].source
    punctate = default.morphology.levels["punctate"]
    assert punctate.published is not None and punctate.origin == "hand-set" and punctate.ppv == punctate.published.ppv
    # without a published figure a level is the table alone (the distribution levels' sources are table series)
    assert levels[("distribution", "grouped")] == table_only[("distribution", "grouped")]
    rows, _ = st.likelihood_rows(st.load_studies())
    assert len(priorfile.within_study_contrasts(rows)[("morphology", "amorphous")]) == len(amorphous.studies) + 1


def test_a_published_figure_must_bracket_its_rate():
    from microcalc.priors import default_priors_path, prior_set_from_text

    text = default_priors_path().read_text(encoding="utf-8")
    bad = text.replace("ppv = 0.78, lower = 0.68", "ppv = 0.78, lower = 0.80", 1)
    with pytest.raises(ValueError, match="fine_linear.published"):
        prior_set_from_text(bad)


def test_scale_is_a_beta_parameter_and_the_default_keeps_its_number(synthesis):
    assert synthesis.scale_is_random and synthesis.conditional_scale.describe() == "Beta(3, 2)"
    assert synthesis.scale_value == pytest.approx(0.6)
    assert synthesis.level_deviation is not None and synthesis.level_deviation.nu == 4.0
    default = load_priors()
    assert not default.scale_is_random and default.scale_value == 0.6 and default.level_deviation is None
    contrast = synthesis.literature_contrast("morphology")
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    assert contrast["fine_linear"] == pytest.approx(
        logit(synthesis.morphology.levels["fine_linear"].ppv) - logit(synthesis.reference_ppv)
    )


@pytest.mark.parametrize(
    "edit, message",
    [
        (("alpha = 3.0", "alpha = -1.0"), "positive"),
        (
            ('[conditional_scale]\ndistribution = "Beta"', '[conditional_scale]\ndistribution = "Normal"\nsigma = 1.0'),
            "Beta",
        ),
        (("nu = 4.0", "nu = 0.0"), "nu must be positive"),
        (('birads_steps = "studies"', 'birads_steps = "study"'), "meta.birads_steps must be one of hand-set, studies"),
    ],
)
def test_malformed_synthesis_entries_are_refused(tmp_path, edit, message):
    text = scenario_paths()["synthesis"].read_text(encoding="utf-8")
    assert edit[0] in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(LesionInputError, match=message):
        load_priors(path)


def test_model_centres_are_the_scale_times_the_contrast(ddsm, synthesis):
    """effect = s * contrast + shift[group] + sd_k * z, with s the conditional_scale parameter."""
    from microcalc.io import schema
    from microcalc.modelling.fitting import training_patterns
    from microcalc.modelling.model import build_model

    sites, patterns = training_patterns(ddsm, synthesis)
    m = build_model(patterns, synthesis, sites)
    assert "conditional_scale" in {rv.name for rv in m.free_RVs}
    names = ["conditional_scale", "morphology_group_shift", "morphology_sd", "morphology_z", "morphology_effect"]
    rng = np.random.default_rng(4)
    point = {k: rng.normal(0.0, 0.7, np.shape(v)) for k, v in m.initial_point().items()}
    graphs = m.replace_rvs_by_values([m[n] for n in names])
    s, shift, sd, z, effect = m.compile_fn(graphs, inputs=m.value_vars, on_unused_input="ignore")(point)
    contrast = synthesis.literature_contrast("morphology")
    group = [("benign", "suspicious").index(synthesis.morphology.levels[lvl].group) for lvl in schema.MORPHOLOGY]
    from microcalc.modelling.model import level_scale

    u = np.array([synthesis.centre_sd("morphology")[lvl] for lvl in schema.MORPHOLOGY])
    expected = s * np.array([contrast[lvl] for lvl in schema.MORPHOLOGY]) + shift[group] + level_scale(sd, s, u) * z
    np.testing.assert_allclose(effect, expected, rtol=1e-12)
    assert 0.0 < s < 1.0


def test_student_t_deviations_have_heavier_tails_than_normal(ddsm, synthesis):
    import pymc as pm

    from microcalc.modelling.fitting import training_patterns
    from microcalc.modelling.model import build_model

    sites, patterns = training_patterns(ddsm, synthesis)
    with build_model(patterns, synthesis, sites):
        draws = pm.sample_prior_predictive(draws=4000, var_names=["morphology_z", "conditional_scale"], random_seed=3)
    z = draws["prior"]["morphology_z"].values.ravel()
    assert np.mean(np.abs(z) > 3) > 5 * 0.0027  # t(4): P(|z| > 3) = 0.040; normal 0.0027
    s = draws["prior"]["conditional_scale"].values.ravel()
    assert 0.0 < s.min() and s.max() < 1.0 and s.mean() == pytest.approx(0.6, abs=0.02)


def test_level_sd_adds_the_literature_uncertainty_of_each_centre(ddsm, synthesis):
    """sd_k = sqrt(sd^2 + (s * centre_sd_k)^2): fine linear's contrast (2 studies, 63 lesions) binds less
    than fine pleomorphic's (the same 2 studies, 168 lesions); checked on the built model's effect at a point."""
    from microcalc.io import schema
    from microcalc.modelling.fitting import training_patterns
    from microcalc.modelling.model import build_model, level_scale

    u = synthesis.centre_sd("morphology")
    assert u["fine_linear"] > u["fine_pleomorphic"] > 0 and u["punctate"] == pytest.approx(0.217)
    _, levels = priorfile.derived_centres()
    assert u["amorphous"] == levels[("morphology", "amorphous")].centre_sd
    default = load_priors().centre_sd("morphology")
    assert default["rim"] == 0.0 and default["fine_linear"] > 0.0  # default: hand-set benign forms taken as exact
    sites, patterns = training_patterns(ddsm, synthesis)
    m = build_model(patterns, synthesis, sites)
    names = ["conditional_scale", "morphology_group_shift", "morphology_sd", "morphology_z", "morphology_effect"]
    point = {k: np.random.default_rng(8).normal(0.0, 0.7, np.shape(v)) for k, v in m.initial_point().items()}
    graphs = m.replace_rvs_by_values([m[n] for n in names])
    s, shift, sd, z, effect = m.compile_fn(graphs, inputs=m.value_vars, on_unused_input="ignore")(point)
    contrast = synthesis.literature_contrast("morphology")
    group = [("benign", "suspicious").index(synthesis.morphology.levels[lvl].group) for lvl in schema.MORPHOLOGY]
    sigma = level_scale(sd, s, np.array([u[lvl] for lvl in schema.MORPHOLOGY]))
    expected = s * np.array([contrast[lvl] for lvl in schema.MORPHOLOGY]) + shift[group] + sigma * z
    np.testing.assert_allclose(effect, expected, rtol=1e-12)


def test_a_fit_with_the_synthesis_priors_learns_the_scale_and_reports_it(ddsm, tmp_path):
    """End to end on the bundled data (small draws): the scale is learned (posterior narrower than its
    Beta(3, 2) prior), stored with its prior draws, shown prior vs posterior, and survives save/load."""
    import microcalc
    from microcalc.modelling.fitting import fit
    from microcalc.reporting.report import prior_posterior_table

    f = fit(ddsm, priors=scenario_paths()["synthesis"], draws=300, tune=300, chains=2, seed=3)
    post, prior = f.idata["posterior"]["conditional_scale"].values, f.idata["prior"]["conditional_scale"].values
    assert post.std() < 0.9 * prior.std() and 0.0 < post.min() and post.max() < 1.0
    table = prior_posterior_table(f).set_index("parameter")
    assert table.loc["conditional_scale", "sd_ratio"] < 0.9
    path = tmp_path / "fit.nc"
    f.save(path)
    again = microcalc.load(path)
    assert again.priors.scale_is_random and again.priors.level_deviation.nu == 4.0
    cases = ddsm.head(20)
    np.testing.assert_allclose(
        again.predict(cases)["p_malignant"].to_numpy(), f.predict(cases)["p_malignant"].to_numpy()
    )


def test_birads_steps_are_the_predictive_of_the_series_within_study_steps(synthesis):
    """synthesis.toml's BI-RADS steps 4A->4B, 4B->4C, 4C->5 and category-4 mix come from the table: a step's
    LogNormal has the mean and SD of the random-effects predictive of a new population's step; steps with
    under two series (3->4A, 2->3) stay hand-set, and a stale number is caught. default.toml keeps its
    hand-set steps (birads_steps = "hand-set"), which the check then leaves alone."""
    from microcalc.priors import prior_set_from_text
    from microcalc.synthesis import birads_steps as bs

    steps = bs.derived_steps()
    assert synthesis.birads_steps_origin == "studies"
    assert set(steps) == {"step_4A_to_4B", "step_4B_to_4C", "step_4C_to_5"} == set(synthesis.birads_derived)
    for name, step in steps.items():
        prior = synthesis.birads_steps[name]
        assert prior.distribution == "LogNormal" and (prior.mu, prior.sigma) == (step.mu, step.sigma)
        assert prior.mean() == pytest.approx(step.mean, rel=2e-3)
        lo, hi = (min(s.step for s in step.studies), max(s.step for s in step.studies))
        assert lo < step.mean < hi  # pooled between the series
    for name in ("step_3_to_4A", "step_2_to_3"):
        assert synthesis.birads_steps[name].source.startswith(priorfile.HAND_SET_NOTE)
    mix, source = bs.category4_mix()  # the file keeps its own mix; the check holds it near the table's
    assert "321/366/238" in source and "matrix2017" in source
    assert mix["4A"] == pytest.approx((285 + 36) / (285 + 327 + 208 + 36 + 39 + 30), abs=1e-3)
    assert all(abs(synthesis.category4_mix[c] - mix[c]) <= bs.MIX_TOLERANCE for c in mix)
    text_of_synthesis = scenario_paths()["synthesis"].read_text(encoding="utf-8")
    far = text_of_synthesis.replace('"4A" = 0.348, "4B" = 0.399', '"4A" = 0.398, "4B" = 0.349', 1)
    assert far != text_of_synthesis and any("category4_mix" in p for p in bs.check_steps(prior_set_from_text(far)))
    text = scenario_paths()["synthesis"].read_text(encoding="utf-8")
    stale = text.replace(f"mu = {steps['step_4C_to_5'].mu}\n", "mu = 0.735\n", 1)
    assert stale != text and any("step_4C_to_5" in p for p in priorfile.check_prior_file(prior_set_from_text(stale)))
    assert priorfile.refresh_text(stale) == text
    default = load_priors()
    assert default.birads_steps_origin == "hand-set" and default.birads_derived == ()
    assert bs.check_steps(default) == [] and default.birads_steps["step_4C_to_5"].mu != steps["step_4C_to_5"].mu


def test_step_predictive_widens_with_disagreeing_series_and_keeps_agreeing_ones_near_their_error():
    from microcalc.synthesis import birads_steps as bs

    mean, sd, tau = bs.predictive([1.0, 1.0], [0.01, 0.01])
    assert mean == pytest.approx(1.0) and 0.07 < sd < 0.6 and tau < 0.5  # HalfNormal(0.5) tau still allows spread
    _, sd_far, tau_far = bs.predictive([0.0, 2.0], [0.01, 0.01])
    assert sd_far > 2 * sd and tau_far > tau
    mu, sigma = bs.lognormal_moments(1.5, 0.5)
    draws = np.random.default_rng(1).lognormal(mu, sigma, 200_000)
    assert draws.mean() == pytest.approx(1.5, rel=0.01) and draws.std() == pytest.approx(0.5, rel=0.02)
    with pytest.raises(ValueError, match="positive"):
        bs.lognormal_moments(-0.2, 0.5)


def test_intercept_is_the_overall_map_mean_plus_the_within_study_contrast_of_4b(synthesis):
    """synthesis.toml's intercept comes from the table: m + c_4B, c_4B pooled over the series that report
    4B beside their other categories (Eur J Radiol 2017, Chulalongkorn), SD from the SEs of m and c_4B;
    refresh writes it, the check catches a stale one, and default.toml's hand-set intercept is left alone."""
    from microcalc.priors import prior_set_from_text
    from microcalc.synthesis import intercept as ic

    derived = ic.derived_intercept()
    assert synthesis.intercept_origin == "studies" and synthesis.intercept.distribution == "Normal"
    assert (synthesis.intercept.mu, synthesis.intercept.sigma) == (derived.mu, derived.sigma)
    assert {s.study_id for s in derived.studies} == {"matrix2017", "chula_cmj59"}
    matrix = next(s for s in derived.studies if s.study_id == "matrix2017")
    assert (matrix.malignant, matrix.total, matrix.finding_malignant, matrix.finding_total) == (88, 327, 274, 849)
    assert matrix.contrast == pytest.approx(math.log(88.5 / 239.5) - math.log(274.5 / 575.5))
    lo, hi = sorted(s.contrast for s in derived.studies)
    assert lo < derived.contrast < hi < 0  # 4B below each series' own rate, pooled between them
    reference_logit = math.log(synthesis.reference_ppv / (1 - synthesis.reference_ppv))
    assert derived.mu == pytest.approx(reference_logit + derived.contrast, abs=2e-3)
    assert derived.sigma == pytest.approx(math.hypot(derived.overall_se, derived.contrast_se), abs=1e-3)
    assert derived.sigma > max(derived.overall_se, derived.contrast_se)
    text = scenario_paths()["synthesis"].read_text(encoding="utf-8")
    stale = text.replace(f"mu = {derived.mu}\n", "mu = -0.693\n", 1)
    assert stale != text and any("intercept" in p for p in priorfile.check_prior_file(prior_set_from_text(stale)))
    assert priorfile.refresh_text(stale) == text
    default = load_priors()
    assert default.intercept_origin == "hand-set" and ic.check_intercept(default) == []
    assert default.intercept.mu != derived.mu


@pytest.mark.parametrize(
    "kind, draw",
    [
        (dict(distribution="Normal", mu=-0.7, sigma=0.4), lambda g: g.normal(-0.7, 0.4, 400_000)),
        (dict(distribution="LogNormal", mu=0.36, sigma=0.44), lambda g: g.lognormal(0.36, 0.44, 400_000)),
        (dict(distribution="HalfNormal", mu=0.0, sigma=1.5), lambda g: np.abs(g.normal(0.0, 1.5, 400_000))),
        (dict(distribution="Beta", mu=0.0, sigma=0.0, alpha=3.0, beta=2.0), lambda g: g.beta(3.0, 2.0, 400_000)),
    ],
)
def test_prior_mean_and_sd_match_draws(kind, draw):
    from microcalc.priors.specs import Prior

    prior = Prior(**kind)
    x = draw(np.random.default_rng(3))
    assert prior.mean() == pytest.approx(x.mean(), rel=0.01, abs=2e-3)
    assert prior.sd() == pytest.approx(x.std(), rel=0.01)
