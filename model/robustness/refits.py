"""Refits of the model under a scenario's priors, where reweighting the fit's draws is not reliable.

A refit is small on purpose (:class:`RefitSettings`: a scenario's answer, not the main fit) and its
method note carries its convergence verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from microcalc.priors import PriorSet
from microcalc.reporting.headline import headline_table
from microcalc.robustness.scenario_files import CI

if TYPE_CHECKING:
    from microcalc.modelling.fitting import Fit


@dataclass(frozen=True)
class RefitSettings:
    """Sampler settings of a refit: small on purpose (a scenario answer, not the main fit)."""

    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    seed: int = 20231

    def text(self) -> str:
        """Short description for the method column, e.g. '2x1000 draws'."""
        return f"{self.chains}x{self.draws} draws"


def refit_headline(
    frame: pd.DataFrame, priors: PriorSet, donors: pd.DataFrame, settings: RefitSettings
) -> tuple[pd.DataFrame, Fit]:
    """Refit with ``priors`` and return the headline table (quantities defined by ``donors``) and the fit."""
    from microcalc.modelling.fitting import fit

    refit = fit(
        frame, priors=priors, draws=settings.draws, tune=settings.tune, chains=settings.chains, seed=settings.seed
    )
    return headline_table(refit.params(), refit.priors, refit.sites, donors, ci=CI), refit


def refit_note(refit: Fit, settings: RefitSettings) -> str:
    """Short method note for a refit, with its convergence verdict."""
    note = settings.text()
    return note if refit.convergence.ok else f"{note}; NOT CONVERGED: {'; '.join(refit.convergence.problems())}"
