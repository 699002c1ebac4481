"""The report as plain Markdown (:func:`render_markdown`).

The same sections and tables as the HTML page, without figures.
"""

from __future__ import annotations

from pathlib import Path

from microcalc import DISCLAIMER
from microcalc.reporting import figures
from microcalc.reporting.clinical_ranges import CLOSING
from microcalc.reporting.content import ReportContent
from microcalc.reporting.evidence import EVIDENCE_NOTE, evidence_markdown
from microcalc.reporting.figures import interval, percent, published_range
from microcalc.reporting.markup import md_table, plain
from microcalc.reporting.prior_posterior import moved_sentence, prior_posterior_markdown
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
        out += [plain(c.population_note), ""]
    out += [plain(NEW_SITE), EQUAL_TAILED.format(pc=pc, tail=tail), ""]
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
        out += [f"### {title}", "", md_table(head, rows), ""]
    if c.ranges is not None:
        out += ["### Against the published clinical ranges", "", c.ranges.summary(), ""]
        if c.ranges.misses:
            out += [*(f"- {plain(s)}" for s in c.ranges.misses), "", CLOSING, ""]
    out += ["## Covariate effects (odds ratios)", "", prior_only_sentence(c), ""]
    out += [
        md_table(
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
        prior_posterior_markdown(c.prior_posterior),
        "",
    ]
    if c.evidence is not None and not c.evidence.empty:
        out += [
            "### The published rates beside these data",
            "",
            conflict_sentence(c.evidence),
            "",
            EVIDENCE_NOTE,
            "",
            evidence_markdown(c.evidence),
            "",
        ]
    out += [
        "## Sites",
        "",
        *site_sentences(c),
        "",
        md_table(
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
