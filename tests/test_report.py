"""The posterior report: it builds, holds its sections and figures, loads nothing from the network,
shows the headline numbers of ``headline_table``, marks prior-only covariates and warns loudly when
the sampler did not converge."""

from __future__ import annotations

import base64
import dataclasses
import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from microcalc import DISCLAIMER

SECTIONS = (
    "headline",
    "categories",
    "morphology",
    "distribution",
    "birads",
    "covariates",
    "prior-posterior",
    "sites",
    "diagnostics",
    "further",
    "about",
    "citations",
    "disclaimer",
    "clinical-ranges",
)
TRAINED_COLUMNS = {"breast_density", "age"}  # the only covariates the bundled DDSM data record


class Resources(HTMLParser):
    """Collects tags and every src/href attribute of a page."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href", "data", "srcset", "poster") and v]


def _text(page: str) -> str:
    """Visible text of a page, tags stripped and entities decoded, whitespace collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def _flipped(fit):
    """The same fit with the opposite convergence verdict (to see both versions of the report)."""
    from microcalc.modelling.diagnostics import Convergence

    good = Convergence(
        max_rhat=1.0,
        min_ess_bulk=2000.0,
        min_ess_tail=2000.0,
        divergences=0,
        chains=2,
        draws=300,
        worst_rhat="intercept",
        worst_ess="intercept",
    )
    bad = dataclasses.replace(good, max_rhat=1.2, min_ess_bulk=40.0, divergences=7, worst_rhat="site_sd")
    return dataclasses.replace(fit, convergence=good if not fit.convergence.ok else bad)


@pytest.fixture(scope="module")
def built(small_fit, tmp_path_factory):
    from microcalc.reporting.report import write_report

    out = tmp_path_factory.mktemp("report")
    paths = write_report(small_fit, out, fmt="both", fit_path=None)
    read = lambda name: (out / name).read_text(encoding="utf-8")  # noqa: E731
    return out, paths, read("report.html"), read("report.md")


def test_writes_html_and_markdown_and_nothing_else(built):
    out, paths, page, md = built
    assert paths == [out / "report.html", out / "report.md"]
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.md"]  # no temporary files left
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert md.startswith("# microcalc posterior report")


@pytest.mark.parametrize("section", SECTIONS)
def test_has_section(built, section):
    assert re.search(rf"id=['\"]{re.escape(section)}['\"]", built[2]), section


def test_embeds_at_least_four_svg_figures(built):
    uris = re.findall(r"<img src='data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)'", built[2])
    assert len(uris) >= 4
    for uri in uris:
        svg = base64.b64decode(uri).decode("utf-8")
        assert "<svg" in svg and svg.rstrip().endswith("</svg>")


def test_loads_no_network_resources(built):
    page = built[2]
    parser = Resources()
    parser.feed(page)
    assert "script" not in parser.tags and "link" not in parser.tags and "iframe" not in parser.tags
    remote = [u for u in parser.urls if re.match(r"^\s*(https?:)?//", u, re.IGNORECASE)]
    assert remote == []
    assert all(u.startswith(("data:", "#")) or not re.match(r"^[a-z]+:", u) for u in parser.urls)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//|@import", page, re.IGNORECASE)


def test_prints_and_states_disclaimer_citations_and_definitions(built):
    page, md = built[2], built[3]
    text = _text(page)
    assert "@media print" in page
    assert DISCLAIMER in text and DISCLAIMER in md
    for needle in ("Heath", "2001", "170177", "CC BY 3.0", "equal-tailed", "new site"):
        assert needle in text, needle
        assert needle in md, needle


def test_headline_numbers_are_those_of_headline_table(built, small_fit):
    from microcalc.reporting.figures import interval, level_label, percent, published_range
    from microcalc.reporting.headline import headline_table

    table = headline_table(small_fit.params(), small_fit.priors, small_fit.sites, small_fit.donors)
    head = table.iloc[0]
    page, md = built[2], built[3]
    assert re.search(rf"id='headline-mean'>{re.escape(percent(head['mean']))}<", page)
    assert re.search(rf"id='headline-ci'>{re.escape(interval(head.ci_lower, head.ci_upper))}<", page)
    assert f"published: {published_range(head.published_low, head.published_high)}" in page  # 20–50%
    assert f"{head.observed_malignant} of {head.observed_n} biopsied lesions" in md
    for r in table.iloc[1:].itertuples():  # every per-finding row of the forest plots, in the text version
        row = f"| {level_label(r.group, r.level)} | {percent(r.mean)} | {interval(r.ci_lower, r.ci_upper)} |"
        assert row in md, row


def test_marks_covariates_informed_by_priors_alone(built, small_fit):
    from microcalc.reporting.report import coefficient_column, covariate_table

    table = covariate_table(small_fit)
    expected = {c for c in small_fit.priors.coefficient_names() if coefficient_column(c) not in TRAINED_COLUMNS}
    assert set(table.loc[table["prior_only"], "coefficient"]) == expected
    assert (table["or_lower"] < table["odds_ratio"]).all() and (table["odds_ratio"] < table["or_upper"]).all()
    md_rows = [line for line in built[3].splitlines() if line.endswith("| prior only |")]
    assert len(md_rows) == len(expected)
    assert "Informed by priors alone: cluster density" in _text(built[2])


