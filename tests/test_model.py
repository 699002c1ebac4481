"""The model: design encoding, ordering, prediction, blanks, save/load, priors, recovery, guard."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from microcalc.io import schema
from microcalc.io.errors import FitFileError
from microcalc.modelling.design import BIRADS_SLOTS, aggregate, birads_weights, encode, multi_hot
from microcalc.priors import load_priors
from microcalc.reporting import literature
from microcalc.reporting.headline import headline_table


def lesions(**columns) -> pd.DataFrame:
    """A canonical frame with the given columns (lists of equal length), blanks elsewhere."""
    n = len(next(iter(columns.values())))
    frame = pd.DataFrame({c: pd.Series([pd.NA] * n, dtype=t) for c, t in schema.DTYPES.items()})
    frame["lesion_id"] = [f"L{i}" for i in range(n)]
    for col, values in columns.items():
        frame[col] = pd.Series(values, dtype=schema.DTYPES[col])
    return frame


# --- design -----------------------------------------------------------------------------------


def test_multi_hot_splits_weight_over_words():
    w = multi_hot(pd.Series(["amorphous|fine_pleomorphic", "rim", pd.NA], dtype="string"), schema.MORPHOLOGY)
    assert w[0, schema.MORPHOLOGY.index("amorphous")] == 0.5
    assert w[0, schema.MORPHOLOGY.index("fine_pleomorphic")] == 0.5
    assert w[1].sum() == 1.0 and w[2].sum() == 0.0


def test_unsplit_birads_4_is_the_published_mixture():
    priors = load_priors()
    w = birads_weights(pd.Series(["4", "4B", "1", pd.NA], dtype="string"), priors.category4_mix)
    assert w[0, BIRADS_SLOTS.index("4A")] == pytest.approx(priors.category4_mix["4A"]) == pytest.approx(0.348)
    assert w[0, BIRADS_SLOTS.index("4C")] == pytest.approx(priors.category4_mix["4C"]) == pytest.approx(0.253)
    assert w[1, BIRADS_SLOTS.index("4B")] == 1.0
    assert w[2, BIRADS_SLOTS.index("2")] == 1.0
    assert w[3, BIRADS_SLOTS.index("not_recorded")] == 1.0
    np.testing.assert_allclose(w.sum(axis=1), 1.0)


def test_aggregation_keeps_every_lesion(ddsm):
    priors = load_priors()
    patterns = aggregate(encode(ddsm, priors, ("A", "B", "C", "D")), ddsm["malignant"].to_numpy(float))
    assert patterns.trials.sum() == len(ddsm) == 617
    assert patterns.malignant.sum() == 226
    assert len(patterns.trials) < 450  # age in 5-year bands keeps patterns well below lesions


# --- posterior ----------------------------------------------------------------------------------


def test_birads_effects_are_ordered_in_every_draw(small_fit):
    e = small_fit.idata["posterior"]["birads_effect"]
    order = [e.sel(birads_slot=s).values for s in ("2", "3", "4A", "4B", "4C", "5")]
    for lower, upper in zip(order, order[1:]):
        assert np.all(lower < upper)


def test_fit_reports_diagnostics(small_fit):
    c = small_fit.convergence
    assert np.isfinite(c.max_rhat) and np.isfinite(c.min_ess_bulk)
    assert c.chains == 2 and c.draws == 300
    assert {"log_likelihood", "log_prior", "prior"} <= set(small_fit.idata.children)


def test_predict_keeps_order_and_gives_intervals(small_fit, ddsm):
    sample = ddsm.sample(40, random_state=3)
    out = small_fit.predict(sample)
    assert list(out.columns[:5]) == ["lesion_id", "p_malignant", "ci_lower", "ci_upper", "p_above_2pct"]
    assert out["lesion_id"].tolist() == sample["lesion_id"].tolist()
    assert ((out["ci_lower"] <= out["p_malignant"]) & (out["p_malignant"] <= out["ci_upper"])).all()
    assert out["p_malignant"].between(0, 1).all() and out["p_above_2pct"].between(0, 1).all()
    wider = small_fit.predict(sample, ci=0.99)
    assert (wider["ci_upper"] - wider["ci_lower"] >= out["ci_upper"] - out["ci_lower"] - 1e-12).all()


def test_single_finding_predictions_sit_in_published_ranges(small_fit):
    table = headline_table(small_fit.params(), small_fit.priors, small_fit.sites, small_fit.donors)
    mean = {(g, lvl): m for g, lvl, m in zip(table["group"], table["level"], table["mean"])}
    for key, (low, high) in literature.CHECK_RANGES.items():
        assert low <= mean[key] <= high, f"{key}: {mean[key]:.3f} outside {low}-{high}"
    birads = [mean[("birads", b)] for b in ("4A", "4B", "4C", "5")]
    assert birads == sorted(birads)


def test_prior_predictive_rates_land_in_published_ranges(small_fit):
    """The priors alone (no data) already put every category in its published range."""
    prior = small_fit.params(group="prior")
    table = headline_table(prior, small_fit.priors, small_fit.sites, small_fit.donors)
    mean = {(g, lvl): m for g, lvl, m in zip(table["group"], table["level"], table["mean"])}
    for key, (low, high) in literature.CHECK_RANGES.items():
        assert low <= mean[key] <= high, f"prior {key}: {mean[key]:.3f} outside {low}-{high}"
    headline = table.iloc[0]
    assert literature.GROUPED_CLUSTER.low <= headline["mean"] <= literature.GROUPED_CLUSTER.high


# --- blanks -------------------------------------------------------------------------------------


def test_prior_only_covariates_move_risk_the_published_way(small_fit):
    base = dict(morphology=["amorphous"] * 2, distribution=["grouped"] * 2, birads=["4"] * 2)
    pairs = {
        "change": ["new", "stable"],
        "cluster_density": ["high", "low"],
        "size_variability": ["variable", "uniform"],
        "brca": [True, False],
        "age": [72.0, 38.0],
    }
    for col, values in pairs.items():
        p = small_fit.predict(lesions(**base, **{col: values}))["p_malignant"]
        assert p[0] > p[1], col


def test_blank_prior_only_covariate_equals_absent_column(small_fit):
    frame = lesions(morphology=["fine_pleomorphic"], birads=["4"])
    without = frame.drop(columns=["brca", "change", "hrt"])
    a = small_fit.predict(frame)["p_malignant"].iloc[0]
    b = small_fit.predict(without)["p_malignant"].iloc[0]
    assert a == pytest.approx(b, abs=1e-12)


@pytest.mark.parametrize("population", ["new-site", "clinical"])
def test_blank_birads_integrates_over_matching_lesions(small_fit, population):
    """Blank BI-RADS = average of the explicit categories, weighted as in matching training lesions (for the
    clinical population: the training lesions re-weighted to the clinical case mix)."""
    from microcalc.modelling.clinical import clinical_donors, clinical_series
    from microcalc.modelling.completion import complete

    frame = lesions(morphology=["fine_pleomorphic"], distribution=["grouped"], breast_density=["c"])
    blank = small_fit.predict(frame, population=population)["p_malignant"].iloc[0]
    donors = small_fit.donors if population == "new-site" else clinical_donors(small_fit.donors, clinical_series())
    expanded = complete(frame, donors, small_fit.sites)
    assert expanded["birads"].notna().any() and len(expanded) > 1
    explicit = small_fit.predict(
        expanded.drop(columns=["row", "weight"]).assign(lesion_id=lambda f: [f"E{i}" for i in range(len(f))]),
        population=population,
    )
    manual = float((explicit["p_malignant"].to_numpy() * expanded["weight"].to_numpy()).sum())
    assert blank == pytest.approx(manual, rel=1e-9)
    p2 = small_fit.predict(
        lesions(morphology=["fine_pleomorphic"], distribution=["grouped"], breast_density=["c"], birads=["2"]),
        population=population,
    )
    p5 = small_fit.predict(
        lesions(morphology=["fine_pleomorphic"], distribution=["grouped"], breast_density=["c"], birads=["5"]),
        population=population,
    )
    assert p2["p_malignant"].iloc[0] < blank < p5["p_malignant"].iloc[0]


def test_a_rare_distribution_borrows_from_all_lesions_not_from_regional_ones():
    """6 diffuse clusters are too few to complete from; the regional ones (the same "benign" prior group,
    but 3-33% malignant in biopsy series, against 0-3% for diffuse) must not stand in for them."""
    from microcalc.modelling.completion import complete, training_table

    rows = [("diffuse", "2")] * 3 + [("regional", "5")] * 20 + [("grouped", "4")] * 60 + [("grouped", "2")] * 20
    training = pd.DataFrame(
        {
            "morphology": pd.array(["punctate"] * len(rows), dtype="string"),
            "distribution": pd.array([d for d, _ in rows], dtype="string"),
            "birads": pd.array([b for _, b in rows], dtype="string"),
            "breast_density": pd.array([pd.NA] * len(rows), dtype="string"),
            "age": pd.array([pd.NA] * len(rows), dtype="Float64"),
            "site": pd.array(["A"] * len(rows), dtype="string"),
            "malignant": [0] * len(rows),
        }
    )
    expanded = complete(lesions(morphology=["punctate"], distribution=["diffuse"]), training_table(training), ("A",))
    share = expanded.groupby("birads")["weight"].sum()
    assert share.to_dict() == pytest.approx({"2": 23 / 103, "4": 60 / 103, "5": 20 / 103})  # all lesions' mix


# --- fit file -------------------------------------------------------------------------------------


def test_save_load_in_new_process_gives_identical_predictions(small_fit, small_fit_path, ddsm, tmp_path):
    cases = tmp_path / "cases.csv"
    ddsm.head(30).drop(columns=["malignant"]).to_csv(cases, index=False)
    out = tmp_path / "pred.csv"
    code = (
        "import microcalc, sys; f = microcalc.load(sys.argv[1]); "
        "f.predict(microcalc.read_lesions(sys.argv[2])).to_csv(sys.argv[3], index=False)"
    )
    subprocess.run([sys.executable, "-c", code, str(small_fit_path), str(cases), str(out)], check=True)
    again = pd.read_csv(out)
    here = small_fit.predict(ddsm.head(30))
    np.testing.assert_allclose(again["p_malignant"], here["p_malignant"], rtol=1e-12)
    np.testing.assert_allclose(again["ci_upper"], here["ci_upper"], rtol=1e-12)


def test_fit_file_from_another_format_version_is_refused(small_fit_path, tmp_path):
    import xarray as xr

    from microcalc.modelling.fitting import load

    tree = xr.open_datatree(small_fit_path, engine="h5netcdf").load()
    tree["microcalc"].attrs["format_version"] = 999
    old = tmp_path / "old.nc"
    tree.to_netcdf(old, engine="h5netcdf")
    with pytest.raises(FitFileError, match="format 999"):
        load(old)


@pytest.mark.parametrize("content", [b"", b"\x89HDF garbage", b"lesion_id\nA\n"])
def test_corrupt_fit_file_is_refused(tmp_path, content):
    from microcalc.modelling.fitting import load

    path = tmp_path / "bad.nc"
    path.write_bytes(content)
    with pytest.raises(FitFileError, match="bad.nc"):
        load(path)


# --- parameter recovery ---------------------------------------------------------------------------


def _contrasts(params: dict) -> dict[str, np.ndarray]:
    """Identifiable contrasts: descriptor effects against the commonest level, BI-RADS between slots.

    Single BI-RADS slots and the intercept are not identified separately in DDSM (it has only an
    unsplit 4), so recovery is checked on differences the data do inform.
    """
    m = {k: params["morphology_effect"][schema.MORPHOLOGY.index(k)] for k in schema.MORPHOLOGY}
    d = {k: params["distribution_effect"][schema.DISTRIBUTION.index(k)] for k in schema.DISTRIBUTION}
    b = {k: params["birads_effect"][BIRADS_SLOTS.index(k)] for k in BIRADS_SLOTS}
    return {
        **{
            f"morphology {k} - fine_pleomorphic": m[k] - m["fine_pleomorphic"]
            for k in ("amorphous", "punctate", "fine_linear", "rim")
        },
        **{f"distribution {k} - grouped": d[k] - d["grouped"] for k in ("segmental", "linear", "regional")},
        "birads 5 - 3": b["5"] - b["3"],
        "birads 3 - 2": b["3"] - b["2"],
        "birads 0 - 3": b["0"] - b["3"],
    }


def test_parameters_are_recovered_from_simulated_data(small_fit, ddsm):
    """Simulate outcomes from known parameters on the bundled covariates (x5); refit; check coverage."""
    from microcalc.modelling.fitting import fit
    from microcalc.modelling.model import malignancy_probability, numpy_ops

    truth = {k: v.mean(axis=-1, keepdims=True) for k, v in small_fit.params().items()}
    design = encode(ddsm, small_fit.priors, small_fit.sites)
    p = malignancy_probability(truth, design, numpy_ops())[:, 0]
    rng = np.random.default_rng(5)
    simulated = pd.concat([ddsm] * 5, ignore_index=True)
    simulated["lesion_id"] = [f"S{i}" for i in range(len(simulated))]
    simulated["malignant"] = pd.array(rng.binomial(1, np.tile(p, 5)), dtype="Int64")
    refit = fit(simulated, draws=300, tune=300, chains=2, seed=2)
    true_contrasts = _contrasts({k: v[..., 0] for k, v in truth.items()})
    draws = _contrasts(refit.params())
    inside = [
        name
        for name, value in true_contrasts.items()
        if np.quantile(draws[name], 0.05) <= value <= np.quantile(draws[name], 0.95)
    ]
    assert len(inside) >= 0.7 * len(true_contrasts), f"only {inside} of {list(true_contrasts)} recovered"


# --- convergence guard ----------------------------------------------------------------------------


def test_unconverged_fit_exits_3_unless_allowed(tmp_path, capsys):
    from microcalc.cli import main

    out = tmp_path / "tiny.nc"
    status = main(["fit", "--out", str(out), "--draws", "15", "--tune", "15", "--chains", "2", "--seed", "1"])
    assert status == 3
    assert "DID NOT CONVERGE" in capsys.readouterr().err
    status = main(
        [
            "-q",
            "fit",
            "--out",
            str(out),
            "--draws",
            "15",
            "--tune",
            "15",
            "--chains",
            "2",
            "--seed",
            "1",
            "--allow-unconverged",
        ]
    )
    assert status == 0


# --- parameterisation ---------------------------------------------------------------------------


def test_levels_are_centred_only_where_the_data_pin_them():
    from microcalc.modelling.model import centred_levels

    # level 0: 5000 lesions, half malignant; level 1: 5000 benign lesions (bounded on one side only);
    # level 2: 20 lesions; level 3: no lesions
    trials, malignant = np.array([5000, 5000, 20]), np.array([2500, 0, 10])
    weights = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]])
    assert centred_levels(trials, malignant, weights, threshold=1000).tolist() == [True, False, False, False]
    assert centred_levels(trials, malignant, weights, threshold=1).tolist() == [True, False, True, False]
    assert not centred_levels(trials, malignant, weights, threshold=0).tolist()[3]


def test_bundled_data_is_sampled_non_centred_and_registry_scale_data_centred(ddsm):
    from microcalc.modelling.model import build_model, parameterisation

    priors, sites = load_priors(), ("A", "B", "C", "D")
    patterns = aggregate(encode(ddsm, priors, sites), ddsm["malignant"].to_numpy(float))
    assert not any(mask.any() for mask in parameterisation(patterns, len(sites)).values())
    free = {rv.name for rv in build_model(patterns, priors, sites).free_RVs}
    assert {"site_z", "morphology_z", "distribution_z"} <= free and not any(n.endswith("_raw") for n in free)
    big = pd.concat([ddsm] * 100, ignore_index=True)
    centred = parameterisation(aggregate(encode(big, priors, sites), big["malignant"].to_numpy(float)), len(sites))
    morphology = dict(zip(schema.MORPHOLOGY, centred["morphology"]))
    assert morphology["fine_pleomorphic"] and centred["site"][0]  # 34,480 and 27,600 lesions
    assert not morphology["rim"] and not morphology["suture"]  # all benign; no lesions


def at_values(pymc_model, names: list[str]):
    """A function of a point (the free variables' values) giving the named variables there.

    The model's variables are random draws; their graphs are rewritten onto the value variables first.
    """
    graphs = pymc_model.replace_rvs_by_values([pymc_model[name] for name in names])
    return pymc_model.compile_fn(graphs, inputs=pymc_model.value_vars, on_unused_input="ignore")


def _robust_mixture_priors(tmp_path) -> str:
    """priors/synthesis.toml with the two-normal mixture for level deviations instead of Student-t."""
    import re

    from microcalc.priors import scenario_paths

    text = scenario_paths()["synthesis"].read_text(encoding="utf-8")
    text, n = re.subn(
        r"\[level_deviation\]\n(?:[^\[\n][^\n]*\n|\n)*?nu = [0-9.]+\n",
        "[level_deviation]\nrobust_weight = 0.2\nrobust_scale = 5.0\n",
        text,
    )
    assert n == 1
    path = tmp_path / "mixture.toml"
    path.write_text(text, encoding="utf-8")
    assert load_priors(path).level_deviation.nu is None
    return str(path)


@pytest.mark.parametrize("prior_file", ["default", "synthesis", "mixture"])
def test_centred_and_non_centred_builds_are_the_same_model(ddsm, monkeypatch, prior_file, tmp_path):
    """Centring is a change of variables, so it must not change the model.

    At matching points (effect = mean + sd * z) the two log densities differ by the Jacobian alone,
    sum(log sd) over the centred levels, and the stored z and effects agree. Exact and sampler-free:
    an earlier version compared two short fits, one of which (everything centred) never converged
    (R-hat 2.26), and its verdict depended on the PyTensor compile cache. Checked for normal level
    deviations (default), Student-t ones with a learned conditional scale (synthesis) and the
    two-normal robust mixture: each is a scale family in sd, so the Jacobian is the same.
    """
    from microcalc.modelling import model
    from microcalc.modelling.fitting import training_patterns
    from microcalc.priors import scenario_paths

    path = _robust_mixture_priors(tmp_path) if prior_file == "mixture" else scenario_paths()[prior_file]
    priors = load_priors(path)
    assert priors.scale_is_random == (prior_file != "default")
    sites, patterns = training_patterns(ddsm, priors)
    monkeypatch.setattr(model, "CENTRED_INFORMATION", np.inf)  # no level centred
    plain = model.build_model(patterns, priors, sites)
    monkeypatch.setattr(model, "CENTRED_INFORMATION", -1.0)  # every level centred
    centred = model.build_model(patterns, priors, sites)
    effects = ("site", "morphology", "distribution")
    assert all(f"{name}_raw" in centred.named_vars and f"{name}_z" in plain.named_vars for name in effects)

    rng = np.random.default_rng(11)
    outputs = [f"{name}_{part}" for name in effects for part in ("effect", "z")]
    for _ in range(3):
        point = {k: rng.normal(0.0, 0.7, np.shape(v)) for k, v in plain.initial_point().items()}
        values = dict(zip(outputs, at_values(plain, outputs)(point)))
        matching = {k: v for k, v in point.items() if not k.endswith("_z")}
        matching.update({f"{name}_raw": values[f"{name}_effect"] for name in effects})
        sd = dict(zip(effects, at_values(plain, [f"{name}_sd" for name in effects])(point)))
        # each level's deviation SD: sd, or sqrt(sd^2 + (scale * centre_sd)^2) where the file gives centre_sd
        scale = at_values(plain, ["conditional_scale"])(point)[0] if priors.scale_is_random else priors.scale_value
        for name in ("morphology", "distribution"):
            u = np.array([priors.centre_sd(name)[lvl] for lvl in getattr(schema, name.upper())])
            sd[name] = model.level_scale(sd[name], scale, u) if u.any() else np.full(len(u), sd[name])
        given = any(v > 0 for n in ("morphology", "distribution") for v in priors.centre_sd(n).values())
        assert given and not all(np.allclose(sd[n], sd[n][0]) for n in ("morphology", "distribution"))
        jacobian = sum(np.sum(np.broadcast_to(np.log(sd[name]), np.shape(values[f"{name}_z"]))) for name in effects)
        assert centred.compile_logp()(matching) == pytest.approx(plain.compile_logp()(point) - jacobian, rel=1e-10)
        again = dict(zip(outputs, at_values(centred, outputs)(matching)))
        for name in outputs:
            np.testing.assert_allclose(again[name], values[name], rtol=1e-10, atol=1e-12)


def test_numpy_logistic_is_the_textbook_formula_bit_for_bit():
    """logistic works in place for speed; it must equal 1 / (1 + exp(-x)) exactly, and leave x alone."""
    from microcalc.modelling.model import logistic

    x = np.random.default_rng(3).normal(0.0, 20.0, (50, 400))
    x[0, :4] = [-800.0, 800.0, 0.0, 1e-300]
    before = x.copy()
    with np.errstate(over="ignore"):
        expected = 1.0 / (1.0 + np.exp(-x))
    np.testing.assert_array_equal(logistic(x), expected)
    np.testing.assert_array_equal(x, before)
    assert float(logistic(0.5)) == 1.0 / (1.0 + np.exp(-0.5))
