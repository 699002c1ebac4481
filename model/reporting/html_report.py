"""The HTML report: the self-contained page (:func:`render_html`) with its sections in reading order.

Also the per-finding tables and the diagnostics section.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from microcalc import __version__
from microcalc.modelling.diagnostics import MAX_RHAT, MIN_ESS
from microcalc.modelling.fitfile import library_versions
from microcalc.modelling.predict import CLINICAL
from microcalc.modelling.predict import NEW_SITE as NEW_SITE_POPULATION
from microcalc.reporting import figures
from microcalc.reporting.clinical_ranges import CLOSING
from microcalc.reporting.content import ReportContent
from microcalc.reporting.evidence import EVIDENCE_NOTE, evidence_html
from microcalc.reporting.figures import interval, percent, published_range
from microcalc.reporting.further import further_html
from microcalc.reporting.markup import CSS, disclaimer_html, escape, figure_html, html_table, md_inline
from microcalc.reporting.prior_posterior import moved_sentence, prior_posterior_html
from microcalc.reporting.tables import CI, GROUP_TITLES
from microcalc.reporting.wording import (
    CITATIONS,
    EQUAL_TAILED,
    NEW_SITE,
    headline_sentences,
    prior_only_sentence,
    site_sentences,
)
from microcalc.synthesis.evidence import conflict_sentence


def _category_table(part: pd.DataFrame, prior: pd.DataFrame, ddsm: pd.DataFrame | None = None) -> str:
    rows = []
    others = ddsm.itertuples() if ddsm is not None else (None for _ in range(len(part)))
    for r, p, d in zip(part.itertuples(), prior.itertuples(), others):
        row = [
            escape(figures.level_label(r.group, r.level)),
            percent(r.mean),
            interval(r.ci_lower, r.ci_upper),
            f"{percent(p.mean)} ({interval(p.ci_lower, p.ci_upper)})",
            published_range(r.published_low, r.published_high) if r.published_source else "–",
            f"{r.observed_malignant}/{r.observed_n}" if r.observed_n else "none",
            f"<span class='muted'>{escape(r.published_source)}</span>",
        ]
        if d is not None:
            row.insert(4, f"{percent(d.mean)} ({interval(d.ci_lower, d.ci_upper)})")
        rows.append(row)
    head = ["finding", "model", f"{100 * CI:.0f}% CrI", "prior alone", "published", "data", "source"]
    if ddsm is None:
        return html_table(head, rows, numeric={1, 5}, wrap={6})
    return html_table([*head[:4], "new DDSM-like site", *head[4:]], rows, numeric={1, 6}, wrap={7})


def _diagnostics_html(fit, c: ReportContent, fit_path) -> str:
    conv = fit.convergence
    p = c.parameters
    bad = [("bad" if (r.r_hat > MAX_RHAT or r.ess_bulk < MIN_ESS) else "") for r in p.itertuples()]
    rows = [
        [escape(name), f"{r.mean:.3f}", f"{r.sd:.3f}", f"{r.ess_bulk:.0f}", f"{r.ess_tail:.0f}", f"{r.r_hat:.3f}"]
        for name, r in zip(p.index, p.itertuples())
    ]
    s = fit.settings
    ds = fit.data_summary
    settings = [[escape(k), escape(v)] for k, v in vars(s).items()]
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
    version_rows = [
        [escape(k), escape((c.versions or {}).get(k, "not recorded")), escape(now.get(k, "–"))] for k in names
    ]
    verdict = "converged" if conv.ok else "NOT CONVERGED"
    return "".join(
        [
            f"<p><strong>{verdict}.</strong> {escape(conv.text())}</p>",
            *(f"<p><strong>Note:</strong> {escape(note)}.</p>" for note in fit.notes()),
            f"<p>Thresholds: R-hat ≤ {MAX_RHAT}, bulk ESS ≥ {MIN_ESS}, no divergent transitions (Vehtari et al. 2021). "
            "Rows that fail are in red.</p>",
            "<div class='cols'><div>",
            "<h3>Sampler settings</h3>",
            html_table(["setting", "value"], settings),
            "</div><div>",
            "<h3>Training data</h3>",
            html_table(["", "count"], [[escape(a), escape(b)] for a, b in data_rows], numeric={1}),
            "</div></div>",
            "<h3>Prior file and versions</h3>",
            f"<p>Prior file <strong>{escape(fit.priors.name)}</strong> (<code>{escape(fit.priors.path)}</code>): "
            f"{escape(fit.priors.description)} Its full text is stored inside the fit file.</p>",
            f"<p>Fit file: <code>{escape(fit_path) if fit_path else 'not saved'}</code>.</p>",
            html_table(["library", "at fit time", "this report"], version_rows),
            "<h3>Every free parameter</h3>",
            html_table(
                ["parameter", "mean", "sd", "ESS bulk", "ESS tail", "R-hat"], rows, numeric={1, 2, 3, 4, 5}, classes=bad
            ),
        ]
    )


def _ranges_html(c: ReportContent) -> str:
    """The clinical answers against the published clinical ranges: how many hold, and each miss."""
    if c.ranges is None:
        return ""
    misses = "".join(f"<li>{escape(s)}</li>" for s in c.ranges.misses)
    tail = f"<ul>{misses}</ul><p>{escape(CLOSING)}</p>" if misses else ""
    return (
        f"<h3 id='clinical-ranges'>Against the published clinical ranges</h3><p>{escape(c.ranges.summary())}</p>{tail}"
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
            f"<span>{escape('; '.join(conv.problems()))}. Refit with more draws and tuning steps "
            "(<code>microcalc fit --draws 2000 --tune 2000</code>).</span></div>"
        )
    )
    fig = lambda key: figure_html(key, *figs[key])  # noqa: E731
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
            f"<h3 id='{group}'>{escape(title)}</h3>",
            fig(f"fig-{group}"),
            _category_table(part, prior_part, ddsm_part),
        ]
    cov = c.covariates
    cov_rows = [
        [
            escape(r.label),
            f"{r.odds_ratio:.2f}",
            f"{r.or_lower:.2f}–{r.or_upper:.2f}",
            f"{r.prior_or:.2f} ({r.prior_or_lower:.2f}–{r.prior_or_upper:.2f})",
            "–" if r.recorded is None or pd.isna(r.recorded) else f"{int(r.recorded)}",
            "prior only" if r.prior_only else "data and prior",
        ]
        for r in cov.itertuples()
    ]
    site_rows = [
        [
            escape(r.site),
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
microcalc {escape(__version__)}; fit <code>{escape(Path(fit_path).name) if fit_path else "in memory"}</code>;
{fit.data_summary.get("lesions", "?")} training lesions; prior file “{escape(fit.priors.name)}”.</p>
{banner}
<div class='disclaimer' id='disclaimer'>{disclaimer_html()}</div>
<nav><a href='#headline'>Headline</a><a href='#categories'>By finding</a><a href='#covariates'>Covariates</a>
<a href='#prior-posterior'>Prior vs posterior</a><a href='#sites'>Sites</a><a href='#diagnostics'>Diagnostics</a>
<a href='#further'>Sensitivity &amp; evaluation</a><a href='#about'>About</a></nav>

<section id='headline'>
<h2>Headline: what share of clustered microcalcifications is malignant?</h2>
<div class='answer'><div class='big' id='headline-mean'>{percent(head["mean"])}</div>
<div><div class='ci'>{pc} credible interval
<strong id='headline-ci'>{interval(head.ci_lower, head.ci_upper)}</strong></div>
<div class='pub'>published: {published_range(head.published_low, head.published_high)}</div>
<div class='muted'>{escape(head.level)}</div>{ddsm_line}</div></div>
{"".join(f"<p>{escape(s)}</p>" for s in headline_sentences(c, ci))}
{fig("fig-headline")}
{f"<p id='population'>{md_inline(c.population_note)}</p>" if c.population_note else ""}
<p>{md_inline(NEW_SITE)} {escape(EQUAL_TAILED.format(pc=pc, tail=tail))}</p>
<p class='muted'>Published range: {escape(head.published_source)}. Prior alone: {percent(prior_head["mean"])}
({interval(prior_head.ci_lower, prior_head.ci_upper)}).</p>
</section>

<section id='categories'>
<h2>By finding: morphology, distribution, BI-RADS</h2>
<p>Each row answers: of lesions with this finding, what share is malignant? Only that finding is fixed; everything
else is averaged over what similar training lesions show{case_mix}. The amber band is the published
range the prior came from. The red diamond is the raw rate in the training data, with its count on the right. Raw
rates mix in everything else about those lesions, so they need not match the model.</p>
{"".join(categories)}
{_ranges_html(c)}
</section>

<section id='covariates'>
<h2>Covariate effects (odds ratios)</h2>
<p>An odds ratio above 1 raises the probability of malignancy; 1 means no effect. Each is the posterior median of
exp(coefficient) with its {pc} equal-tailed interval, compared with the stated reference level, holding the other
findings fixed.</p>
<p><strong>{escape(prior_only_sentence(c))}</strong></p>
{fig("fig-covariates")}
{
        html_table(
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
<p>{escape(moved_sentence(c))}</p>
{fig("fig-prior-posterior")}
{fig("fig-densities")}
{prior_posterior_html(c.prior_posterior, ci)}
<p>The same comparison on the probability scale is the “prior alone” column of the tables above.</p>
{_evidence_section(c)}
</section>

<section id='sites'>
<h2>Site-level variation</h2>
{"".join(f"<p>{escape(s)}</p>" for s in site_sentences(c))}
{fig("fig-sites")}
{
        html_table(
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
{further_html(c.further, out_dir)}
</section>

<section id='about'>
<h2>About this report</h2>
<div class='disclaimer'>{disclaimer_html()}</div>
<ul>
<li>{md_inline(NEW_SITE)}</li>
<li>{escape(EQUAL_TAILED.format(pc=pc, tail=tail))}</li>
<li>“Model” numbers are posterior means of the probability of malignancy; “prior alone” is the same
calculation with prior draws (a prior predictive check).</li>
<li>{escape(prior_only_sentence(c))}</li>
</ul>
<h3>Data citations</h3>
<ul id='citations'>{"".join(f"<li>{escape(t)}</li>" for t in CITATIONS)}</ul>
<p>Prior sources are cited in the prior file, stored in the fit.</p>
</section>
"""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>microcalc posterior report</title><style>{CSS}</style></head><body>{body}</body></html>\n"
    )


def _evidence_section(c: ReportContent) -> str:
    """The per-level literature table under the prior-vs-posterior table (empty without evidence)."""
    if c.evidence is None or c.evidence.empty:
        return ""
    return (
        "<h3 id='literature-evidence'>The published rates beside these data</h3>"
        f"<p>{escape(conflict_sentence(c.evidence))}</p><p class='muted'>{escape(EVIDENCE_NOTE)}</p>"
        f"<div class='scroll'>{evidence_html(c.evidence)}</div>"
    )
