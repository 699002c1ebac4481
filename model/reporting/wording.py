"""The report's shared text, used by both the HTML and the Markdown report.

The plain-language sentences read from its tables (headline, prior-only covariates, sites), the
notes on new sites and intervals, and the data citations.
"""

from __future__ import annotations

import numpy as np

from microcalc.modelling.predict import CLINICAL
from microcalc.modelling.predict import NEW_SITE as NEW_SITE_POPULATION
from microcalc.reporting.content import ReportContent
from microcalc.reporting.figures import interval, percent, published_range
from microcalc.reporting.tables import CI, COVARIATE_LABELS, coefficient_column

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
