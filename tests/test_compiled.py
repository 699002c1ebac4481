"""Cached nutpie wrappers: same draws as nutpie's own compile, disk cache reuse, and fallback."""

from __future__ import annotations

import numpy as np
import pytest

pm = pytest.importorskip("pymc")
nutpie = pytest.importorskip("nutpie")

from microcalc.modelling import compiled  # noqa: E402

TRIALS = np.array([10, 12, 8])


def tiny_model(malignant=(3, 5, 1), shared: bool = False) -> pm.Model:
    """A three-site logistic random-intercept model, with its counts as constants or pm.Data."""
    with pm.Model(coords={"site": ["A", "B", "C"]}) as model:
        counts = pm.Data("counts", np.array(malignant)) if shared else np.array(malignant)
        intercept = pm.Normal("intercept", 0.0, 1.5)
        site_sd = pm.HalfNormal("site_sd", 1.0)
        site_z = pm.Normal("site_z", 0.0, 1.0, dims="site")
        p = pm.Deterministic("p", pm.math.sigmoid(intercept + site_sd * site_z), dims="site")
        pm.Binomial("malignant", n=TRIALS, p=p, observed=counts)
    return model


def draws(compiled_model) -> dict[str, np.ndarray]:
    """Posterior draws of a short, seeded two-chain run, by variable."""
    idata = nutpie.sample(compiled_model, draws=100, tune=100, chains=2, seed=7, progress_bar=False)
    posterior = idata["posterior"].to_dataset()
    return {name: posterior[name].values for name in posterior.data_vars}


@pytest.fixture(scope="module")
def reference_draws() -> dict[str, np.ndarray]:
    """Draws from nutpie's own numba compile of the tiny model."""
    return draws(nutpie.compile_pymc_model(tiny_model(), backend="numba"))


def test_cached_wrappers_give_identical_draws(reference_draws):
    ours = compiled.compile_model(tiny_model())
    assert compiled.uses_cached_wrappers(ours)
    got = draws(ours)
    assert got.keys() == reference_draws.keys()
    for name, values in reference_draws.items():
        np.testing.assert_array_equal(got[name], values, err_msg=name)


def test_second_compile_loads_wrappers_from_disk():
    compiled.compile_model(tiny_model())
    again = compiled.compile_model(tiny_model())
    assert again.compiled_logp_func.cache_hits == 1
    assert again.compiled_expand_func.cache_hits == 1


def test_different_data_gets_a_different_cache_entry():
    first = compiled.compile_model(tiny_model(malignant=(3, 5, 1)))
    second = compiled.compile_model(tiny_model(malignant=(4, 5, 1)))
    assert first.compiled_logp_func.__name__ != second.compiled_logp_func.__name__


def test_shared_data_falls_back_to_nutpie():
    fallback = compiled.compile_model(tiny_model(shared=True))
    assert not compiled.uses_cached_wrappers(fallback)
    expected = draws(nutpie.compile_pymc_model(tiny_model(shared=True), backend="numba"))
    got = draws(fallback)
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values, err_msg=name)


def test_unsupported_nutpie_version_falls_back(monkeypatch):
    sentinel = object()
    monkeypatch.setattr(nutpie, "__version__", "0.99.0")
    monkeypatch.setattr(nutpie, "compile_pymc_model", lambda model, backend: sentinel)
    assert compiled.compile_model(tiny_model()) is sentinel
