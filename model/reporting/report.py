"""The posterior report: ``microcalc report FIT.nc --out DIR`` writes DIR/report.html and DIR/report.md.

The HTML file is self-contained (figures are inline SVG data URIs, no scripts, no network loads) and
prints on A4. It is meant to be read by a radiologist or epidemiologist in five minutes: the headline
answer first, then the answer per finding beside the published figures, covariate effects, what the
data changed, site variation, and finally the diagnostics a statistician needs to reproduce the fit.

Everything shown is computed here from a :class:`~microcalc.modelling.fitting.Fit` (tables) and drawn by
:mod:`microcalc.reporting.figures`; the notebooks call the same functions.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from microcalc import DISCLAIMER, __version__
from microcalc.io.atomic import write_text_atomic
from microcalc.modelling.diagnostics import MAX_RHAT, MIN_ESS, parameter_table
from microcalc.modelling.fitfile import library_versions
from microcalc.modelling.model import PARAMETER_GROUPS
from microcalc.modelling.predict import CLINICAL, resolve_population
from microcalc.modelling.predict import NEW_SITE as NEW_SITE_POPULATION
from microcalc.reporting import figures, headline
from microcalc.reporting.figures import interval, percent, published_range

CI = 0.95
FORMATS = ("html", "md", "both")
GROUP_TITLES: dict[str, str] = {
    "morphology": "By morphology",
    "distribution": "By distribution",
    "birads": "By BI-RADS category",
}
COVARIATE_LABELS: dict[str, str] = {
    "breast_density": "Breast density",
    "cluster_density": "Cluster density",
    "size_variability": "Size variability",
    "calc_count": "Number of calcifications",
    "change": "Change over time",
    "brca": "BRCA1/2 carrier",
    "tp53": "TP53 carrier",
    "family_history": "Family history",
    "postmenopausal": "Postmenopausal",
    "hrt": "Hormone therapy (HRT)",
    "age": "Age",
}
# Main parameters shown prior vs posterior: (variable, coordinate or None, label).
MAIN_PARAMETERS: tuple[tuple[str, str | None, str], ...] = (
    ("intercept", None, "baseline (BI-RADS 4B, new site)"),
    ("site_sd", None, "between-site SD"),
    ("morphology_group_shift", "benign", "morphology shift, benign group"),
    ("morphology_group_shift", "suspicious", "morphology shift, suspicious group"),
    ("morphology_sd", None, "morphology level SD"),
    ("distribution_group_shift", "benign", "distribution shift, benign group"),
    ("distribution_group_shift", "suspicious", "distribution shift, suspicious group"),
    ("distribution_sd", None, "distribution level SD"),
    ("birads_step", "step_2_to_3", "BI-RADS step 2 → 3"),
    ("birads_step", "step_3_to_4A", "BI-RADS step 3 → 4A"),
    ("birads_step", "step_4A_to_4B", "BI-RADS step 4A → 4B"),
    ("birads_step", "step_4B_to_4C", "BI-RADS step 4B → 4C"),
    ("birads_step", "step_4C_to_5", "BI-RADS step 4C → 5"),
    ("birads_category_0", None, "BI-RADS 0 (vs 4B)"),
)
DENSITY_PANELS: tuple[tuple[str, str | None, str], ...] = (
    ("intercept", None, "baseline log-odds"),
    ("site_sd", None, "between-site SD"),
    ("morphology_sd", None, "morphology level SD"),
    ("distribution_sd", None, "distribution level SD"),
    ("birads_step", "step_4C_to_5", "BI-RADS step 4C → 5"),
    ("covariate_effect", "age_per_decade", "age, log-OR per decade"),
)
LINKED_SUFFIXES = (".html", ".png", ".csv", ".json", ".md")
PRIOR_ONLY_TOLERANCE = 0.15  # fallback rule: posterior mean and sd within 15% of a prior sd of the prior's


# --- numbers -------------------------------------------------------------------------------------


def _draws(node, var: str, coord: str | None = None) -> np.ndarray:
    """All draws (chains pooled) of one scalar entry of a posterior or prior group."""
    da = node[var]
    if coord is not None:
        other = [d for d in da.dims if d not in ("chain", "draw")][0]
        da = da.sel({other: coord})
    return np.asarray(da.values, dtype=float).reshape(-1)


def _eti(x: np.ndarray, ci: float = CI) -> tuple[float, float]:
    lo, hi = np.quantile(x, [(1 - ci) / 2, (1 + ci) / 2])
    return float(lo), float(hi)


def coefficient_column(coefficient: str) -> str:
    """Input column a coefficient belongs to: 'change[new]' -> 'change', 'age_per_decade' -> 'age'."""
    return "age" if coefficient == "age_per_decade" else coefficient.split("[", 1)[0]


def coefficient_label(coefficient: str, priors) -> str:
    """Plain label: 'Change over time: new vs stable', 'Age, per 10 years'."""
    column = coefficient_column(coefficient)
    if column == "age":
        return "Age, per 10 years"
    level = coefficient.split("[", 1)[1].rstrip("]")
    reference = priors.covariates[column].reference
    words = lambda s: s.replace("_", " ")  # noqa: E731
    return f"{COVARIATE_LABELS.get(column, words(column))}: {words(level)} vs {words(reference)}"


def recorded_counts(fit) -> dict[str, int | None]:
    """Training lesions with each covariate column recorded; None where the fit does not say.

    Uses ``fit.data_summary["recorded"]`` when the fit stores it; otherwise the training key
    table, which holds breast density and age (the other covariates are then unknown).
    """
    columns = [coefficient_column(c) for c in fit.priors.coefficient_names()]
    stored = fit.data_summary.get("recorded")
    if stored is not None:
        return {c: int(stored.get(c, 0)) for c in columns}
    out: dict[str, int | None] = dict.fromkeys(columns)
    for column, key in (("breast_density", "breast_density"), ("age", "age_band")):
        if key in fit.donors:
            out[column] = int(fit.donors.loc[fit.donors[key].notna().to_numpy(dtype=bool), "count"].sum())
    return out


def _matches_prior(post: np.ndarray, mu: float, sigma: float) -> bool:
    """Fallback: a coefficient whose posterior mean and sd equal its prior's (within tolerance)."""
    return abs(post.mean() - mu) < PRIOR_ONLY_TOLERANCE * sigma and abs(post.std() / sigma - 1) < PRIOR_ONLY_TOLERANCE


