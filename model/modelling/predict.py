"""Posterior predictive malignancy probabilities for lesions, with credible intervals.

Work is done once per *distinct covariate pattern*, not per lesion x draw, so scoring a registry
costs what its number of distinct patterns costs. The equation is the model's own
(:func:`microcalc.modelling.model.malignancy_probability`), evaluated with NumPy on posterior draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from microcalc.io import schema
from microcalc.io.errors import LesionInputError
from microcalc.modelling.completion import complete
from microcalc.modelling.design import aggregate, encode
from microcalc.modelling.model import EQUATION_PARAMETERS, malignancy_probability, new_site_nodes, numpy_ops
from microcalc.priors import PriorSet

BIOPSY_THRESHOLD = 0.02  # BI-RADS 3 "probably benign" ceiling: above it, biopsy is advised
PREDICTION_COLUMNS: tuple[str, ...] = ("lesion_id", "p_malignant", "ci_lower", "ci_upper", "p_above_2pct")
MODEL_INPUTS: tuple[str, ...] = tuple(c for c in schema.COLUMNS if c not in ("lesion_id", "patient_id", schema.OUTCOME))
CHUNK_PATTERNS = 256
# Populations of lesions whose site is blank (``predict --population``, ``Fit.predict(population=)``):
NEW_SITE = "new-site"  # a new site like the training sites: site effect integrated over N(0, site_sd)
CLINICAL = "clinical"  # a new clinical biopsy series (microcalc.modelling.clinical)
POPULATIONS: tuple[str, ...] = (CLINICAL, NEW_SITE)
# Lesions whose site is blank come from a clinical population unless told otherwise: the question the model
# answers is about clinical practice, and its training archive (DDSM) is enriched for cancer. Of the 33
# published-range and ordering checks of single findings (microcalc.reporting.headline.clinical_checks), 29 hold for
# the clinical population and 24 at a new DDSM-like site (bundled data, 4 x 1000 draws, 2026-12-07).
DEFAULT_POPULATION = CLINICAL
POPULATION_HELP = (
    f"{CLINICAL} (a new clinical biopsy series, from the published studies), {NEW_SITE} (a new "
    "site like the training sites) or the name of a training site"
)


def posterior_params(posterior, max_draws: int | None = None) -> dict[str, np.ndarray]:
    """Equation parameters as arrays with the (chain x draw) sample axis last, optionally thinned."""
    data = posterior.to_dataset()
    out = {name: sample_last(data[name].values, data[name].dims) for name in EQUATION_PARAMETERS}
    n = out["intercept"].shape[-1]
    if not max_draws or max_draws >= n:
        return out
    keep = np.linspace(0, n - 1, max_draws).round().astype(int)
    return {name: values[..., keep] for name, values in out.items()}


def sample_last(values: np.ndarray, dims: Sequence[str]) -> np.ndarray:
    """A stored parameter array with its chain and draw axes merged into one last sample axis (chain-major)."""
    dims = list(dims)
    other = [d for d in dims if d not in ("chain", "draw")]
    moved = np.transpose(values, [dims.index(d) for d in (*other, "chain", "draw")])
    return moved.reshape(*moved.shape[: len(other)], -1)


def resolve_population(population: str | None = None, site: str | None = None) -> str:
    """The population of lesions whose site is blank, from ``population`` and the older ``site`` argument.

    ``population`` is :data:`CLINICAL`, :data:`NEW_SITE` or a site name; ``site`` names the site of
    blank-site lesions (kept for callers of ``site=``). Neither: :data:`DEFAULT_POPULATION`. Both, and
    different: refused. A training site literally named ``clinical`` is that site (the clinical population
    is then out of reach); ``new-site`` always means a new site.
    """
    if population is not None and site is not None and str(population) != str(site):
        raise LesionInputError(
            "--population",
            "give the population or the site of blank-site lesions, not both",
            value=f"{population} and {site}",
        )
    chosen = population if population is not None else site
    if chosen is None:
        return DEFAULT_POPULATION
    if not str(chosen).strip():
        raise LesionInputError("--population", "must not be blank", allowed=POPULATION_HELP)
    return str(chosen)


def with_site(frame: pd.DataFrame, site: str | None) -> pd.DataFrame:
    """``frame`` with every blank site named by the population ``site`` (see :func:`resolve_population`).

    :data:`NEW_SITE` leaves blanks blank (a new DDSM-like site, integrated over the spread between
    sites); :data:`CLINICAL` marks them ``clinical`` (the clinical population,
    :mod:`microcalc.modelling.clinical`); any other name is that site. None: the default population.
    """
    site = resolve_population(None, site)
    if site == NEW_SITE:
        return frame
    column = frame["site"] if "site" in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame.assign(site=column.astype("string").fillna(str(site)))


def warn_unknown_site(site: str | None, sites: tuple[str, ...]) -> None:
    """Warn when a named site is not a training site.

    Its lesions are then predicted as at a new site, which is right for a new institution but would
    hide a typo.
    """
    if site is not None and site not in sites and site not in POPULATIONS:
        import warnings

        from microcalc.io.errors import LesionWarning

        known = ", ".join(sites) or "none"
        warnings.warn(
            f"site {site!r} is not a training site (training sites: {known}); lesions without a site "
            "are predicted as at a new site",
            LesionWarning,
            stacklevel=3,
        )


def warn_unknown_recorded_sites(
    frame: pd.DataFrame, sites: tuple[str, ...] | None, source: str = "lesions", counts: np.ndarray | None = None
) -> None:
    """Warn once when lesions record a site that is not a training site (nor a population word).

    Such lesions are predicted as at a new site, right for a new institution but silent about a typo
    ('b' for 'B'). ``counts``: lesions per row of ``frame`` (a table of distinct patterns); None: 1 each.
    ``sites`` None: no fit to compare with, nothing to say.
    """
    if sites is None or "site" not in frame or frame.empty:
        return
    recorded = frame["site"].astype("string")
    unknown = (recorded.notna() & ~recorded.isin([*sites, *POPULATIONS])).to_numpy(dtype=bool)
    if not unknown.any():
        return
    import warnings

    from microcalc.io.errors import LesionWarning

    n = int(unknown.sum() if counts is None else np.asarray(counts)[unknown].sum())
    names = sorted(set(recorded[unknown].tolist()))
    shown = ", ".join(repr(v) for v in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    warnings.warn(
        f"{source}: column 'site': {n} lesion{'s' * (n != 1)} at {shown}, not a training site (training sites: "
        f"{', '.join(sites) or 'none'}): predicted as at a new site",
        LesionWarning,
        stacklevel=3,
    )


def population_of(
    frame: pd.DataFrame, sites: tuple[str, ...], population: str | None = None, site: str | None = None
) -> str:
    """:func:`resolve_population`, warning about a named or recorded site the fit was not trained on."""
    chosen = resolve_population(population, site)
    warn_unknown_site(chosen, sites)
    warn_unknown_recorded_sites(frame, sites)
    return chosen


def clinical_rows(frame: pd.DataFrame, sites: tuple[str, ...]) -> np.ndarray:
    """Which lesions belong to the clinical population (site ``clinical``, not a training site's name)."""
    if CLINICAL in sites or "site" not in frame:
        return np.zeros(len(frame), dtype=bool)
    return (frame["site"].astype("string") == CLINICAL).fillna(False).to_numpy(dtype=bool)


def probability_draws(
    frame: pd.DataFrame, params: dict, priors: PriorSet, sites: tuple[str, ...], donors: pd.DataFrame
) -> np.ndarray:
    """P(malignant) draws, shape (lesions, draws): blanks completed, new sites integrated.

    Lesions whose site is ``clinical`` (see :func:`with_site`) are predicted for the clinical
    population: blanks completed from the clinical case mix and the clinical offset in place of a
    site effect (:mod:`microcalc.modelling.clinical`); a blank site is a new DDSM-like site.
    The equation runs once per distinct row of the design (what the model sees), so lesions or
    completions that differ only in what the model does not use are computed once.
    """
    if not len(frame):  # e.g. the headline's biopsied lesions of a training set without BI-RADS
        return np.zeros((0, params["intercept"].shape[-1]))
    clinical = clinical_rows(frame, sites)
    if not clinical.any():
        return _draws(frame, params, priors, sites, donors, new_site_nodes())
    from microcalc.modelling.clinical import cached_population

    pop = cached_population(params, priors, sites, donors)
    out = np.empty((len(frame), params["intercept"].shape[-1]))
    out[clinical] = _draws(frame[clinical], pop.params(params), priors, sites, pop.donors, new_site_nodes())
    if not clinical.all():
        out[~clinical] = _draws(frame[~clinical], params, priors, sites, donors, new_site_nodes())
    return out


def _draws(
    frame: pd.DataFrame, params: dict, priors: PriorSet, sites: tuple[str, ...], donors: pd.DataFrame, nodes
) -> np.ndarray:
    """:func:`probability_draws` for lesions of one kind of population (``nodes`` over a new site's term)."""
    expanded = complete(frame, donors, sites).sort_values("row", kind="stable")
    distinct = aggregate(encode(expanded, priors, sites))
    # The products are small (design rows x draws): BLAS worker threads would mostly spin idle.
    with threadpool_limits(limits=1, user_api="blas"):
        p = malignancy_probability(params, distinct.design, numpy_ops(), nodes)[distinct.inverse]
    weighted = p * expanded["weight"].to_numpy()[:, None]
    starts = np.flatnonzero(np.r_[True, np.diff(expanded["row"].to_numpy()) != 0])
    return np.add.reduceat(weighted, starts, axis=0)


def summarise(draws: np.ndarray, ci: float) -> pd.DataFrame:
    """Posterior mean, equal-tailed credible interval and P(risk > 2%) per row of draws."""
    lo, hi = np.quantile(draws, [(1 - ci) / 2, (1 + ci) / 2], axis=1)
    return pd.DataFrame(
        {
            "p_malignant": draws.mean(axis=1),
            "ci_lower": lo,
            "ci_upper": hi,
            "p_above_2pct": (draws > BIOPSY_THRESHOLD).mean(axis=1),
        }
    )


def pattern_codes(frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Code of each lesion's covariate pattern and one representative lesion per pattern."""
    cols = [c for c in MODEL_INPUTS if c in frame and frame[c].notna().any()]  # an all-blank column splits nothing
    if not cols:
        codes = np.zeros(len(frame), dtype=np.int64)
    else:
        codes = frame.groupby(cols, dropna=False, sort=False).ngroup().to_numpy()
    first = pd.Series(np.arange(len(frame))).groupby(codes).first().to_numpy()
    return codes, frame.iloc[first].reset_index(drop=True)


def pattern_summaries(
    patterns: pd.DataFrame,
    params: dict,
    priors: PriorSet,
    sites: tuple[str, ...],
    donors: pd.DataFrame,
    ci: float = 0.95,
) -> pd.DataFrame:
    """The prediction columns for each row of ``patterns`` (one lesion per pattern), CHUNK_PATTERNS at a time."""
    if not 0.0 < ci < 1.0:
        raise ValueError(f"credible interval mass must lie between 0 and 1, got {ci}")
    parts = [
        summarise(probability_draws(patterns.iloc[start : start + CHUNK_PATTERNS], params, priors, sites, donors), ci)
        for start in range(0, len(patterns), CHUNK_PATTERNS)
    ]
    return pd.concat(parts, ignore_index=True) if parts else summarise(np.zeros((0, 1)), ci)


def prediction_table(frame: pd.DataFrame, per_lesion: pd.DataFrame) -> pd.DataFrame:
    """lesion_id, the prediction columns (one row per lesion of ``frame``), then the other input columns."""
    inputs = frame.reset_index(drop=True)
    return pd.concat(
        [inputs[["lesion_id"]], per_lesion.reset_index(drop=True), inputs.drop(columns=["lesion_id"])], axis=1
    )


def predict_frame(
    frame: pd.DataFrame, params: dict, priors: PriorSet, sites: tuple[str, ...], donors: pd.DataFrame, ci: float = 0.95
) -> pd.DataFrame:
    """One row per lesion in input order: the prediction columns, then the input columns."""
    codes, patterns = pattern_codes(frame)
    summary = pattern_summaries(patterns, params, priors, sites, donors, ci)
    return prediction_table(frame, summary.iloc[codes])
