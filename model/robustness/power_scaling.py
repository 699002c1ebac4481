"""Power-scaling sensitivity (Kallioinen et al., Stat Comput 2024) of the priors and the likelihood.

Does the posterior move when the prior or the likelihood is raised to a power close to 1?

The prior (or likelihood) density is raised to alpha in [0.99, 1.01]; Pareto-smoothed importance
weights give the perturbed posterior without refitting, and the sensitivity is the derivative of the
cumulative Jensen-Shannon distance between perturbed and original posterior (``arviz_stats.psense``).
The fit file holds the ``log_prior`` and ``log_likelihood`` groups this needs.

Which priors are scaled: all of them together, except the population density of the levels of the
random effects (site, morphology and distribution): N(0, 1) of a non-centred level's z, N(mean, sd) of
a centred level's effect (free variables ``*_z`` or ``*_raw``, see :func:`microcalc.modelling.model.centred_levels`).
The two forms are the same density up to the Jacobian 1/sd, so leaving either out gives the same
perturbed posterior. They encode the hierarchical structure, not a prior choice, and Kallioinen et
al. recommend scaling only the top-level priors of a hierarchical model (as brms' ``lprior`` does). How much the answers
rest on the literature centres of the levels is what the scenarios of :mod:`microcalc.robustness.scenarios` show.

Diagnosis (Kallioinen et al.; threshold 0.05, as ``arviz_stats.psense_summary``):

* prior and likelihood sensitivity both >= 0.05: **prior-data conflict** (prior and data pull apart);
* prior sensitivity > 0.05, likelihood < 0.05: **weak likelihood** (the answer rests on the prior;
  expected for covariates no training lesion records);
* otherwise **fine**.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from microcalc.modelling.model import PARAMETER_GROUPS, RANDOM_EFFECTS

THRESHOLD = 0.05
ALPHAS = (0.99, 1.01)
CONFLICT, WEAK, FINE = "prior-data conflict", "weak likelihood", "fine"
SEVERITY = {CONFLICT: 2, WEAK: 1, FINE: 0}
CURVE_ALPHAS: tuple[float, ...] = tuple(np.round(np.geomspace(0.5, 2.0, 9), 3))
SAMPLE_DIMS = ("chain", "draw")
# not power-scaled: the free variables of the random-effect levels, in either parameterisation
STRUCTURAL_PRIORS: tuple[str, ...] = tuple(f"{r}_{form}" for r in RANDOM_EFFECTS for form in ("z", "raw"))


def scaled_priors(idata) -> list[str]:
    """The log-prior variables that are power-scaled: every free parameter except the structural z."""
    return [v for v in idata["log_prior"].data_vars if v not in STRUCTURAL_PRIORS]


def diagnose(prior: float, likelihood: float, threshold: float = THRESHOLD) -> str:
    """Kallioinen et al.'s reading of one prior/likelihood sensitivity pair."""
    if prior >= threshold and likelihood >= threshold:
        return CONFLICT
    if prior > threshold > likelihood:
        return WEAK
    return FINE


def element_labels(da, dims: list[str]) -> list[str]:
    """'name[level]' for every element of ``da`` over ``dims`` in C order ('name' if scalar)."""
    if not dims:
        return [str(da.name)]
    combos = pd.MultiIndex.from_product([da[d].values for d in dims])
    return [f"{da.name}[{', '.join(str(c) for c in combo)}]" for combo in combos]


def _element_rows(prior, likelihood) -> list[dict]:
    """One row per scalar element of every variable in two psense datasets."""
    rows = []
    for name in prior.data_vars:
        p = prior[name]
        dims = list(p.dims)
        flat_p = p.values.reshape(-1)
        flat_l = likelihood[name].transpose(*dims).values.reshape(-1)
        for label, ps, ls in zip(element_labels(p, dims), flat_p, flat_l):
            rows.append(
                {
                    "parameter": name,
                    "element": label,
                    "prior_sensitivity": float(ps),
                    "likelihood_sensitivity": float(ls),
                    "diagnosis": diagnose(ps, ls),
                }
            )
    return rows


def element_sensitivity(idata, var_names: list[str] | None = None) -> pd.DataFrame:
    """Prior and likelihood sensitivity of every element of the free parameter groups.

    ``arviz_stats.psense`` at alpha = 0.99 and 1.01, with the structural z left out of the scaled
    priors (:func:`scaled_priors`); each element is diagnosed by :func:`diagnose`.

    References
    ----------
    Kallioinen N, Paananen T, Bürkner P-C, Vehtari A. Detecting and diagnosing prior and likelihood
    sensitivity with power-scaling. Statistics and Computing 34, 57 (2024).
    """
    import arviz_stats as azs

    posterior = idata["posterior"]
    names = list(var_names or [v for v in PARAMETER_GROUPS if v in posterior.data_vars])
    prior = azs.psense(idata, var_names=names, group="prior", alphas=ALPHAS, group_var_names=scaled_priors(idata))
    likelihood = azs.psense(idata, var_names=names, group="likelihood", alphas=ALPHAS)
    return pd.DataFrame(_element_rows(prior, likelihood))