def covariate_table(fit, ci: float = CI) -> pd.DataFrame:
    """Odds ratio (posterior median of exp(coefficient), equal-tailed interval) per coefficient.

    ``prior_only`` is True when no training lesion recorded the covariate, so its effect is the
    literature prior unchanged; ``rule`` says how that was decided.
    """
    post = fit.idata["posterior"]
    names = [str(c) for c in post["covariate_effect"].coords["covariate"].values]
    mus, sds = fit.priors.coefficient_priors()
    recorded = recorded_counts(fit)
    z = NormalDist().inv_cdf((1 + ci) / 2)
    rows = []
    for name, mu, sd in zip(names, mus, sds):
        draws = _draws(post, "covariate_effect", name)
        n = recorded[coefficient_column(name)]
        prior_only = (n == 0) if n is not None else _matches_prior(draws, mu, sd)
        lo, hi = _eti(np.exp(draws), ci)
        rows.append(
            {
                "coefficient": name,
                "label": coefficient_label(name, fit.priors),
                "odds_ratio": float(np.median(np.exp(draws))),
                "or_lower": lo,
                "or_upper": hi,
                "prior_or": float(np.exp(mu)),
                "prior_or_lower": float(np.exp(mu - z * sd)),
                "prior_or_upper": float(np.exp(mu + z * sd)),
                "recorded": n,
                "prior_only": bool(prior_only),
                "rule": "recorded count" if n is not None else "posterior equals prior",
            }
        )
    return pd.DataFrame(rows)


def prior_posterior_table(fit, extra_coefficients: list[str] = (), ci: float = CI) -> pd.DataFrame:
    """Prior and posterior mean and interval of the main parameters, with how much the data moved each.

    ``sd_ratio`` = posterior sd / prior sd (1: the data added nothing; 0.3: the data cut the
    uncertainty to a third); ``shift`` = (posterior mean - prior mean) / prior sd.
    """
    extra = [("covariate_effect", c, coefficient_label(c, fit.priors)) for c in extra_coefficients]
    prior, post = fit.idata["prior"], fit.idata["posterior"]
    # a learned marginal-to-conditional scale (priors/synthesis.toml) is a main parameter too
    learned = [("conditional_scale", None, "marginal → conditional scale")] if "conditional_scale" in post else []
    entries = [*MAIN_PARAMETERS[:2], *learned, *MAIN_PARAMETERS[2:], *extra]
    rows = []
    for var, coord, label in entries:
        a, b = _draws(prior, var, coord), _draws(post, var, coord)
        rows.append(
            {
                "parameter": var if coord is None else f"{var}[{coord}]",
                "label": label,
                "prior_mean": a.mean(),
                "prior_lower": _eti(a, ci)[0],
                "prior_upper": _eti(a, ci)[1],
                "post_mean": b.mean(),
                "post_lower": _eti(b, ci)[0],
                "post_upper": _eti(b, ci)[1],
                "sd_ratio": b.std() / a.std(),
                "shift": (b.mean() - a.mean()) / a.std(),
            }
        )
    return pd.DataFrame(rows)


def grouped_cluster_draws(fit, params: dict, site: str | None = None) -> np.ndarray:
    """Draws of P(malignant) for the biopsied grouped cluster at ``site`` (None: a new site)."""
    return headline.grouped_cluster_draws(params, fit.priors, fit.sites, fit.donors, site)


def biopsied_counts(donors: pd.DataFrame, site: str | None = None) -> tuple[int, int]:
    """Biopsied (BI-RADS 4/5) training lesions and how many were malignant, at one site or all."""
    hit = headline.biopsied(donors)
    if site is not None:
        hit = hit & (donors["site"] == site).fillna(False).to_numpy(dtype=bool)
    return int(donors.loc[hit, "count"].sum()), int(donors.loc[hit, "malignant"].sum())


def site_table(fit, params: dict, ci: float = CI, new_site_draws: np.ndarray | None = None) -> pd.DataFrame:
    """Biopsied grouped cluster at each training site and at a new site (like the training sites), with each
    site's data.

    ``new_site_draws``: the new-site draws when the caller has them already (headline row 0 at a new site).
    """
    rows = []
    for site in (*fit.sites, None):
        known = site is None and new_site_draws is not None
        draws = new_site_draws if known else grouped_cluster_draws(fit, params, site or NEW_SITE_POPULATION)
        n, m = biopsied_counts(fit.donors, site)
        summary = fit.data_summary
        lesions, malignant = (
            summary.get("by_site", {}).get(site, [0, 0])
            if site
            else (summary.get("lesions", 0), summary.get("malignant", 0))
        )
        odds = np.exp(_draws(fit.idata["posterior"], "site_effect", site)) if site else np.full(1, np.nan)
        rows.append(
            {
                "site": site or "new site",
                "mean": draws.mean(),
                "ci_lower": _eti(draws, ci)[0],
                "ci_upper": _eti(draws, ci)[1],
                "observed_n": n,
                "observed_malignant": m,
                "lesions": int(lesions),
                "malignant": int(malignant),
                "site_or": float(np.median(odds)),
                "site_or_lower": _eti(odds, ci)[0],
                "site_or_upper": _eti(odds, ci)[1],
            }
        )
    return pd.DataFrame(rows)


