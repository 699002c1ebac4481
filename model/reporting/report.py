"""The posterior report: ``microcalc report FIT.nc --out DIR`` writes DIR/report.html and DIR/report.md.

The HTML file is self-contained (figures are inline SVG data URIs, no scripts, no network loads) and
prints on A4. It is meant to be read by a radiologist or epidemiologist in five minutes: the headline
answer first, then the answer per finding beside the published figures, covariate effects, what the
data changed, site variation, and finally the diagnostics a statistician needs to reproduce the fit.

This module is the entry point (:func:`write_report`); the report is built by, in the order of the work:

* :mod:`~microcalc.reporting.tables` the numbers from a :class:`~microcalc.modelling.fitting.Fit`
  (covariate odds ratios, sites, diagnostics) and :mod:`~microcalc.reporting.prior_posterior` the
  prior-vs-posterior table (computed and written);
* :mod:`~microcalc.reporting.further` the outputs of other commands linked from the report;
* :mod:`~microcalc.reporting.content` all of them computed once (:class:`ReportContent`);
* :mod:`~microcalc.reporting.figure_set` the figures and captions (drawn by :mod:`microcalc.reporting.figures`);
* :mod:`~microcalc.reporting.wording` the shared sentences, :mod:`~microcalc.reporting.markup` the stylesheet
  and HTML pieces;
* :mod:`~microcalc.reporting.html_report` and :mod:`~microcalc.reporting.markdown_report` the two pages.

The notebooks call the same functions; the names below stay importable from here.
"""

from __future__ import annotations

from pathlib import Path

from microcalc.io.atomic import write_text_atomic
from microcalc.reporting.content import ReportContent, population_note, report_content
from microcalc.reporting.figure_set import report_figures
from microcalc.reporting.further import Further, further_outputs
from microcalc.reporting.html_report import render_html
from microcalc.reporting.markdown_report import render_markdown
from microcalc.reporting.markup import CSS
from microcalc.reporting.prior_posterior import prior_posterior_table
from microcalc.reporting.tables import (
    CI,
    COVARIATE_LABELS,
    GROUP_TITLES,
    biopsied_counts,
    coefficient_column,
    coefficient_label,
    covariate_table,
    diagnostics_table,
    grouped_cluster_draws,
    recorded_counts,
    site_table,
)

__all__ = [
    "CI",
    "COVARIATE_LABELS",
    "CSS",
    "FORMATS",
    "GROUP_TITLES",
    "Further",
    "ReportContent",
    "biopsied_counts",
    "coefficient_column",
    "coefficient_label",
    "covariate_table",
    "diagnostics_table",
    "further_outputs",
    "grouped_cluster_draws",
    "population_note",
    "prior_posterior_table",
    "recorded_counts",
    "render_html",
    "render_markdown",
    "report_content",
    "report_figures",
    "site_table",
    "write_report",
]

FORMATS = ("html", "md", "both")


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
