"""The sensitivity command's settings and results.

:class:`SensitivitySettings` (what to compute, how hard) and :class:`SensitivityResult` (every table
it computed), shared by the computation (:mod:`microcalc.robustness.sensitivity`), its figures and its page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from microcalc.robustness.scenarios import RefitSettings, ScenarioResult

# Quantities drawn in the data-size figure (all are in data_size.csv).
DATA_SIZE_FIGURE = (
    "biopsied grouped cluster, new site",
    "morphology: amorphous",
    "morphology: fine_pleomorphic",
    "morphology: punctate",
    "distribution: grouped",
    "birads: 3",
    "birads: 4",
    "birads: 5",
)


@dataclass(frozen=True)
class SensitivitySettings:
    """What the sensitivity command computes and how hard it tries."""

    refit: RefitSettings | None = field(default_factory=RefitSettings)  # None: no refits (PSIS only, flagged)
    fractions: tuple[float, ...] = (0.1, 0.3, 1.0)  # shares of the training lesions for the data-size view
    data_size_scenarios: tuple[str, ...] = ("vague",)  # compared with the fit's own priors at each size
    curves: int = 6  # power-scaling curves drawn for this many of the most sensitive elements
    seed: int = 1  # subsampling order of the data-size view


@dataclass
class SensitivityResult:
    """Everything the command computed, as tables (the files are written from these)."""

    groups: pd.DataFrame
    elements: pd.DataFrame
    quantities: pd.DataFrame
    curves: pd.DataFrame
    scenarios: list[ScenarioResult]
    scenario_table: pd.DataFrame
    data_size: pd.DataFrame
    baseline: str
    notes: list[str]
    descriptions: dict[str, str]
    reference: pd.DataFrame  # quantity, published_low, published_high, observed_n (figure and reading)
    conflicts: pd.DataFrame | None = None  # why each flagged group conflicts (microcalc.robustness.conflicts)
    evidence: pd.DataFrame | None = None  # per literature level: ESS and conflict with the training counts
