"""Everything the report shows, computed once from a fit.

:class:`ReportContent` and :func:`report_content` (the slow part), with the plain-words note on the
population the answers are for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from microcalc.modelling.predict import CLINICAL, resolve_population
from microcalc.modelling.predict import NEW_SITE as NEW_SITE_POPULATION
from microcalc.reporting import headline
from microcalc.reporting.clinical_ranges import RangeReading, range_reading
from microcalc.reporting.further import Further, further_outputs
from microcalc.reporting.prior_posterior import prior_posterior_table
from microcalc.reporting.tables import CI, covariate_table, diagnostics_table, eti, scalar_draws, site_table
from microcalc.synthesis.evidence import level_evidence


@dataclass(frozen=True)
class ReportContent:
    """Every number and table the report shows, computed once from a fit."""

    headline: pd.DataFrame
    prior_headline: pd.DataFrame
    cluster_posterior: np.ndarray
    cluster_prior: np.ndarray
    covariates: pd.DataFrame
    prior_posterior: pd.DataFrame
    sites: pd.DataFrame
    site_sd: tuple[float, float, float]
    parameters: pd.DataFrame
    versions: dict | None
    further: list[Further]
    population: str = NEW_SITE_POPULATION  # who blank-site lesions come from in the headline and tables
    ddsm_headline: pd.DataFrame | None = None  # the same table at a new DDSM-like site (population != new-site)
    population_note: str = ""
    evidence: pd.DataFrame | None = None  # per literature level: ESS and conflict with the training data
    ranges: RangeReading | None = None  # the clinical population's answers against the published ranges


def report_content(
    fit, out_dir: Path, fit_path: str | Path | None = None, ci: float = CI, population: str | None = None
) -> ReportContent:
    """Compute the report's tables from a fit (the slow part: a few seconds).

    ``population``: who the headline's and tables' blank-site lesions come from (None: the default,
    :data:`microcalc.modelling.predict.DEFAULT_POPULATION`); unless it is ``new-site`` the answers at a new
    DDSM-like site are computed too and shown beside them.
    """
    population = resolve_population(population)
    params, prior = fit.params(), fit.params(group="prior")
    keys, posterior_draws = headline.headline_draws(params, fit.priors, fit.sites, fit.donors, population)
    _, prior_draws = headline.headline_draws(prior, fit.priors, fit.sites, fit.donors, population)
    if population == NEW_SITE_POPULATION:
        ddsm, new_site_draws, note = None, posterior_draws[0], ""
    else:
        ddsm_keys, ddsm_draws = headline.headline_draws(params, fit.priors, fit.sites, fit.donors, NEW_SITE_POPULATION)
        ddsm, new_site_draws = headline.table_from_draws(ddsm_keys, ddsm_draws, fit.donors, ci), ddsm_draws[0]
        note = population_note(population)
    covariates = covariate_table(fit, ci)
    informed = covariates.loc[~covariates["prior_only"], "coefficient"].tolist()
    sd = scalar_draws(fit.idata["posterior"], "site_sd")
    evidence = level_evidence(fit.donors)
    prior_headline = headline.table_from_draws(keys, prior_draws, fit.donors, ci)
    ranges = range_reading(params, fit, (keys, posterior_draws), prior_headline) if population == CLINICAL else None
    return ReportContent(
        headline=headline.table_from_draws(keys, posterior_draws, fit.donors, ci),
        prior_headline=prior_headline,
        cluster_posterior=posterior_draws[0],  # row 0 of headline_draws: the grouped cluster in the population
        cluster_prior=prior_draws[0],
        covariates=covariates,
        prior_posterior=prior_posterior_table(fit, informed, ci, evidence),
        sites=site_table(fit, params, ci, new_site_draws=new_site_draws),
        site_sd=(float(sd.mean()), *eti(sd, ci)),
        parameters=diagnostics_table(fit),
        versions=dict(fit.versions) or None,
        further=further_outputs(out_dir, fit_path),
        population=population,
        ddsm_headline=ddsm,
        population_note=note,
        evidence=evidence,
        ranges=ranges,
    )


def population_note(population: str) -> str:
    """What the report's population is, in plain words (with the literature's figures for ``clinical``)."""
    if population != CLINICAL:
        return f"Lesions without a site are taken to be from training site {population}."
    from microcalc.modelling.clinical import clinical_series

    return (
        f"The *clinical population* is a new clinical biopsy series drawn from the published studies' "
        f"distribution ({clinical_series().describe()}). Its log-odds offset replaces a DDSM site effect and is "
        "set so that, over a clinical case mix (training lesions re-weighted to the series' BI-RADS mix, "
        "BI-RADS 0 and 2 not biopsied), the model's average malignancy equals the series' rate, integrated "
        "over the between-study SD; blank findings are completed from that case mix. Every single-finding "
        "answer is then a prediction of the published rate, not fitted to it. DDSM is an archive enriched "
        "for cancer (its sites are 14-73% malignant), so the answer at a new DDSM-like site is shown beside it."
    )
