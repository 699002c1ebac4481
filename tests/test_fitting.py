"""The fit's own bookkeeping: the NumPy log-likelihood equals PyMC's, and the stored groups are the posterior's."""

from __future__ import annotations

import numpy as np


def _training_model(fit, ddsm):
    from microcalc.modelling.design import aggregate, encode
    from microcalc.modelling.model import build_model

    patterns = aggregate(encode(ddsm, fit.priors, fit.sites), ddsm["malignant"].to_numpy(dtype=float))
    return build_model(patterns, fit.priors, fit.sites), patterns


def test_numpy_log_likelihood_equals_pymc(small_fit, ddsm):
    import pymc as pm

    model, patterns = _training_model(small_fit, ddsm)
    with model:
        reference = pm.compute_log_likelihood(small_fit.idata.copy(), extend_inferencedata=False, progressbar=False)
    ours = small_fit.idata["log_likelihood"]["malignant"]
    assert ours.dims == ("chain", "draw", "pattern")
    assert ours.shape[-1] == len(patterns.trials)
    np.testing.assert_allclose(ours.values, reference["malignant"].values, rtol=0, atol=1e-9)


def test_fit_keeps_only_posterior_draws(small_fit):
    posterior = small_fit.idata["posterior"]
    assert posterior.sizes["draw"] == small_fit.settings.draws
    assert posterior.sizes["chain"] == small_fit.settings.chains
    assert not any(name.startswith("warmup") for name in small_fit.idata.children)
    assert {"observed_data", "constant_data", "sample_stats"} <= set(small_fit.idata.children)
    assert posterior.attrs["tuning_steps"] == small_fit.settings.tune


def test_command_line_sampler_defaults_are_the_fits():
    """The CLI spells its defaults out (no heavy import for --help); they must be fit()'s."""
    from microcalc.cli import build_parser
    from microcalc.modelling.fitting import SamplerSettings

    args = build_parser().parse_args(["fit", "--out", "x.nc"])
    assert (args.draws, args.tune, args.chains) == (SamplerSettings.draws, SamplerSettings.tune, SamplerSettings.chains)
