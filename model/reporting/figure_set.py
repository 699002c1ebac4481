"""The report's figures: which are drawn, from which tables, with their captions.

The drawing itself is in :mod:`microcalc.reporting.figures`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from microcalc.reporting import figures
from microcalc.reporting.content import ReportContent
from microcalc.reporting.tables import CI, GROUP_TITLES, scalar_draws

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from microcalc.modelling.fitting import Fit

DENSITY_PANELS: tuple[tuple[str, str | None, str], ...] = (
    ("intercept", None, "baseline log-odds"),
    ("site_sd", None, "between-site SD"),
    ("morphology_sd", None, "morphology level SD"),
    ("distribution_sd", None, "distribution level SD"),
    ("birads_step", "step_4C_to_5", "BI-RADS step 4C → 5"),
    ("covariate_effect", "age_per_decade", "age, log-OR per decade"),
)


def report_figures(fit: Fit, c: ReportContent, ci: float = CI) -> dict[str, tuple[Figure, str]]:
    """The report's figures by id, each with its caption (matplotlib Figures)."""
    head = c.headline.iloc[0]
    headline_fig = figures.headline_figure(
        c.cluster_posterior,
        c.cluster_prior,
        head.published_low,
        head.published_high,
        ci,
        title=head.level[:1].upper() + head.level[1:],
    )  # names the population
    out = {
        "fig-headline": (
            headline_fig,
            "Headline: blue = after the data, grey = before the data (prior only), amber = published range.",
        ),
    }
    for group, title in GROUP_TITLES.items():
        part = c.headline[c.headline["group"] == group]
        out[f"fig-{group}"] = (
            figures.category_forest(part, "", ci),  # the section heading is the title
            f"{title}: model estimate (blue), published range (amber), raw rate in the data "
            "(red diamond) with its count.",
        )
    out["fig-covariates"] = (
        figures.odds_ratio_forest(c.covariates, ci),
        "Odds ratios; grey rows are informed by the prior alone.",
    )
    out["fig-prior-posterior"] = (
        figures.prior_posterior_intervals(c.prior_posterior, ci),
        "Prior (grey) and posterior (blue) intervals of the main parameters; right: posterior sd / prior sd.",
    )
    panels = [
        (label, scalar_draws(fit.idata["prior"], v, k), scalar_draws(fit.idata["posterior"], v, k))
        for v, k, label in DENSITY_PANELS
    ]
    out["fig-densities"] = (
        figures.prior_posterior_densities(panels),
        "Prior (grey) and posterior (blue) distributions of six key parameters.",
    )
    out["fig-sites"] = (
        figures.site_forest(c.sites, ci),
        "Biopsied grouped cluster at each training site and at a new site; red diamond: "
        "raw rate among biopsied lesions at that site.",
    )
    return out
