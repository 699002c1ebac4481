"""Mode-started chains: the optimum, the Laplace spread of the starts, and when the rule applies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pm = pytest.importorskip("pymc")
nutpie = pytest.importorskip("nutpie")

from microcalc.modelling import mode  # noqa: E402
from microcalc.modelling.compiled import compile_model  # noqa: E402

Y = np.array([1.2, 0.4, 2.3, 1.9, 0.8, 1.5])  # six measurements with unit noise
PRIOR_SD = 10.0
COVARIANCE = np.array([[1.0, 0.9], [0.9, 2.0]])


def normal_model() -> pm.Model:
    """Normal mean with a Normal prior: mode sum(y) / (n + 1/100), posterior SD 1 / sqrt(n + 1/100)."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, PRIOR_SD)
        pm.Normal("y", mu, 1.0, observed=Y)
    return model


def correlated_model() -> pm.Model:
    """A bivariate Normal whose Laplace approximation is exact."""
    with pm.Model() as model:
        pm.MvNormal("x", mu=np.array([1.0, -2.0]), cov=COVARIANCE)
    return model


@pytest.fixture(scope="module")
def normal_compiled():
    return compile_model(normal_model())


def posterior_precision() -> float:
    return len(Y) + 1 / PRIOR_SD**2


def test_mode_is_the_analytic_optimum_with_zero_gradient(normal_compiled):
    logp = mode.log_density(normal_compiled)
    found = mode.local_mode(logp, normal_compiled.initial_point_func(3))
    np.testing.assert_allclose(found.point, [Y.sum() / posterior_precision()], atol=1e-5)
    value, gradient = logp(found.point)
    assert value == pytest.approx(found.logp)
    assert np.abs(gradient).max() < 1e-4


def test_mode_has_higher_density_than_every_start(normal_compiled):
    logp = mode.log_density(normal_compiled)
    for s in np.random.SeedSequence(5).generate_state(4, dtype=np.uint64):
        start = normal_compiled.initial_point_func(int(s))
        assert mode.local_mode(logp, start).logp > logp(start)[0]


def test_laplace_covariance_is_exact_for_a_gaussian():
    compiled = compile_model(correlated_model())
    logp = mode.log_density(compiled)
    found = mode.local_mode(logp, compiled.initial_point_func(1))
    np.testing.assert_allclose(found.point, [1.0, -2.0], atol=1e-4)
    factor = mode.laplace_factor(mode.hessian(logp, found.point))
    np.testing.assert_allclose(factor @ factor.T, COVARIANCE, rtol=1e-4)


def test_directions_without_curvature_get_unit_spread():
    factor = mode.laplace_factor(np.diag([-4.0, 0.0, 1.0]))
    np.testing.assert_allclose(factor @ factor.T, np.diag([0.25, 1.0, 1.0]), atol=1e-12)


def test_starts_are_overdispersed_draws_around_the_mode(normal_compiled):
    logp = mode.log_density(normal_compiled)
    found = mode.local_mode(logp, normal_compiled.initial_point_func(0))
    rng = np.random.default_rng(0)
    starts = np.array([mode.overdispersed_start(logp, found, rng)[0] for _ in range(400)])
    sd = 1 / np.sqrt(posterior_precision())
    assert starts.mean() == pytest.approx(found.point[0], abs=4 * mode.OVERDISPERSION * sd / np.sqrt(400))
    assert starts.std() == pytest.approx(mode.OVERDISPERSION * sd, rel=0.15)


def test_chain_starts_are_seeded_and_distinct(normal_compiled):
    first = mode.chain_start(normal_compiled, 11)
    np.testing.assert_array_equal(first, mode.chain_start(normal_compiled, 11))
    assert not np.array_equal(first, mode.chain_start(normal_compiled, 12))


def test_nutpie_samples_from_mode_starts(normal_compiled):
    started = mode.start_near_mode(normal_compiled)
    idata = nutpie.sample(started, draws=200, tune=200, chains=4, seed=2, progress_bar=False)
    draws = idata["posterior"]["mu"].values
    assert draws.shape == (4, 200)
    assert draws.mean() == pytest.approx(Y.sum() / posterior_precision(), abs=0.25)


def test_mode_start_replaces_only_the_initial_points(normal_compiled):
    started = mode.start_near_mode(normal_compiled)
    assert started.initial_point_func is not normal_compiled.initial_point_func
    assert started.compiled_logp_func is normal_compiled.compiled_logp_func
    assert np.isfinite(mode.log_density(normal_compiled)(started.initial_point_func(4))[0])


def patterns_of(frame: pd.DataFrame):
    from microcalc.modelling.fitting import training_patterns
    from microcalc.priors import load_priors

    sites, patterns = training_patterns(frame, load_priors())
    return patterns, len(sites)


def test_rule_does_not_trigger_on_the_bundled_data(ddsm):
    assert not mode.needs_mode_start(*patterns_of(ddsm))


def test_rule_triggers_when_data_are_abundant(ddsm):
    assert mode.needs_mode_start(*patterns_of(pd.concat([ddsm] * 20, ignore_index=True)))
