"""The literature's worth and its conflict with the training data, as the report and the sensitivity page show it.

The numbers come from :func:`microcalc.synthesis.evidence.level_evidence` (one row per literature level the
training data show: ELIR ESS in lesions, the prior's 90% interval, the training count, the prior predictive
p-value and the robust component's posterior weight). Here they are (1) condensed into one cell beside each
row of the prior-vs-posterior table whose parameter the level priors inform (the intercept: a new series'
overall rate; a BI-RADS step: the two categories it joins; a group shift: the levels of that group), and
(2) written out in full, one row per level.
"""

from __future__ import annotations

import pandas as pd

from microcalc.reporting.markup import escape, html_table, md_table
from microcalc.synthesis.evidence import p_text


def informing_levels(parameter: str, priors) -> tuple[str, ...]:
    """The literature levels (``finding.level``) that inform a prior-vs-posterior row's parameter.

    ``parameter`` is a row's name as in :func:`microcalc.reporting.prior_posterior.prior_posterior_table`
    (e.g. ``birads_step[step_3_to_4A]``). Empty for parameters no published rate speaks to directly
    (between-site and level SDs, the marginal-to-conditional scale, BI-RADS 0, covariates).
    """
    if parameter == "intercept":
        return ("overall.all",)
    if parameter.startswith("birads_step[step_"):
        lower, upper = parameter.removeprefix("birads_step[step_").removesuffix("]").split("_to_")
        return (f"birads.{lower}", f"birads.{upper}")
    for finding in ("morphology", "distribution"):
        if parameter.startswith(f"{finding}_group_shift["):
            group = parameter.removeprefix(f"{finding}_group_shift[").removesuffix("]")
            levels = getattr(priors, finding).levels.values()
            return tuple(f"{finding}.{lp.level}" for lp in levels if lp.group == group)
    return ()


def evidence_cell(parameter: str, priors, evidence: pd.DataFrame | None) -> str:
    """Plain text for one prior-vs-posterior row: the ESS and conflict of the levels that inform it."""
    if evidence is None:
        return ""
    levels = informing_levels(parameter, priors)
    by_level = evidence.set_index("parameter")
    rows = by_level.loc[[lv for lv in levels if lv in by_level.index]]
    if rows.empty:
        return "—"
    if len(rows) <= 2:
        return "; ".join(
            f"{name.split('.', 1)[1]}: ESS {r.ess:.0f}, {p_text(r.conflict_p_value, '.2f')}"
            for name, r in rows.iterrows()
        )
    lowest = rows["conflict_p_value"].idxmin()
    return (
        f"{len(rows)} levels, ESS {rows['ess'].min():.0f}-{rows['ess'].max():.0f}; lowest "
        f"{p_text(rows.loc[lowest, 'conflict_p_value'], '.2f')} ({lowest.split('.', 1)[1]})"
    )


def _rows(evidence: pd.DataFrame) -> list[list[str]]:
    def num(x: float, fmt: str) -> str:
        return "—" if pd.isna(x) else format(x, fmt)

    return [
        [
            r.parameter + ("" if r.source.startswith("meta-analysis") else " (hand-set)"),
            num(r.ess, ".0f"),
            f"{100 * r.prior_lower_90:.0f}-{100 * r.prior_upper_90:.0f}%",
            f"{int(r.conflict_malignant)}/{int(r.conflict_total)} ({100 * r.conflict_malignant / r.conflict_total:.0f}%)",
            p_text(r.conflict_p_value, ".2f").removeprefix("p "),
            num(r.robust_posterior_weight, ".2f"),
            "conflict" if r.conflict else "",
        ]
        for r in evidence.itertuples()
    ]


EVIDENCE_HEADER = ["literature level", "ESS", "literature 90%", "training data", "p", "robust weight", ""]
EVIDENCE_NOTE = (
    "Each level's prior here is the robust meta-analytic-predictive prior of its marginal rate, derived from the "
    "published series in the studies table (microcalc literature): the evidence the prior file's level rates rest "
    "on (hand-set: a level without study rows, its rate from the pooled figures in the prior file's sources). "
    "ESS: how many lesions each published-rate prior is worth (ELIR, Neuenschwander et al. 2020). Literature 90%: "
    "the rate a new series would show (for undivided BI-RADS 4, the predictive interval of this many lesions). "
    "p: how surprising the training count is under the literature (two-sided prior predictive); robust weight: "
    "the posterior weight of the weakly informative component of the robust prior (Schmidli et al. 2014; 0.2 "
    "before the data), near 1 where the data override the literature. Counts are marginal: a lesion counts "
    "under every level it shows."
)


def evidence_html(evidence: pd.DataFrame) -> str:
    """The full per-level table (HTML), rows in conflict marked."""
    return html_table(
        EVIDENCE_HEADER,
        [[escape(v) for v in row] for row in _rows(evidence)],
        numeric={1, 4, 5},
        classes=["conflict" if c else "" for c in evidence["conflict"]],
    )


def evidence_markdown(evidence: pd.DataFrame) -> str:
    """The full per-level table (Markdown)."""
    return md_table(EVIDENCE_HEADER[:-1], [row[:-1] for row in _rows(evidence)])
