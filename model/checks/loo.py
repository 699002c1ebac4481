"""PSIS-LOO per lesion of the cross-validated models, fitted on all the data, with Pareto-k diagnostics.

The fit's own log_likelihood group is per covariate pattern, which would leave out whole patterns;
here the Bernoulli log-likelihood of each lesion is computed from the posterior draws instead
(``arviz_stats.loo``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from microcalc.checks.fold_scoring import fit_variant
from microcalc.checks.folds import Variant, blank
from microcalc.io import schema
from microcalc.priors import PriorSet

LOO_PARETO_K = 0.7  # above it the PSIS estimate of that lesion is unreliable


def lesion_log_likelihood(fit, frame: pd.DataFrame):
    """Bernoulli log-likelihood of each training lesion per draw, DataArray (chain, draw, lesion)."""
    from microcalc.modelling.design import encode
    from microcalc.modelling.likelihood import bernoulli_log_likelihood, per_draw
    from microcalc.modelling.model import malignancy_probability, new_site_nodes, numpy_ops

    p = malignancy_probability(fit.params(), encode(frame, fit.priors, fit.sites), numpy_ops(), new_site_nodes())
    ll = bernoulli_log_likelihood(p, frame[schema.OUTCOME].to_numpy(dtype=float))
    return per_draw(ll, fit.idata["posterior"], "lesion", frame["lesion_id"].astype(str).to_numpy())


def lesion_loo(fit, frame: pd.DataFrame) -> dict:
    """PSIS-LOO per lesion of a fit on ``frame`` (its training data): elpd, SE, p_loo, Pareto k."""
    import arviz_stats as azs
    import xarray as xr

    tree = xr.DataTree.from_dict(
        {
            "posterior": fit.idata["posterior"].to_dataset(),
            "log_likelihood": xr.Dataset({"malignant": lesion_log_likelihood(fit, frame)}),
        }
    )
    with warnings.catch_warnings():  # the Pareto-k values are reported in the returned dict
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto", category=UserWarning)
        result = azs.loo(tree, pointwise=True, var_name="malignant")
    k = np.asarray(result.pareto_k)
    return {
        "n": int(result.n_data_points),
        "elpd_loo": float(result.elpd),
        "se": float(result.se),
        "p_loo": float(result.p),
        "loo_log_loss": float(-result.elpd / result.n_data_points),
        "max_pareto_k": float(k.max()),
        f"pareto_k_above_{LOO_PARETO_K}": int((k > LOO_PARETO_K).sum()),
    }


def loo_table(
    frame: pd.DataFrame, priors: dict[str, PriorSet], sampler: dict, variants: tuple[Variant, ...], say: Callable
) -> pd.DataFrame:
    """PSIS-LOO of every distinct fitted variant on all lesions."""
    rows, seen = [], set()
    for v in variants:
        if v.priors is None or v.fit_key in seen:
            continue
        seen.add(v.fit_key)
        data = blank(frame, v.blank_in_training)
        f = fit_variant(frame, priors[v.priors], v.blank_in_training, sampler)
        row = {"model": v.name, **lesion_loo(f, data), "converged": f.convergence.ok}
        say(f"  LOO {v.name}: elpd {row['elpd_loo']:.1f} (SE {row['se']:.1f}), max Pareto k {row['max_pareto_k']:.2f}")
        rows.append(row)
    return pd.DataFrame(rows)
