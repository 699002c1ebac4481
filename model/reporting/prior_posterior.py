"""The report's prior-vs-posterior table: its parameters, its computation and its HTML and Markdown.

Which parameters it shows, how it is computed from a fit, and how the HTML and Markdown reports
write it (with the sentence on what the data moved most).

A new column goes in three places, all here: :func:`prior_posterior_table` (the number),
:func:`prior_posterior_html` (header and cell) and, if the plain-text report should show it too,
:func:`prior_posterior_markdown`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from microcalc.reporting.evidence import evidence_cell
from microcalc.reporting.markup import escape, estimate, html_table, md_table
from microcalc.reporting.tables import CI, coefficient_label, eti, scalar_draws

if TYPE_CHECKING:
    from microcalc.reporting.content import ReportContent

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


def prior_posterior_table(
    fit, extra_coefficients: Sequence[str] = (), ci: float = CI, evidence: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Prior and posterior mean and interval of the main parameters, with how much the data moved each.

    ``sd_ratio`` = posterior sd / prior sd (1: the data added nothing; 0.3: the data cut the
    uncertainty to a third); ``shift`` = (posterior mean - prior mean) / prior sd. With ``evidence``
    (:func:`microcalc.synthesis.evidence.level_evidence` of the fit), ``literature`` says what the
    published rates that inform the row are worth and whether the training data contradict them
    (:func:`microcalc.reporting.evidence.evidence_cell`).
    """
    extra = [("covariate_effect", c, coefficient_label(c, fit.priors)) for c in extra_coefficients]
    prior, post = fit.idata["prior"], fit.idata["posterior"]
    # a learned marginal-to-conditional scale (priors/synthesis.toml) is a main parameter too
    learned = [("conditional_scale", None, "marginal → conditional scale")] if "conditional_scale" in post else []
    entries = [*MAIN_PARAMETERS[:2], *learned, *MAIN_PARAMETERS[2:], *extra]
    rows = []
    for var, coord, label in entries:
        a, b = scalar_draws(prior, var, coord), scalar_draws(post, var, coord)
        rows.append(
            {
                "parameter": var if coord is None else f"{var}[{coord}]",
                "label": label,
                "prior_mean": a.mean(),
                "prior_lower": eti(a, ci)[0],
                "prior_upper": eti(a, ci)[1],
                "post_mean": b.mean(),
                "post_lower": eti(b, ci)[0],
                "post_upper": eti(b, ci)[1],
                "sd_ratio": b.std() / a.std(),
                "shift": (b.mean() - a.mean()) / a.std(),
                "literature": evidence_cell(var if coord is None else f"{var}[{coord}]", fit.priors, evidence),
            }
        )
    return pd.DataFrame(rows)


def moved_sentence(c: ReportContent) -> str:
    """Which main parameters the data moved most and least."""
    t = c.prior_posterior.sort_values("sd_ratio")
    most, least = t.iloc[0], t.iloc[-1]
    return (
        f"The data narrowed '{most.label}' most (posterior sd {most.sd_ratio:.2f} × the prior's) and "
        f"'{least.label}' least ({least.sd_ratio:.2f} ×). "
        "A ratio near 1 means the answer there rests on the prior."
    )


def prior_posterior_html(table: pd.DataFrame, ci: float = CI) -> str:
    """The table in the HTML report's "Prior vs posterior" section (log-odds scale)."""
    pc = f"{100 * ci:.0f}%"
    rows = [
        [
            escape(r.label),
            estimate(r.prior_mean, r.prior_lower, r.prior_upper),
            estimate(r.post_mean, r.post_lower, r.post_upper),
            f"{r.sd_ratio:.2f}",
            f"{r.shift:+.2f}",
            escape(r.literature),
        ]
        for r in table.itertuples()
    ]
    return html_table(
        [
            "parameter (log-odds scale)",
            f"prior mean ({pc})",
            f"posterior mean ({pc})",
            "sd ratio",
            "shift",
            "literature: ESS, conflict with these data",
        ],
        rows,
        numeric={3, 4},
        wrap={5},
    )


def prior_posterior_markdown(table: pd.DataFrame) -> str:
    """The shorter table in the Markdown report's "Prior vs posterior" section."""
    return md_table(
        ["parameter", "prior mean", "posterior mean", "sd ratio", "literature: ESS, conflict"],
        [
            [r.label, f"{r.prior_mean:.2f}", f"{r.post_mean:.2f}", f"{r.sd_ratio:.2f}", r.literature]
            for r in table.itertuples()
        ],
    )