def diagnostics_table(fit) -> pd.DataFrame:
    """Per-parameter mean, sd, ESS and R-hat of every free parameter (ArviZ summary)."""
    post = fit.idata["posterior"]
    present = [v for v in PARAMETER_GROUPS if v in post and post[v].size]
    return parameter_table(fit.idata, present)[["mean", "sd", "ess_bulk", "ess_tail", "r_hat"]]


@dataclass(frozen=True)
class Further:
    """Output of another command the report links to (or says how to produce)."""

    title: str
    folder: str
    files: tuple[Path, ...]
    how: str
    metrics: dict | None = None
    reading: tuple[str, ...] = ()  # plain-language findings the command wrote, if any


def _read_json(path: Path) -> dict | None:
    """A small JSON summary written by another command, or None if absent or unreadable."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def further_outputs(out_dir: Path, fit_path: str | Path | None) -> list[Further]:
    """Sensitivity, evaluation and cross-validation output found beside the report."""
    fit_arg = str(fit_path) if fit_path else "FIT.nc"
    specs = [
        ("Prior sensitivity", "sensitivity", f"microcalc sensitivity {fit_arg} --out {out_dir / 'sensitivity'}"),
        (
            "Out-of-sample evaluation",
            "evaluation",
            f"microcalc evaluate {fit_arg} TEST.csv --out {out_dir / 'evaluation'}",
        ),
        ("Cross-validation", "crossval", f"microcalc crossval --by case --out {out_dir / 'crossval'}"),
        (
            "Value of the literature priors",
            "learning_curve",
            f"microcalc learning-curve --out {out_dir / 'learning_curve'}",
        ),
        (
            "Evidence synthesis of the published series",
            "literature",
            f"microcalc literature --fit {fit_arg} --out {out_dir / 'literature'}",
        ),
    ]
    out = []
    for title, folder, how in specs:
        root = out_dir / folder
        found = [p for p in root.glob("*") if p.suffix in LINKED_SUFFIXES and not p.name.startswith(".")]
        files = tuple(sorted(found, key=lambda p: (p.suffix != ".html", p.name)))  # HTML pages first
        metrics = _read_json(root / "metrics.json")
        summary = _read_json(root / "sensitivity_summary.json") or {}
        reading = summary.get("reading", [])
        reading = tuple([reading] if isinstance(reading, str) else reading)
        out.append(Further(title, folder, files, how, metrics, reading))
    return out


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
    sd = _draws(fit.idata["posterior"], "site_sd")
    return ReportContent(
        headline=headline.table_from_draws(keys, posterior_draws, fit.donors, ci),
        prior_headline=headline.table_from_draws(keys, prior_draws, fit.donors, ci),
        cluster_posterior=posterior_draws[0],  # row 0 of headline_draws: the grouped cluster in the population
        cluster_prior=prior_draws[0],
        covariates=covariates,
        prior_posterior=prior_posterior_table(fit, informed, ci),
        sites=site_table(fit, params, ci, new_site_draws=new_site_draws),
        site_sd=(float(sd.mean()), *_eti(sd, ci)),
        parameters=diagnostics_table(fit),
        versions=dict(fit.versions) or None,
        further=further_outputs(out_dir, fit_path),
        population=population,
        ddsm_headline=ddsm,
        population_note=note,
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


# --- figures -------------------------------------------------------------------------------------


def report_figures(fit, c: ReportContent, ci: float = CI) -> dict[str, tuple[object, str]]:
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
        (label, _draws(fit.idata["prior"], v, k), _draws(fit.idata["posterior"], v, k))
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


def svg_data_uri(fig) -> str:
    """A figure as a base64 SVG data URI (vector, self-contained, isolated from the page's ids)."""
    svg = figures.to_svg(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


# --- shared text -----------------------------------------------------------------------------------

NEW_SITE = (
    "A *new site* is a hospital or screening programme that was not in the training data. Sites "
    "differ in case mix and referral, so the model averages over the spread between sites instead of "
    "assuming the new site is like any one of them. This makes the interval wider."
)
EQUAL_TAILED = (
    "All intervals are {pc} equal-tailed credible intervals: {tail} of the probability lies below "
    "the lower end and {tail} above the upper end."
)
CITATIONS = (
    "Heath M, Bowyer K, Kopans D, Moore R, Kegelmeyer P. The Digital Database for Screening Mammography. "
    "In: Proceedings of the 5th International Workshop on Digital Mammography. Medical Physics Publishing; 2001.",
    "Lee RS, Gimenez F, Hoogi A, Miyake KK, Gorovoy M, Rubin DL. A curated mammography data set for use in "
    "computer-aided detection and diagnosis research. Scientific Data 4, 170177 (2017), doi:10.1038/sdata.2017.177. "
    "CBIS-DDSM is distributed under CC BY 3.0.",
)


def _disclaimer_html() -> str:
    """The disclaimer with its first sentence in bold."""
    first, _, rest = DISCLAIMER.partition(":")
    return f"<strong>{_e(first)}:</strong>{_e(rest)}" if rest else f"<strong>{_e(DISCLAIMER)}</strong>"


def _plain(text: str) -> str:
    return text.replace("*", "")


def headline_sentences(c: ReportContent, ci: float = CI) -> list[str]:
    """The headline answer in three or four short sentences."""
    r = c.headline.iloc[0]
    mean = r["mean"]
    where = (
        "within" if r.published_low <= mean <= r.published_high else "above" if mean > r.published_high else "below"
    ) + " that range"
    if not where.startswith("within") and r.ci_lower <= r.published_high and r.ci_upper >= r.published_low:
        where += ", but its credible interval overlaps it"
    where_from = {CLINICAL: "in a clinical population", NEW_SITE_POPULATION: "at a new site"}.get(
        c.population, f"at site {c.population}"
    )
    out = [
        f"Of grouped clusters of microcalcifications that go to biopsy (BI-RADS 4 or 5) {where_from}, the model "
        f"estimates that {percent(mean)} are malignant ({100 * ci:.0f}% credible interval "
        f"{interval(r.ci_lower, r.ci_upper)}).",
        f"Published biopsy series report {published_range(r.published_low, r.published_high)}; the estimate is "
        f"{where}.",
    ]
    if r.observed_n:
        out.append(
            f"In the training data, {r.observed_malignant} of {r.observed_n} biopsied lesions "
            f"({percent(r.observed_malignant / r.observed_n)}) were malignant."
        )
    if c.ddsm_headline is not None:
        d = c.ddsm_headline.iloc[0]
        out.append(
            f"At a new site like DDSM's (an archive enriched for cancer) it is {percent(d['mean'])} "
            f"({interval(d.ci_lower, d.ci_upper)})."
        )
    p = c.prior_headline.iloc[0]
    out.append(
        f"Before seeing the data (priors alone) the model said {percent(p['mean'])} "
        f"({interval(p.ci_lower, p.ci_upper)})."
    )
    return out


def prior_only_sentence(c: ReportContent) -> str:
    """Which covariates are informed by priors alone, in one sentence."""
    only = c.covariates[c.covariates["prior_only"]]
    if only.empty:
        return "Every covariate was recorded in the training data, so every effect is informed by data and prior."
    columns = list(dict.fromkeys(coefficient_column(n) for n in only["coefficient"]))
    names = ", ".join(_lower_first(COVARIATE_LABELS.get(col, col)) for col in columns)
    rule = (
        "no training lesion recorded them"
        if (only["rule"] == "recorded count").all()
        else "their posterior equals their prior (this fit file does not store which columns were recorded)"
    )
    return (
        f"Informed by priors alone: {names}. {rule[0].upper() + rule[1:]}, so their effects are the "
        "literature priors, unchanged by data."
    )


def site_sentences(c: ReportContent) -> list[str]:
    """Plain reading of the between-site SD and the spread of site rates."""
    mean, lo, hi = c.site_sd
    known = c.sites[c.sites["site"] != "new site"]
    out = [
        f"The between-site SD is {mean:.2f} on the log-odds scale (interval {lo:.2f}–{hi:.2f}): a site one SD "
        f"above average has about {np.exp(mean):.1f} times the odds of malignancy of an average site."
    ]
    if len(known) == 1:
        return [
            f"There is one training site ({known.iloc[0].site}), so the between-site SD is informed by its prior "
            f"alone (posterior mean {mean:.2f}, interval {lo:.2f}–{hi:.2f} on the log-odds scale). The answer for "
            f"a new site averages over that prior spread, which is why its interval is wider than the interval "
            f"at site {known.iloc[0].site}."
        ]
    if len(known):
        top, low = known.loc[known["mean"].idxmax()], known.loc[known["mean"].idxmin()]
        out.append(
            f"For the same biopsied grouped cluster, the estimate ranges from {percent(low['mean'])} at site "
            f"{low.site} to {percent(top['mean'])} at site {top.site}."
        )
    out.append(
        "Differences between sites (DDSM's above all) mostly reflect case selection, not biology; a new "
        "site gets the average over this spread."
    )
    return out


def _lower_first(label: str) -> str:
    """'Family history' -> 'family history'; acronyms ('BRCA1/2 carrier') stay as they are."""
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def moved_sentence(c: ReportContent) -> str:
    """Which main parameters the data moved most and least."""
    t = c.prior_posterior.sort_values("sd_ratio")
    most, least = t.iloc[0], t.iloc[-1]
    return (
        f"The data narrowed '{most.label}' most (posterior sd {most.sd_ratio:.2f} × the prior's) and "
        f"'{least.label}' least ({least.sd_ratio:.2f} ×). "
        "A ratio near 1 means the answer there rests on the prior."
    )


# --- HTML ------------------------------------------------------------------------------------------

CSS = """
:root { --blue: #1f4e79; --grey: #6b6b6b; --amber: #f0c36d; --red: #b2182b; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #1a1a1a; line-height: 1.45;
       max-width: 60rem; margin: 0 auto; padding: 1.5rem 1.5rem 4rem; font-size: 15px; }
h1 { font-size: 1.7rem; margin: 0 0 .2rem; color: var(--blue); }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 2px solid var(--blue);
     color: var(--blue); }
h3 { font-size: 1.08rem; margin: 1.4rem 0 .4rem; }
p, li { max-width: 52rem; }
.sub { color: var(--grey); margin: 0 0 1rem; }
.disclaimer { border-left: 5px solid var(--red); background: #fbeff0; padding: .6rem .9rem; margin: 1rem 0; }
.banner { background: var(--red); color: white; font-weight: bold; font-size: 1.25rem; padding: 1rem 1.2rem;
          margin: 1rem 0; border-radius: 4px; }
.banner span { display: block; font-size: .95rem; font-weight: normal; margin-top: .3rem; }
.banner code { background: rgba(255, 255, 255, .18); color: white; }
.answer { display: flex; gap: 1.5rem; align-items: center; background: #eef3f8; border-radius: 6px;
          padding: 1rem 1.3rem; margin: .8rem 0 1rem; }
.answer .big { font-size: 3rem; font-weight: bold; color: var(--blue); line-height: 1; }
.answer .ci { font-size: 1.05rem; }
.answer .pub { color: #7a5200; }
nav { font-size: .9rem; background: #f5f5f5; padding: .5rem .8rem; border-radius: 4px; }
nav a { margin-right: .9rem; color: var(--blue); text-decoration: none; white-space: nowrap; }
figure { margin: 1rem 0 1.4rem; break-inside: avoid; page-break-inside: avoid; }
figure img { width: 100%; height: auto; display: block; }
figcaption { font-size: .85rem; color: var(--grey); margin-top: .2rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .6rem 0 1rem; }
th, td { padding: .2rem .6rem; border-bottom: 1px solid #e2e2e2; text-align: left; vertical-align: top;
         white-space: nowrap; }
td.wrap { white-space: normal; font-size: .92em; min-width: 14em; }
th { background: #f2f2f2; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { color: var(--red); font-weight: bold; }
.muted { color: var(--grey); }
.prior-only { color: var(--grey); font-style: italic; }
code { font-size: .88em; background: #f3f3f3; padding: 0 .25em; border-radius: 3px; }
.cols { display: flex; flex-wrap: wrap; gap: 0 3rem; align-items: flex-start; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { font-size: 10pt; max-width: none; padding: 0; }
  nav { display: none; }
  h2 { break-after: avoid; page-break-after: avoid; }
  h3 { break-after: avoid; }
  .banner, .disclaimer, .answer, th { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .answer { break-inside: avoid; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  table { width: 100%; }
  a { color: inherit; text-decoration: none; }
}
"""


def _e(text) -> str:
    """Text made safe for HTML (quotes too, so it may sit in an attribute)."""
    return html.escape(str(text))


def _table(
    header: list[str],
    rows: list[list],
    numeric: set[int] = frozenset(),
    classes: list[str] | None = None,
    wrap: set[int] = frozenset(),
) -> str:
    """An HTML table; ``numeric`` columns right-aligned, ``wrap`` columns may wrap; ``classes`` per row."""

    def cell(tag, i, v):
        klass = "num" if i in numeric else "wrap" if i in wrap else ""
        return f"<{tag}{f' class={klass}' if klass else ''}>{v}</{tag}>"

    head = "".join(cell("th", i, _e(h)) for i, h in enumerate(header))
    body = []
    for k, row in enumerate(rows):
        cls = f" class='{classes[k]}'" if classes and classes[k] else ""
        body.append(f"<tr{cls}>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure_html(fig_id: str, fig, caption: str) -> str:
    return (
        f"<figure id='{fig_id}'><img src='{svg_data_uri(fig)}' alt='{_e(caption)}'>"
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _md_inline(text: str) -> str:
    """*word* -> <em>word</em> after escaping (for the shared sentences)."""
    parts = _e(text).split("*")
    return "".join(f"<em>{p}</em>" if i % 2 else p for i, p in enumerate(parts))


def _category_table(part: pd.DataFrame, prior: pd.DataFrame, ddsm: pd.DataFrame | None = None) -> str:
    rows = []
    others = ddsm.itertuples() if ddsm is not None else (None for _ in range(len(part)))
    for r, p, d in zip(part.itertuples(), prior.itertuples(), others):
        row = [
            _e(figures.level_label(r.group, r.level)),
            percent(r.mean),
            interval(r.ci_lower, r.ci_upper),
            f"{percent(p.mean)} ({interval(p.ci_lower, p.ci_upper)})",
            published_range(r.published_low, r.published_high) if r.published_source else "–",
            f"{r.observed_malignant}/{r.observed_n}" if r.observed_n else "none",
            f"<span class='muted'>{_e(r.published_source)}</span>",
        ]
        if d is not None:
            row.insert(4, f"{percent(d.mean)} ({interval(d.ci_lower, d.ci_upper)})")
        rows.append(row)
    head = ["finding", "model", f"{100 * CI:.0f}% CrI", "prior alone", "published", "data", "source"]
    if ddsm is None:
        return _table(head, rows, numeric={1, 5}, wrap={6})
    return _table([*head[:4], "new DDSM-like site", *head[4:]], rows, numeric={1, 6}, wrap={7})


EMBEDDED_FOLDERS = ("evaluation", "crossval", "learning_curve")  # their PNG figures are shown inline


def _embedded_png(path: Path) -> str:
    """A PNG written by another command, embedded so the report stays one self-contained file."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f"<figure><img alt='{_e(path.stem)}' style='width:100%;max-width:640px' src='data:image/png;base64,{data}'>"
        f"<figcaption>{_e(path.name)}</figcaption></figure>"
    )


def _further_html(items: list[Further], out_dir: Path) -> str:
    parts = []
    for f in items:
        if f.files:
            pages = [p for p in f.files if p.suffix == ".html"] or list(f.files)
            links = ", ".join(f"<a href='{_e(p.relative_to(out_dir).as_posix())}'>{_e(p.name)}</a>" for p in pages)
            rest = len(f.files) - len(pages)
            more = f" (and {rest} more files in <code>{_e(f.folder)}/</code>)" if rest else ""
            text = f"<p><strong>{_e(f.title)}</strong>: {links}{more}</p>"
            if f.metrics:
                keys = [
                    k
                    for k in ("n", "auc", "brier", "log_loss", "calibration_slope", "interval_coverage")
                    if isinstance(f.metrics.get(k), (int, float))
                ]
                text += "<p class='muted'>" + _e(", ".join(f"{k} {f.metrics[k]:.3g}" for k in keys)) + "</p>"
            text += "".join(f"<p>{_e(line)}</p>" for line in f.reading)
            if f.folder in EMBEDDED_FOLDERS:
                text += "".join(_embedded_png(p) for p in f.files if p.suffix == ".png")
        else:
            text = (
                f"<p><strong>{_e(f.title)}</strong>: not produced yet. Run <code>{_e(f.how)}</code> "
                "and rebuild this report to link it here.</p>"
            )
        parts.append(text)
    return "".join(parts)


def _diagnostics_html(fit, c: ReportContent, fit_path) -> str:
    conv = fit.convergence
    p = c.parameters
    bad = [("bad" if (r.r_hat > MAX_RHAT or r.ess_bulk < MIN_ESS) else "") for r in p.itertuples()]
    rows = [
        [_e(name), f"{r.mean:.3f}", f"{r.sd:.3f}", f"{r.ess_bulk:.0f}", f"{r.ess_tail:.0f}", f"{r.r_hat:.3f}"]
        for name, r in zip(p.index, p.itertuples())
    ]
    s = fit.settings
    ds = fit.data_summary
    settings = [[_e(k), _e(v)] for k, v in vars(s).items()]
    data_rows = [
        ["lesions", ds.get("lesions")],
        ["malignant", ds.get("malignant")],
        ["patients", ds.get("patients")],
        ["distinct covariate patterns", ds.get("patterns")],
    ]
    data_rows += [[f"site {k}", f"{v[1]}/{v[0]} malignant"] for k, v in ds.get("by_site", {}).items()]
    data_rows += [[f"BI-RADS {k}", f"{v[1]}/{v[0]} malignant"] for k, v in ds.get("by_birads", {}).items()]
    now = library_versions()
    names = list(dict.fromkeys([*(c.versions or {}), *now]))
    version_rows = [[_e(k), _e((c.versions or {}).get(k, "not recorded")), _e(now.get(k, "–"))] for k in names]
    verdict = "converged" if conv.ok else "NOT CONVERGED"
    return "".join(
        [
            f"<p><strong>{verdict}.</strong> {_e(conv.text())}</p>",
            *(f"<p><strong>Note:</strong> {_e(note)}.</p>" for note in fit.notes()),
            f"<p>Thresholds: R-hat ≤ {MAX_RHAT}, bulk ESS ≥ {MIN_ESS}, no divergent transitions (Vehtari et al. 2021). "
            "Rows that fail are in red.</p>",
            "<div class='cols'><div>",
            "<h3>Sampler settings</h3>",
            _table(["setting", "value"], settings),
            "</div><div>",
            "<h3>Training data</h3>",
            _table(["", "count"], [[_e(a), _e(b)] for a, b in data_rows], numeric={1}),
            "</div></div>",
            "<h3>Prior file and versions</h3>",
            f"<p>Prior file <strong>{_e(fit.priors.name)}</strong> (<code>{_e(fit.priors.path)}</code>): "
            f"{_e(fit.priors.description)} Its full text is stored inside the fit file.</p>",
            f"<p>Fit file: <code>{_e(fit_path) if fit_path else 'not saved'}</code>.</p>",
            _table(["library", "at fit time", "this report"], version_rows),
            "<h3>Every free parameter</h3>",
            _table(
                ["parameter", "mean", "sd", "ESS bulk", "ESS tail", "R-hat"], rows, numeric={1, 2, 3, 4, 5}, classes=bad
            ),
        ]
    )


def render_html(fit, c: ReportContent, figs: dict, out_dir: Path, fit_path=None, ci: float = CI) -> str:
    """The complete self-contained HTML report."""
    conv = fit.convergence
    pc, tail = f"{100 * ci:.0f}%", f"{100 * (1 - ci) / 2:.1f}%"
    head, prior_head = c.headline.iloc[0], c.prior_headline.iloc[0]
    banner = (
        ""
        if conv.ok
        else (
            "<div class='banner' id='not-converged'>NOT CONVERGED: do not use these numbers."
            f"<span>{_e('; '.join(conv.problems()))}. Refit with more draws and tuning steps "
            "(<code>microcalc fit --draws 2000 --tune 2000</code>).</span></div>"
        )
    )
    fig = lambda key: _figure_html(key, *figs[key])  # noqa: E731
    ddsm_line = (
        ""
        if c.ddsm_headline is None
        else (
            "<div class='muted' id='headline-ddsm'>new DDSM-like site: "
            f"{percent(c.ddsm_headline.iloc[0]['mean'])} ({interval(c.ddsm_headline.iloc[0].ci_lower, c.ddsm_headline.iloc[0].ci_upper)})</div>"
        )
    )
    case_mix = (
        ", re-weighted to the clinical series' case mix, for a clinical population (the column 'new DDSM-like "
        "site' gives the answer at a new site like the training sites)"
        if c.population == CLINICAL
        else ", and the site is new"
        if c.population == NEW_SITE_POPULATION
        else f", at site {c.population}"
    )
    categories = []
    for group, title in GROUP_TITLES.items():
        part = c.headline[c.headline["group"] == group]
        prior_part = c.prior_headline[c.prior_headline["group"] == group]
        ddsm_part = None if c.ddsm_headline is None else c.ddsm_headline[c.ddsm_headline["group"] == group]
        categories += [
            f"<h3 id='{group}'>{_e(title)}</h3>",
            fig(f"fig-{group}"),
            _category_table(part, prior_part, ddsm_part),
        ]
    cov = c.covariates
    cov_rows = [
        [
            _e(r.label),
            f"{r.odds_ratio:.2f}",
            f"{r.or_lower:.2f}–{r.or_upper:.2f}",
            f"{r.prior_or:.2f} ({r.prior_or_lower:.2f}–{r.prior_or_upper:.2f})",
            "–" if r.recorded is None or pd.isna(r.recorded) else f"{int(r.recorded)}",
            "prior only" if r.prior_only else "data and prior",
        ]
        for r in cov.itertuples()
    ]
    pp = c.prior_posterior
    pp_rows = [
        [
            _e(r.label),
            f"{r.prior_mean:.2f} ({r.prior_lower:.2f} to {r.prior_upper:.2f})",
            f"{r.post_mean:.2f} ({r.post_lower:.2f} to {r.post_upper:.2f})",
            f"{r.sd_ratio:.2f}",
            f"{r.shift:+.2f}",
        ]
        for r in pp.itertuples()
    ]
    site_rows = [
        [
            _e(r.site),
            f"{r.malignant}/{r.lesions}",
            f"{percent(r.mean)} ({interval(r.ci_lower, r.ci_upper)})",
            "averaged over sites"
            if r.site == "new site"
            else f"{r.site_or:.2f} ({r.site_or_lower:.2f}–{r.site_or_upper:.2f})",
        ]
        for r in c.sites.itertuples()
    ]
    body = f"""
<h1>microcalc posterior report</h1>
<p class='sub'>How likely is a cluster of breast microcalcifications to be malignant? Hierarchical Bayesian model,
microcalc {_e(__version__)}; fit <code>{_e(Path(fit_path).name) if fit_path else "in memory"}</code>;
{fit.data_summary.get("lesions", "?")} training lesions; prior file “{_e(fit.priors.name)}”.</p>
{banner}
<div class='disclaimer' id='disclaimer'>{_disclaimer_html()}</div>
<nav><a href='#headline'>Headline</a><a href='#categories'>By finding</a><a href='#covariates'>Covariates</a>
<a href='#prior-posterior'>Prior vs posterior</a><a href='#sites'>Sites</a><a href='#diagnostics'>Diagnostics</a>
<a href='#further'>Sensitivity &amp; evaluation</a><a href='#about'>About</a></nav>

<section id='headline'>
<h2>Headline: what share of clustered microcalcifications is malignant?</h2>
<div class='answer'><div class='big' id='headline-mean'>{percent(head["mean"])}</div>
<div><div class='ci'>{pc} credible interval
<strong id='headline-ci'>{interval(head.ci_lower, head.ci_upper)}</strong></div>
<div class='pub'>published: {published_range(head.published_low, head.published_high)}</div>
<div class='muted'>{_e(head.level)}</div>{ddsm_line}</div></div>
{"".join(f"<p>{_e(s)}</p>" for s in headline_sentences(c, ci))}
{fig("fig-headline")}
{f"<p id='population'>{_md_inline(c.population_note)}</p>" if c.population_note else ""}
<p>{_md_inline(NEW_SITE)} {_e(EQUAL_TAILED.format(pc=pc, tail=tail))}</p>
<p class='muted'>Published range: {_e(head.published_source)}. Prior alone: {percent(prior_head["mean"])}
({interval(prior_head.ci_lower, prior_head.ci_upper)}).</p>
</section>

<section id='categories'>
<h2>By finding: morphology, distribution, BI-RADS</h2>
<p>Each row answers: of lesions with this finding, what share is malignant? Only that finding is fixed; everything
else is averaged over what similar training lesions show{case_mix}. The amber band is the published
range the prior came from. The red diamond is the raw rate in the training data, with its count on the right. Raw
rates mix in everything else about those lesions, so they need not match the model.</p>
{"".join(categories)}
</section>

<section id='covariates'>
<h2>Covariate effects (odds ratios)</h2>
<p>An odds ratio above 1 raises the probability of malignancy; 1 means no effect. Each is the posterior median of
exp(coefficient) with its {pc} equal-tailed interval, compared with the stated reference level, holding the other
findings fixed.</p>
<p><strong>{_e(prior_only_sentence(c))}</strong></p>
{fig("fig-covariates")}
{
        _table(
            ["covariate", "odds ratio", f"{pc} CrI", f"prior OR ({pc})", "lesions recorded", "informed by"],
            cov_rows,
            numeric={1, 4},
            classes=["prior-only" if v else "" for v in cov["prior_only"]],
            wrap={0},
        )
    }
</section>

<section id='prior-posterior'>
<h2>Prior vs posterior: how much the data moved each prior</h2>
<p>Grey: the prior, from the literature. Blue: after the DDSM data. The sd ratio is posterior sd / prior sd:
1 means the data added nothing; 0.3 means the data cut the uncertainty to a third. The shift is how far the mean
moved, in prior sds. Covariates informed by priors alone are left out (their ratio is 1 by construction).</p>
<p>{_e(moved_sentence(c))}</p>
{fig("fig-prior-posterior")}
{fig("fig-densities")}
{
        _table(
            ["parameter (log-odds scale)", f"prior mean ({pc})", f"posterior mean ({pc})", "sd ratio", "shift"],
            pp_rows,
            numeric={3, 4},
        )
    }
<p>The same comparison on the probability scale is the “prior alone” column of the tables above.</p>
</section>

<section id='sites'>
<h2>Site-level variation</h2>
{"".join(f"<p>{_e(s)}</p>" for s in site_sentences(c))}
{fig("fig-sites")}
{
        _table(
            ["site", "malignant / lesions (all)", f"biopsied grouped cluster ({pc} CrI)", "site odds ratio vs average"],
            site_rows,
            numeric={1},
        )
    }
</section>

<section id='diagnostics'>
<h2>Diagnostics and reproducibility</h2>
{_diagnostics_html(fit, c, fit_path)}
</section>

<section id='further'>
<h2>Sensitivity and evaluation</h2>
<p>How the answers move with the priors, and how well the model predicts lesions it has not seen, are in separate
outputs. Put them in sub-folders of this report's folder to link them here.</p>
{_further_html(c.further, out_dir)}
</section>

<section id='about'>
<h2>About this report</h2>
<div class='disclaimer'>{_disclaimer_html()}</div>
<ul>
<li>{_md_inline(NEW_SITE)}</li>
<li>{_e(EQUAL_TAILED.format(pc=pc, tail=tail))}</li>
<li>“Model” numbers are posterior means of the probability of malignancy; “prior alone” is the same
calculation with prior draws (a prior predictive check).</li>
<li>{_e(prior_only_sentence(c))}</li>
</ul>
<h3>Data citations</h3>
<ul id='citations'>{"".join(f"<li>{_e(t)}</li>" for t in CITATIONS)}</ul>
<p>Prior sources are cited in the prior file, stored in the fit.</p>
</section>
"""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>microcalc posterior report</title><style>{CSS}</style></head><body>{body}</body></html>\n"
    )


# --- Markdown --------------------------------------------------------------------------------------


def _md_table(header: list[str], rows: list[list]) -> str:
    esc = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(fit, c: ReportContent, out_dir: Path, fit_path=None, ci: float = CI) -> str:
    """The report as plain Markdown text (tables, no figures)."""
    pc, tail = f"{100 * ci:.0f}%", f"{100 * (1 - ci) / 2:.1f}%"
    conv = fit.convergence
    out = ["# microcalc posterior report", ""]
    if not conv.ok:
        out += [f"> **NOT CONVERGED: do not use these numbers.** {'; '.join(conv.problems())}.", ""]
    out += [f"> **{DISCLAIMER}**", "", "Figures are in report.html beside this file.", "", "## Headline", ""]
    out += [*headline_sentences(c, ci), ""]
    if c.population_note:
        out += [_plain(c.population_note), ""]
    out += [_plain(NEW_SITE), EQUAL_TAILED.format(pc=pc, tail=tail), ""]
    out += ["## By finding", ""]
    for group, title in GROUP_TITLES.items():
        part = c.headline[c.headline["group"] == group]
        prior = c.prior_headline[c.prior_headline["group"] == group]
        rows = [
            [
                figures.level_label(r.group, r.level),
                percent(r.mean),
                interval(r.ci_lower, r.ci_upper),
                interval(p.ci_lower, p.ci_upper),
                published_range(r.published_low, r.published_high) if r.published_source else "–",
                f"{r.observed_malignant}/{r.observed_n}" if r.observed_n else "none",
            ]
            for r, p in zip(part.itertuples(), prior.itertuples())
        ]
        head = ["finding", "model", f"{pc} CrI", "prior alone CrI", "published", "data"]
        if c.ddsm_headline is not None:
            ddsm = c.ddsm_headline[c.ddsm_headline["group"] == group]
            for row, d in zip(rows, ddsm.itertuples()):
                row.insert(4, f"{percent(d.mean)} ({interval(d.ci_lower, d.ci_upper)})")
            head.insert(4, "new DDSM-like site")
        out += [f"### {title}", "", _md_table(head, rows), ""]
    out += ["## Covariate effects (odds ratios)", "", prior_only_sentence(c), ""]
    out += [
        _md_table(
            ["covariate", "odds ratio", f"{pc} CrI", "informed by"],
            [
                [
                    r.label,
                    f"{r.odds_ratio:.2f}",
                    f"{r.or_lower:.2f}–{r.or_upper:.2f}",
                    "prior only" if r.prior_only else "data and prior",
                ]
                for r in c.covariates.itertuples()
            ],
        ),
        "",
    ]
    out += [
        "## Prior vs posterior",
        "",
        moved_sentence(c),
        "",
        _md_table(
            ["parameter", "prior mean", "posterior mean", "sd ratio"],
            [
                [r.label, f"{r.prior_mean:.2f}", f"{r.post_mean:.2f}", f"{r.sd_ratio:.2f}"]
                for r in c.prior_posterior.itertuples()
            ],
        ),
        "",
    ]
    out += [
        "## Sites",
        "",
        *site_sentences(c),
        "",
        _md_table(
            ["site", "malignant / lesions", f"biopsied grouped cluster ({pc} CrI)"],
            [
                [r.site, f"{r.malignant}/{r.lesions}", f"{percent(r.mean)} ({interval(r.ci_lower, r.ci_upper)})"]
                for r in c.sites.itertuples()
            ],
        ),
        "",
    ]
    out += [
        "## Diagnostics",
        "",
        conv.text(),
        "",
        *(f"Note: {note}." for note in fit.notes()),
        "",
        "Sampler: " + ", ".join(f"{k}={v}" for k, v in vars(fit.settings).items()),
        f"Prior file: {fit.priors.name} ({fit.priors.path})",
        "Versions at fit time: "
        + (", ".join(f"{k} {v}" for k, v in c.versions.items()) if c.versions else "not recorded"),
        "",
    ]
    out += ["## Sensitivity and evaluation", ""]
    for f in c.further:
        if f.files:
            out.append(f"- {f.title}: " + ", ".join(p.relative_to(out_dir).as_posix() for p in f.files))
            out += [f"  - {line}" for line in f.reading]
        else:
            out.append(f"- {f.title}: not produced yet; run `{f.how}`")
    out += ["", "## Data citations", "", *[f"- {t}" for t in CITATIONS], ""]
    return "\n".join(out)


# --- entry point -----------------------------------------------------------------------------------


def write_report(
    fit, out_dir: str | Path, fmt: str = "both", fit_path: str | Path | None = None, population: str | None = None
) -> list[Path]:
    """Write report.html and/or report.md for ``fit`` into ``out_dir`` (atomic); returns the paths.

    ``population``: who the headline's and tables' blank-site lesions come from (see :func:`report_content`).
    """
    if fmt not in FORMATS:
        raise ValueError(f"report format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out_dir = Path(out_dir)
    content = report_content(fit, out_dir, fit_path, population=population)
    paths = []
    if fmt in ("html", "both"):
        figs = report_figures(fit, content)
        paths.append(write_text_atomic(out_dir / "report.html", render_html(fit, content, figs, out_dir, fit_path)))
    if fmt in ("md", "both"):
        paths.append(write_text_atomic(out_dir / "report.md", render_markdown(fit, content, out_dir, fit_path)))
    return paths
