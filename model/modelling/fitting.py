"""Fit the model to lesions and hold the result: ``fit(frame) -> Fit``, ``Fit.predict``, ``Fit.save``.

A :class:`Fit` is everything prediction and reporting need: the posterior (with log-likelihood and
log-prior groups for sensitivity analysis), the prior file's text, the training sites and the
training key table used to integrate over blank cells. It is saved as one netCDF file
(:mod:`microcalc.modelling.fitfile`), never as a pickle.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from microcalc.io import schema
from microcalc.io.errors import LesionInputError
from microcalc.io.readers import outcome_values
from microcalc.modelling.completion import training_table
from microcalc.modelling.design import Patterns, aggregate, encode
from microcalc.modelling.diagnostics import Convergence, check_convergence
from microcalc.modelling.fitfile import library_versions, read_fit
from microcalc.modelling.likelihood import binomial_log_likelihood, per_draw
from microcalc.modelling.mode import ABUNDANT_ADAPTATION, needs_mode_start, start_near_mode
from microcalc.modelling.model import (
    EQUATION_PARAMETERS,
    PARAMETER_GROUPS,
    build_model,
    malignancy_probability,
    numpy_ops,
)
from microcalc.modelling.predict import population_of, posterior_params, predict_frame, probability_draws, with_site
from microcalc.priors import PriorSet, load_priors

if TYPE_CHECKING:
    import pymc as pm
    from xarray import DataTree

PRIOR_DRAWS = 1000  # prior draws kept in the fit for prior-vs-posterior views and prior predictive checks
# The site of training lesions whose site is blank when no name is given: a file without sites (one
# institution's lesions, CBIS-DDSM) is one site. Predict with ``site="training"`` to use it.
UNNAMED_SITE = "training"
ONE_SITE_NOTE = (
    "one training site: the between-site SD (site_sd) is informed by its prior alone, so predictions "
    "for a new site carry the prior's spread between sites"
)


@dataclass(frozen=True)
class SamplerSettings:
    """How the posterior was drawn (stored in the fit so a reader can reproduce it)."""

    draws: int = 1000
    tune: int = 500  # nutpie adapts in a few hundred steps: 9 of 9 seeds converged at 500 (max R-hat 1.007, ESS >= 851)
    chains: int = 4
    seed: int | None = None
    target_accept: float = 0.95  # 0.8 left a handful of divergences in the site funnel (4 sites)
    sampler: str = "nutpie"
    start: str = "jitter"  # "mode": chains start near the posterior mode (abundant data, microcalc.modelling.mode)
    adaptation: str = "diag"  # nutpie mass matrix: "low_rank" with mode starts


@dataclass
class Fit:
    """A fitted model: posterior draws plus what is needed to predict and report.

    Made by :func:`fit`, written by :meth:`save`, read back by :func:`load`.

    Attributes
    ----------
    idata
        The sampler's DataTree: posterior, sample_stats, log_likelihood, log_prior, prior, the data.
    priors, sites
        The prior set fitted with; the training sites (sorted), each with a learned site effect.
    donors
        Training key table (lesion and malignant counts per combination of recorded findings): blank
        cells of a lesion to predict are completed from it (:mod:`microcalc.modelling.completion`).
    convergence, settings, data_summary, versions
        Worst-case R-hat, ESS, divergences; how the posterior was drawn; training data counts; library versions.
    """

    idata: DataTree  # with posterior, sample_stats, log_likelihood, log_prior, ...
    priors: PriorSet
    sites: tuple[str, ...]
    donors: pd.DataFrame
    convergence: Convergence
    settings: SamplerSettings
    data_summary: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)  # library versions when the fit was made

    def params(self, max_draws: int | None = None, group: str = "posterior") -> dict[str, np.ndarray]:
        """Equation parameters, draws on the last axis (``group="prior"`` for prior draws).

        Parameters
        ----------
        max_draws
            Keep at most this many draws (evenly thinned); None for all.
        group
            The DataTree group to read: ``"posterior"`` or ``"prior"``.

        Returns
        -------
        dict of str to numpy.ndarray
            :data:`~microcalc.modelling.model.EQUATION_PARAMETERS` by name, (chain x draw) chain-major last.
        """
        return posterior_params(self.idata[group], max_draws)

    def probability_draws(
        self, frame: pd.DataFrame, max_draws: int | None = None, site: str | None = None, population: str | None = None
    ) -> np.ndarray:
        """Posterior draws of P(malignant), for summaries :meth:`predict` does not give (thresholds, comparisons).

        Parameters
        ----------
        frame
            Canonical lesions (:func:`microcalc.read_lesions`).
        max_draws
            Use at most this many posterior draws; None for all.
        site, population
            Who a lesion whose site is blank comes from, as in :meth:`predict`.

        Returns
        -------
        numpy.ndarray
            Shape (lesions, draws): P(malignant) per lesion (input order) and draw.
        """
        chosen = population_of(frame, self.sites, population, site)
        return probability_draws(with_site(frame, chosen), self.params(max_draws), self.priors, self.sites, self.donors)

    def predict(
        self, frame: pd.DataFrame, ci: float = 0.95, site: str | None = None, population: str | None = None
    ) -> pd.DataFrame:
        """Posterior mean, equal-tailed credible interval and P(risk > 2%) per lesion, input order.

        ``population`` says who a lesion whose site is blank comes from: ``"clinical"`` (a new clinical
        biopsy series drawn from the published studies' distribution, blanks completed from a clinical case
        mix: :mod:`microcalc.modelling.clinical`), ``"new-site"`` (a new site like the training sites,
        integrated over the between-site spread, blanks completed from the training case mix) or the
        name of a training site (one of :attr:`sites`: that site's effect). ``site`` is the older way to
        name it and means the same; a name that is not a training site is a new site (with a warning).
        Neither: :data:`microcalc.modelling.predict.DEFAULT_POPULATION`. Lesions with a recorded site always use it.

        Parameters
        ----------
        frame
            Canonical lesions (:func:`microcalc.read_lesions`); blank findings are integrated over.
        ci
            Mass of the equal-tailed credible interval.
        site, population
            Who a lesion whose site is blank comes from (above).

        Returns
        -------
        pandas.DataFrame
            Per lesion in input order ``lesion_id``, ``p_malignant`` (posterior mean), ``ci_lower``, ``ci_upper``,
            ``p_above_2pct`` (P(risk > 2%), the BI-RADS 3 ceiling), then the input columns.
        """
        chosen = population_of(frame, self.sites, population, site)
        return predict_frame(with_site(frame, chosen), self.params(), self.priors, self.sites, self.donors, ci)

    def notes(self) -> list[str]:
        """What the data could not inform, in plain words (shown with the diagnostics and in the report)."""
        return [ONE_SITE_NOTE] if len(self.sites) == 1 else []

    def save(self, path: str | Path) -> Path:
        """Write the fit as one self-describing netCDF file (atomic); never a pickle, so it is safe to share.

        Parameters
        ----------
        path
            The file to write (conventionally ``*.nc``); replaced only once complete.

        Returns
        -------
        Path
            The path written.
        """
        from microcalc.modelling.fitfile import save_fit

        return save_fit(self, path)


def summarise_data(frame: pd.DataFrame) -> dict:
    """Counts a reader needs to judge the fit: lesions, malignant, per site, per BI-RADS."""
    y = frame[schema.OUTCOME].astype("Int64")
    by = lambda col: {  # noqa: E731
        str(k): [int(n), int(m)]
        for k, n, m in zip(*_count_table(frame[col].astype("string").fillna("not recorded"), y))
    }
    return {
        "lesions": int(len(frame)),
        "malignant": int(y.sum()),
        "patients": int(frame["patient_id"].nunique()) if "patient_id" in frame else None,
        "by_site": by("site") if "site" in frame else {},
        "by_birads": by("birads") if "birads" in frame else {},
        "recorded": {
            c: int(frame[c].notna().sum())
            for c in schema.COLUMNS
            if c in frame and c not in ("lesion_id", "patient_id", schema.OUTCOME)
        },
    }


def _count_table(key: pd.Series, y: pd.Series) -> tuple[list[str], list[int], list[int]]:
    g = pd.DataFrame({"k": key, "y": y}).groupby("k")["y"]
    n, m = g.size(), g.sum()
    return n.index.tolist(), n.tolist(), m.tolist()


def training_sites(frame: pd.DataFrame, site: str | None = None) -> pd.DataFrame:
    """``frame`` with blank sites named ``site`` (default :data:`UNNAMED_SITE`): a file without sites is one site."""
    name = UNNAMED_SITE if site is None else str(site)
    if not name.strip():
        raise LesionInputError("--site", "a site name must not be blank", value=site)
    column = frame["site"] if "site" in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
    if column.notna().all() and "site" in frame:
        return frame
    return frame.assign(site=column.astype("string").fillna(name))


def training_patterns(frame: pd.DataFrame, priors: PriorSet) -> tuple[tuple[str, ...], Patterns]:
    """The training sites (sorted) and binomial covariate patterns of ``frame`` (sites as :func:`training_sites`)."""
    y = outcome_values(frame, "fitting")
    frame = training_sites(frame)
    sites = tuple(sorted(frame["site"].astype(str).unique()))
    return sites, aggregate(encode(frame, priors, sites), y)


@contextmanager
def quiet_pymc() -> Iterator[None]:
    """Silence PyMC's INFO chatter ("NUTS[nutpie]: ...") while sampling; our own lines replace it."""
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def fit(
    frame: pd.DataFrame,
    *,
    priors: PriorSet | str | Path | None = None,
    draws: int = SamplerSettings.draws,
    tune: int = SamplerSettings.tune,
    chains: int = SamplerSettings.chains,
    seed: int | None = None,
    progressbar: bool = False,
    site: str | None = None,
) -> Fit:
    """Fit the hierarchical model to a canonical lesion frame (see :func:`microcalc.read_lesions`).

    The lesions are aggregated into binomial covariate patterns and the model of :mod:`~microcalc.modelling.model` is
    sampled with NUTS (nutpie); the log-likelihood, log-prior and prior draws sensitivity analysis needs are kept.

    Parameters
    ----------
    frame
        Canonical lesions with a known outcome in every row.
    priors
        A :class:`~microcalc.priors.PriorSet`, a prior file, or None for the bundled literature priors.
    draws, tune, chains
        Posterior draws per chain, tuning steps per chain, chains.
    seed, progressbar
        Random seed of the sampler and the prior draws (None: a fresh one); show nutpie's progress bar.
    site
        The site of every lesion whose site is blank (default :data:`UNNAMED_SITE`), so that a file
        without sites (one institution's lesions, CBIS-DDSM) is one site. With one site the between-site
        SD is informed by its prior alone (:meth:`Fit.notes` says so).

    Returns
    -------
    Fit
        The fitted model. Check ``fit.convergence.ok`` before using its numbers: a fit that did not
        converge is returned, not refused.

    Raises
    ------
    LesionInputError
        A row without a known outcome, a blank ``site`` name or a malformed prior file.

    References
    ----------
    Hoffman MD, Gelman A. The No-U-Turn sampler: adaptively setting path lengths in Hamiltonian Monte
    Carlo. Journal of Machine Learning Research 15, 1593-1623 (2014).
    """
    import pymc as pm

    priors = priors if isinstance(priors, PriorSet) else load_priors(priors)
    outcome_values(frame, "fitting")
    sources = frame.attrs.get("sources", [])
    frame = training_sites(frame, site)
    sites, patterns = training_patterns(frame, priors)
    model = build_model(patterns, priors, sites)
    abundant = needs_mode_start(patterns, len(sites))
    settings = SamplerSettings(
        draws,
        tune,
        chains,
        seed,
        start="mode" if abundant else "jitter",
        adaptation=ABUNDANT_ADAPTATION if abundant else "diag",
    )
    with model, warnings.catch_warnings(), quiet_pymc():
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        idata = sample_posterior(model, settings, progressbar)
        idata["log_likelihood"] = log_likelihood_group(idata, patterns)
        pm.stats.compute_log_prior(idata, extend_inferencedata=True, progressbar=False)
        names = [v for v in (*PARAMETER_GROUPS, *EQUATION_PARAMETERS) if v in model.named_vars]
        prior = pm.sample_prior_predictive(draws=PRIOR_DRAWS, var_names=names, random_seed=seed)
    idata["prior"] = prior["prior"]
    present = [v for v in PARAMETER_GROUPS if v in idata["posterior"] and idata["posterior"][v].size]
    return Fit(
        idata=idata,
        priors=priors,
        sites=sites,
        donors=training_table(frame),
        convergence=check_convergence(idata, present),
        settings=settings,
        data_summary={**summarise_data(frame), "patterns": int(len(patterns.trials)), "sources": sources},
        versions=library_versions(),
    )


def sample_posterior(model: pm.Model, settings: SamplerSettings, progressbar: bool = False) -> DataTree:
    """NUTS draws from nutpie (numba backend) as a DataTree with observed and constant data.

    nutpie is called directly: ``pm.sample``'s nutpie route adds ~4 s of convergence checks that
    :func:`microcalc.modelling.diagnostics.check_convergence` repeats anyway. With abundant data the chains
    start near the mode with a low-rank mass matrix (``settings.start``; see :mod:`microcalc.modelling.mode`).
    """
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata

    from microcalc.modelling.compiled import compile_model

    compiled = compile_model(model)
    if settings.start == "mode":
        compiled = start_near_mode(compiled)
    start = time.perf_counter()
    idata = nutpie.sample(
        compiled,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        seed=settings.seed,
        target_accept=settings.target_accept,
        adaptation=settings.adaptation,
        save_warmup=False,
        progress_bar=progressbar,
    )
    patch_nutpie_idata(idata, model, sampling_time=time.perf_counter() - start)
    return idata


def log_likelihood_group(idata: DataTree, patterns: Patterns) -> DataTree:
    """Binomial log-likelihood of each training pattern per draw (the group PSIS and psense read)."""
    import xarray as xr

    posterior = idata["posterior"]
    p = malignancy_probability(posterior_params(posterior), patterns.design, numpy_ops())
    values = binomial_log_likelihood(p, patterns.trials, patterns.malignant)
    return xr.DataTree(xr.Dataset({schema.OUTCOME: per_draw(values, posterior, "pattern", np.arange(len(values)))}))


def load(path: str | Path) -> Fit:
    """Read a fit saved by :meth:`Fit.save`; a clear :class:`~microcalc.io.errors.FitFileError` if it is not one.

    Defined here, not in :mod:`~microcalc.modelling.fitfile` (which reads the file), to avoid an import circle.

    Parameters
    ----------
    path
        A fit file written by :meth:`Fit.save` (``microcalc fit``).

    Returns
    -------
    Fit
        The fit, as it was saved (a missing, corrupt or incompatible file raises ``FitFileError``).
    """
    fields = read_fit(path)
    return Fit(**fields | {"settings": SamplerSettings(**fields["settings"])})
