"""One case on the calculator page: its posterior, what moved it, the published figure, what is prior-only.

Everything is computed from the fit's posterior draws with :func:`microcalc.modelling.predict.probability_draws`
and :func:`microcalc.modelling.predict.summarise`, the functions behind ``Fit.predict`` and ``microcalc predict``:
the lesion alone is one pattern, so its mean, interval and P(risk > 2%) are those the CLI writes for a
file holding only that lesion.

**What moved the answer.** For each finding entered (a form field that is not blank), the lesion is
predicted again with that field blank (= not recorded, so the model averages over what training
lesions show for it, or - for a covariate the data never recorded - leaves it out). For each posterior
draw d the odds ratio is

    OR_d = odds(p_d with the finding) / odds(p_d without it),      odds(p) = p / (1 - p),

and the page shows its posterior median and equal-tailed interval beside the mean probability
without the finding. An OR above 1 means the finding raised the probability. Several morphology
words count as one finding (the field). The population is not a finding and is not varied.

**Published figure.** The published range of the *main finding*: the most suspicious morphology word
entered (highest published rate), else the distribution, else the BI-RADS category; a grouped
distribution with a biopsy category (BI-RADS 4 or 5) and no morphology is the report's headline
quantity, so it gets the headline's range (biopsied grouped clusters, 20-50%).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from microcalc.io import schema
from microcalc.modelling.predict import (
    BIOPSY_THRESHOLD,
    CLINICAL,
    DEFAULT_POPULATION,
    NEW_SITE,
    probability_draws,
    summarise,
)
from microcalc.priors import PriorSet
from microcalc.reporting import literature
from microcalc.reporting.figures import interval, percent
from microcalc.reporting.headline import BIOPSIED_BIRADS
from microcalc.reporting.tables import COVARIATE_LABELS, coefficient_column, covariate_table

# Form fields that are findings, in the page's order.
FINDINGS: tuple[str, ...] = (
    "morphology",
    "distribution",
    "birads",
    "cluster_density",
    "size_variability",
    "calc_count",
    "change",
    "breast_density",
    "age",
    "brca",
    "tp53",
    "family_history",
    "postmenopausal",
    "hrt",
)
LABELS: dict[str, str] = {
    "morphology": "Morphology",
    "distribution": "Distribution",
    "birads": "BI-RADS",
    **COVARIATE_LABELS,
}
ODDS_CLIP = 1e-12  # probabilities are kept this far from 0 and 1 so that every draw has finite odds


@dataclass(frozen=True)
class Population:
    """A choice of the population selector: which site effect a lesion without a site gets."""

    key: str  # sent by the page
    label: str  # shown on the page
    site: str  # ``population=`` of Fit.predict / predict --population for lesions whose site is blank


def populations(sites: tuple[str, ...]) -> tuple[Population, ...]:
    """The population selector's choices: the clinical population, a new DDSM-like site, then each training site.

    A new choice is added here, in one line.
    """
    return (
        Population("clinical", "Clinical biopsy population (published series)", CLINICAL),
        Population("new", "New DDSM-like site (spread between sites)", NEW_SITE),
        *(Population(f"site:{s}", f"Training site {s}", s) for s in sites),
    )


def default_population(choices: tuple[Population, ...]) -> Population:
    """The choice ``microcalc predict`` makes for a blank site when no population is given."""
    return next(p for p in choices if p.site == DEFAULT_POPULATION)


@dataclass(frozen=True)
class Model:
    """What the server predicts with: the fit's posterior draws and the tables read once at start-up."""

    params: dict[str, np.ndarray]
    priors: PriorSet
    sites: tuple[str, ...]
    donors: pd.DataFrame
    prior_only: frozenset[str]  # input columns whose effect is the literature prior alone
    populations: tuple[Population, ...]

    @classmethod
    def from_fit(cls, fit) -> Model:
        """The model of a loaded fit: its draws, priors, sites, key table, prior-only inputs and population choices."""
        return cls(
            fit.params(),
            fit.priors,
            tuple(fit.sites),
            fit.donors,
            prior_only_columns(fit),
            populations(tuple(fit.sites)),
        )

    def population(self, key: str) -> Population | None:
        """The population choice with this key, or None if there is none."""
        return next((p for p in self.populations if p.key == key), None)

    def draws(self, frame: pd.DataFrame) -> np.ndarray:
        """P(malignant) draws of each lesion, shape (lesions, draws), as ``Fit.probability_draws`` gives them."""
        return probability_draws(frame, self.params, self.priors, self.sites, self.donors)


