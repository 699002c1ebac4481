"""The clinical population's answers against the published clinical ranges, and what lies behind a miss.

The report's single-finding answers for the clinical population (everything else blank) are predictions
of published biopsy-series rates (:mod:`microcalc.modelling.clinical`), so they are checked against the
clinical ranges and orderings of :data:`microcalc.reporting.headline.CLINICAL_RANGES` and
:data:`~microcalc.reporting.headline.CLINICAL_ORDERINGS`. Where one falls outside, the report says so and puts the
numbers behind it beside the miss: how many training lesions carry the finding and how many of them are
malignant and BI-RADS 5, and what the priors alone answer. A prior-alone answer already outside the range
points at the case mix the blank findings are completed from (DDSM's, re-weighted to the clinical BI-RADS
mix); one inside points at the training data moving it. Either way it is a disagreement between DDSM and
the published series, shown rather than tuned away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from microcalc.reporting import headline
from microcalc.reporting.figures import level_label, percent, published_range

CLOSING = (
    "Where the training data disagree with the published series, the model follows the "
    'data and the report says so here; the priors are not tuned to hide it (README: "Who is asking: the '
    'population of an answer").'
)


@dataclass(frozen=True)
class RangeReading:
    """The clinical checks of one fit and a sentence for every check that fails."""

    checks: pd.DataFrame  # headline.clinical_checks: check, value, low, high, holds, group, level
    misses: tuple[str, ...]

    def summary(self) -> str:
        """'29 of 33 published clinical ranges and orderings hold ...'."""
        held = int(self.checks["holds"].sum())
        return (
            f"{held} of {len(self.checks)} published clinical ranges and orderings hold for the clinical "
            "population's single-finding answers (everything else blank)."
        )


def birads_five(donors: pd.DataFrame, group: str, level: str) -> int:
    """Training lesions recorded with this finding and BI-RADS 5 (any of several words counts)."""
    if group == "birads":
        return 0
    five = headline.with_finding(donors, "birads", "5")
    return int(donors.loc[headline.with_finding(donors, group, level) & five, "count"].sum())


def _one_decimal(p: float) -> str:
    """A percentage to one decimal, so that 20.4% is not shown as the range's own 20%."""
    return f"{100 * p:.1f}%"


def miss_sentence(row, donors: pd.DataFrame, prior_mean: float | None) -> str:
    """One sentence on a failing check: the answer, the range, the training counts and the prior-alone answer."""
    if not isinstance(row.group, str):
        return f"Not in the published order: {row.check} ({row.value})."
    label = level_label(row.group, row.level)
    said = f"{label}: {_one_decimal(float(row.value))} against the published {published_range(row.low, row.high)}"
    n, m = headline.observed(donors, row.group, row.level)
    prior = _prior_clause(prior_mean, row.low, row.high, "the training data" if n else "the data on other findings")
    if n == 0:
        why = " It is not in the training data" + (
            " (category 4 is not split there; DDSM predates the split), so it rests on the step priors and the "
            "clinical offset"
            if row.group == "birads"
            else ""
        )
        return f"{said}.{why}{prior}."
    five = birads_five(donors, row.group, row.level)
    fives = f", {five} of them BI-RADS 5" if five else ""
    lesions = "training lesion" if n == 1 else "training lesions"
    return f"{said}. {m} of {n} {lesions} with it are malignant ({percent(m / n)}){fives}{prior}."


def _prior_clause(prior_mean: float | None, low: float, high: float, data: str) -> str:
    """'; with the priors alone X (...)': whether the answer was outside the range before any data."""
    if prior_mean is None or not np.isfinite(prior_mean):
        return ""
    if low <= prior_mean <= high:
        return f"; with the priors alone {_one_decimal(prior_mean)} ({data} move it out)"
    return (
        f"; with the priors alone {_one_decimal(prior_mean)} (outside before any data: completing the blank "
        "findings from the training case mix, not the data's effect, puts it there)"
    )


def range_reading(
    params: dict,
    fit,
    drawn: tuple[list[tuple[str, str]], np.ndarray],
    prior_table: pd.DataFrame,
) -> RangeReading:
    """The clinical checks of a fit's clinical-population answers and a sentence for each miss.

    ``drawn``: keys and draws of :func:`microcalc.reporting.headline.headline_draws` for the clinical
    population (the report has them already); ``prior_table``: the prior-alone headline table.
    """
    from microcalc.modelling.predict import CLINICAL

    means = headline.check_means(params, fit.priors, fit.sites, fit.donors, CLINICAL, drawn=drawn)
    checks = headline.clinical_checks(means)
    prior_means = {(r.group, r.level): float(r.mean) for r in prior_table.itertuples()}
    misses = tuple(
        miss_sentence(r, fit.donors, prior_means.get((r.group, r.level))) for r in checks[~checks["holds"]].itertuples()
    )
    return RangeReading(checks, misses)