def test_recorded_counts_stored_in_the_fit_decide_prior_only(small_fit):
    from microcalc.reporting.report import coefficient_column, covariate_table

    columns = {coefficient_column(c) for c in small_fit.priors.coefficient_names()}
    recorded = {c: (40 if c in ("brca", "age") else 0) for c in columns}
    fit = dataclasses.replace(small_fit, data_summary={**small_fit.data_summary, "recorded": recorded})
    table = covariate_table(fit).set_index("coefficient")
    assert not table.loc["brca[yes]", "prior_only"] and not table.loc["age_per_decade", "prior_only"]
    assert table.loc["breast_density[a]", "prior_only"] and table.loc["change[new]", "prior_only"]
    assert (table["rule"] == "recorded count").all()


def test_not_converged_banner_follows_the_diagnostics(built, small_fit, tmp_path):
    from microcalc.reporting.report import write_report

    other = _flipped(small_fit)
    write_report(other, tmp_path, fmt="both")
    for fit, page, md in (
        (small_fit, built[2], built[3]),
        (
            other,
            (tmp_path / "report.html").read_text(encoding="utf-8"),
            (tmp_path / "report.md").read_text(encoding="utf-8"),
        ),
    ):
        shown = "id='not-converged'" in page
        assert shown == (not fit.convergence.ok)
        assert ("NOT CONVERGED: do not use these numbers" in md) == (not fit.convergence.ok)
        if shown:
            assert all(problem in _text(page) for problem in fit.convergence.problems())


def test_links_sensitivity_output_when_present_else_says_how(built, tmp_path):
    from microcalc.reporting.report import further_outputs

    assert "microcalc sensitivity" in _text(built[2]) and "microcalc evaluate" in _text(built[2])
    (tmp_path / "sensitivity").mkdir()
    (tmp_path / "sensitivity" / "sensitivity.html").write_text("<html></html>", encoding="utf-8")
    found = {f.folder: f for f in further_outputs(tmp_path, "fit.nc")}
    assert [p.name for p in found["sensitivity"].files] == ["sensitivity.html"]
    assert found["evaluation"].files == () and "microcalc evaluate fit.nc" in found["evaluation"].how


def test_refuses_unknown_format(small_fit, tmp_path):
    from microcalc.reporting.report import write_report

    with pytest.raises(ValueError, match="format"):
        write_report(small_fit, tmp_path, fmt="pdf")
    assert not any(Path(tmp_path).iterdir())


def test_clinical_ranges_section_reports_the_fits_checks_and_explains_each_miss(built, small_fit):
    """The report's count of published clinical ranges that hold is the fit's own (headline.clinical_checks),
    and every failing check is named with the numbers behind it; a new-site report has no such section
    (the ranges are those of clinical series)."""
    from microcalc.modelling.predict import CLINICAL
    from microcalc.reporting import content, headline

    checks = headline.clinical_checks(
        headline.check_means(small_fit.params(), small_fit.priors, small_fit.sites, small_fit.donors, CLINICAL)
    )
    md = built[3]
    assert f"{int(checks['holds'].sum())} of {len(checks)} published clinical ranges and orderings hold" in md
    section = md.split("### Against the published clinical ranges", 1)[1].split("\n## ", 1)[0]
    bullets = [line for line in section.splitlines() if line.startswith("- ")]
    assert len(bullets) == int((~checks["holds"]).sum())
    for r, line in zip(checks[~checks["holds"]].itertuples(), bullets):
        assert (isinstance(r.group, str) and f"{100 * float(r.value):.1f}%" in line) or "published order" in line
    new_site = content.report_content(small_fit, Path("."), population="new-site")
    assert new_site.ranges is None


def test_a_miss_names_its_counts_and_whether_the_prior_alone_was_already_outside():
    import pandas as pd

    from microcalc.reporting.clinical_ranges import miss_sentence

    donors = pd.DataFrame(
        {
            "morphology": ["amorphous", "punctate", "amorphous"],
            "distribution": ["regional", "regional", "grouped"],
            "birads": ["5", "4", "5"],
            "count": [9, 13, 40],
            "malignant": [9, 2, 30],
        }
    )
    row = pd.Series({"check": "distribution: regional", "value": "0.608", "low": 0.03, "high": 0.35})
    row = row.to_frame().T.assign(group="distribution", level="regional").iloc[0]
    said = miss_sentence(row, donors, 0.578)
    assert (
        "regional: 60.8% against the published 3–35%" in said and "11 of 22" in said and "9 of them BI-RADS 5" in said
    )
    assert "outside before any data" in said
    assert "the training data move it out" in miss_sentence(row, donors, 0.30)
    four_a = row.copy()
    four_a["group"], four_a["level"], four_a["value"] = "birads", "4A", "0.203"
    assert "not in the training data" in miss_sentence(four_a, donors, 0.19)
    order = pd.Series({"check": "a < b", "value": "0.3 < 0.2", "group": float("nan"), "level": float("nan")})
    assert miss_sentence(order, donors, None).startswith("Not in the published order: a < b")