def group_sensitivity(elements: pd.DataFrame) -> pd.DataFrame:
    """One row per parameter group, for the element with the most serious diagnosis.

    That element (then the one with the largest prior sensitivity) speaks for the group, so the row's
    numbers and diagnosis always agree.
    """
    rows = []
    for name, part in elements.groupby("parameter", sort=False):
        ranked = part.assign(severity=part["diagnosis"].map(SEVERITY))
        worst = ranked.sort_values(["severity", "prior_sensitivity"], ascending=False).iloc[0]
        flagged = int((part["diagnosis"] != FINE).sum())
        rows.append(
            {
                "parameter": name,
                "prior_sensitivity": worst["prior_sensitivity"],
                "likelihood_sensitivity": worst["likelihood_sensitivity"],
                "diagnosis": worst["diagnosis"],
                "element": worst["element"],
                "flagged": f"{flagged} of {len(part)}",
            }
        )
    return pd.DataFrame(rows)


def quantity_sensitivity(idata, names: list[str], draws: np.ndarray) -> pd.DataFrame:
    """Power-scaling sensitivity of derived quantities (rows of ``draws``, chain-major samples)."""
    import xarray as xr

    posterior = idata["posterior"]
    shape = (posterior.sizes["chain"], posterior.sizes["draw"])
    data = xr.Dataset(
        {"quantity": (("quantity_index", *SAMPLE_DIMS), draws.reshape(len(names), *shape))},
        coords={"quantity_index": np.arange(len(names))},
    )
    tree = xr.DataTree.from_dict(
        {
            "posterior": data.transpose(*SAMPLE_DIMS, "quantity_index"),
            "log_prior": idata["log_prior"].to_dataset(),
            "log_likelihood": idata["log_likelihood"].to_dataset(),
        }
    )
    table = element_sensitivity(tree, ["quantity"])
    return table.assign(parameter=names).drop(columns="element").rename(columns={"parameter": "quantity"})


def log_component(idata, component: str) -> np.ndarray:
    """Summed log prior or log likelihood per draw (chain-major), the quantity psense power-scales."""
    group = "log_prior" if component == "prior" else "log_likelihood"
    ds = idata[group].to_dataset()
    names = scaled_priors(idata) if component == "prior" else list(ds.data_vars)
    total = sum(ds[v].sum(dim=[d for d in ds[v].dims if d not in SAMPLE_DIMS]) for v in names)
    return np.asarray(total.transpose(*SAMPLE_DIMS).values.reshape(-1), dtype=float)


def element_draws(idata, element: str) -> np.ndarray:
    """Draws (chain-major) of one element named like 'morphology_z[amorphous]' or 'intercept'."""
    da = idata["posterior"][element.partition("[")[0]]
    other = [d for d in da.dims if d not in SAMPLE_DIMS]
    values = da.transpose(*SAMPLE_DIMS, *other).values
    flat = values.reshape(values.shape[0] * values.shape[1], -1)
    return np.asarray(flat[:, element_labels(da, other).index(element)], dtype=float)


def power_scaling_curve(idata, element: str, alphas: tuple[float, ...] = CURVE_ALPHAS) -> pd.DataFrame:
    """Posterior mean and SD of one element as prior or likelihood is raised to each alpha (PSIS).

    The perturbed posterior is the fit's draws reweighted by (alpha - 1) times the summed log prior or
    log likelihood, so no refit is needed.

    References
    ----------
    Kallioinen N, Paananen T, Bürkner P-C, Vehtari A. Detecting and diagnosing prior and likelihood
    sensitivity with power-scaling. Statistics and Computing 34, 57 (2024).
    """
    from microcalc.robustness.scenarios import psis_weights

    x = element_draws(idata, element)
    rows = []
    for component in ("prior", "likelihood"):
        log_c = log_component(idata, component)
        for alpha in alphas:
            w, k = psis_weights((alpha - 1.0) * log_c)
            mean = float(w @ x)
            rows.append(
                {
                    "element": element,
                    "component": component,
                    "alpha": float(alpha),
                    "mean": mean,
                    "sd": float(np.sqrt(w @ (x - mean) ** 2)),
                    "pareto_k": k,
                }
            )
    return pd.DataFrame(rows)


def most_sensitive(elements: pd.DataFrame, n: int) -> list[str]:
    """Elements to draw curves for: prior-data conflicts first, then by prior sensitivity."""
    ranked = elements.assign(severity=elements["diagnosis"].map(SEVERITY) == SEVERITY[CONFLICT])
    ranked = ranked.sort_values(["severity", "prior_sensitivity"], ascending=False)
    return ranked["element"].head(n).tolist()