def prior_only_columns(fit) -> frozenset[str]:
    """Input columns every coefficient of which is informed by the prior alone (the report's covariate table)."""
    table = covariate_table(fit)
    columns = table["coefficient"].map(coefficient_column)
    return frozenset(c for c, only in table.groupby(columns)["prior_only"].all().items() if only)


def entered(frame: pd.DataFrame) -> list[str]:
    """The findings recorded on the (one-lesion) frame, in the page's order."""
    return [c for c in FINDINGS if c in frame and bool(frame[c].notna().iloc[0])]


def without(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """One copy of the one-lesion frame per column, with that column blank (rows in ``columns`` order)."""
    rows = pd.concat([frame] * len(columns), ignore_index=True)
    for i, column in enumerate(columns):
        rows.loc[i, column] = pd.NA
    return rows


def log_odds(p: np.ndarray) -> np.ndarray:
    """Log odds of probabilities clipped to [ODDS_CLIP, 1 - ODDS_CLIP], so odds ratios stay finite."""
    p = np.clip(p, ODDS_CLIP, 1 - ODDS_CLIP)
    return np.log(p) - np.log1p(-p)


def odds_ratio_summary(with_draws: np.ndarray, without_draws: np.ndarray, ci: float) -> dict[str, float]:
    """Posterior median and equal-tailed interval of the per-draw odds ratio (with / without)."""
    ratio = np.exp(log_odds(with_draws) - log_odds(without_draws))
    lo, mid, hi = np.quantile(ratio, [(1 - ci) / 2, 0.5, (1 + ci) / 2])
    return {"or_median": float(mid), "or_lower": float(lo), "or_upper": float(hi)}


def value_text(column: str, value: str | float) -> str:
    """A recorded value as the page shows it: 'fine pleomorphic + amorphous', 'yes', '55'."""
    if column in schema.YES_NO_COLUMNS:
        return "yes" if bool(value) else "no"
    if column == "age":
        return f"{float(value):g} years"
    return str(value).replace(schema.MULTI_SEPARATOR, " + ").replace("_", " ")


def finding_text(column: str, value: str | float) -> str:
    """A finding as the page shows it: 'Label: value'."""
    return f"{LABELS.get(column, column)}: {value_text(column, value)}"


def recorded_words(row: pd.Series, column: str) -> list[str]:
    """The words of a lesion's cell ('a|b' -> ['a', 'b']); [] when blank or absent."""
    value = row.get(column)
    if value is None or pd.isna(value):
        return []
    return [w for w in str(value).split(schema.MULTI_SEPARATOR) if w]


def main_finding(row: pd.Series) -> tuple[str, str] | None:
    """(group, level) of the finding whose published range is shown (see module docstring); None if none has one."""
    known = [w for w in recorded_words(row, "morphology") if w in literature.MORPHOLOGY]
    if known:
        return "morphology", max(known, key=lambda w: (literature.MORPHOLOGY[w].high, literature.MORPHOLOGY[w].low))
    birads = next(iter(recorded_words(row, "birads")), None)
    distributions = recorded_words(row, "distribution")
    if distributions == ["grouped"] and birads in BIOPSIED_BIRADS:
        return "headline", "grouped"
    if distributions:
        return "distribution", max(distributions, key=lambda w: literature.DISTRIBUTION[w].high)
    if birads in literature.BIRADS:
        return "birads", birads
    return None


def published_rate(group: str, level: str) -> literature.PublishedRate:
    """The published rate of a finding level, or of the grouped cluster for the headline group."""
    return literature.GROUPED_CLUSTER if group == "headline" else literature.BY_GROUP[group][level]


def published_label(group: str, level: str) -> str:
    """The page's label for a published range, e.g. 'Morphology: fine pleomorphic'."""
    if group == "headline":
        return "Biopsied grouped cluster (BI-RADS 4 or 5)"
    return f"{LABELS[group]}: {level.replace('_', ' ')}"


def published_rows(row: pd.Series) -> list[dict]:
    """Published ranges of every entered morphology word, distribution and BI-RADS category; the main one first."""
    main = main_finding(row)
    keys = [main] if main else []
    for group in ("morphology", "distribution", "birads"):
        keys += [
            (group, w) for w in recorded_words(row, group) if w in literature.BY_GROUP[group] and (group, w) not in keys
        ]
    out = []
    for group, level in keys:
        rate = published_rate(group, level)
        out.append(
            {
                "finding": published_label(group, level),
                "low": rate.low,
                "high": rate.high,
                "text": f"{100 * rate.low:.0f}–{100 * rate.high:.0f}%",
                "source": rate.source,
                "main": (group, level) == main,
            }
        )
    return out


def share_text(p: float) -> str:
    """A posterior probability of an event (a share of draws): '100%', '>99%', '63%', '<1%', '0%'."""
    if p >= 1.0 or p <= 0.0:
        return f"{100 * p:.0f}%"
    if p > 0.99:
        return ">99%"
    if p < 0.01:
        return "<1%"
    return f"{100 * p:.0f}%"


def ratio_text(x: float) -> str:
    """An odds ratio with two significant figures, readable at both ends ('0.05', '1.0', '12', '>1000')."""
    if x >= 1000:
        return ">1000"
    if x < 0.001:
        return "<0.001"
    return f"{x:#.2g}" if x < 10 else f"{x:.0f}"


def explain(model: Model, frame: pd.DataFrame, ci: float = 0.95) -> tuple[dict, np.ndarray]:
    """The page's answer for a one-lesion canonical frame (its site already set) and the lesion's draws."""
    draws = model.draws(frame)
    summary = summarise(draws, ci).iloc[0]
    columns = entered(frame)
    effects: list[dict[str, Any]] = []  # JSON objects
    if columns:
        others = model.draws(without(frame, columns))
        mean_without = others.mean(axis=1)
        for i, column in enumerate(columns):
            ratio = odds_ratio_summary(draws[0], others[i], ci)
            effects.append(
                {
                    "column": column,
                    "finding": finding_text(column, frame[column].iloc[0]),
                    **ratio,
                    "p_without": float(mean_without[i]),
                    "p_without_text": percent(float(mean_without[i])),
                    "or_text": f"{ratio_text(ratio['or_median'])} ({ratio_text(ratio['or_lower'])}–"
                    f"{ratio_text(ratio['or_upper'])})",
                    "prior_only": column in model.prior_only,
                }
            )
        effects.sort(key=lambda e: -abs(np.log(e["or_median"])))
    answer = {
        "lesion_id": str(frame["lesion_id"].iloc[0]),
        "p_malignant": float(summary.p_malignant),
        "ci_lower": float(summary.ci_lower),
        "ci_upper": float(summary.ci_upper),
        "p_above_2pct": float(summary.p_above_2pct),
        "ci": ci,
        "text": {
            "mean": percent(float(summary.p_malignant)),
            "ci": interval(float(summary.ci_lower), float(summary.ci_upper)),
            "above": share_text(float(summary.p_above_2pct)),
            "ci_mass": f"{100 * ci:.0f}%",
            "threshold": f"{100 * BIOPSY_THRESHOLD:g}%",
        },
        "effects": effects,
        "published": published_rows(frame.iloc[0]),
        "prior_only": [
            {"column": c, "finding": finding_text(c, frame[c].iloc[0])} for c in columns if c in model.prior_only
        ],
    }
    return answer, draws[0]
