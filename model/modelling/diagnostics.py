"""Convergence diagnostics read on every fit: R-hat, effective sample size, divergences."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # for the annotation only: pandas loads when a table is built
    import pandas as pd

# Thresholds of Vehtari et al. (2021), as the model issue asks.
MAX_RHAT = 1.01
MIN_ESS = 400


@dataclass(frozen=True)
class Convergence:
    """Worst-case diagnostics over all free parameters of a fit."""

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    chains: int
    draws: int
    worst_rhat: str
    worst_ess: str

    @property
    def ok(self) -> bool:
        """True when the fit converged: R-hat, bulk ESS and divergences all within the thresholds of Vehtari et al."""
        return self.max_rhat <= MAX_RHAT and self.min_ess_bulk >= MIN_ESS and self.divergences == 0

    def problems(self) -> list[str]:
        """Plain-language list of what failed (empty when the fit converged)."""
        out = []
        if not self.max_rhat <= MAX_RHAT:
            out.append(f"R-hat {self.max_rhat:.3f} > {MAX_RHAT} ({self.worst_rhat})")
        if not self.min_ess_bulk >= MIN_ESS:
            out.append(f"bulk ESS {self.min_ess_bulk:.0f} < {MIN_ESS} ({self.worst_ess})")
        if self.divergences:
            out.append(f"{self.divergences} divergent transitions")
        return out

    def to_dict(self) -> dict:
        """The fields as a dict with the verdict ``ok``, for JSON (the fit file, ``/api/health``)."""
        return {**asdict(self), "ok": self.ok}

    def text(self) -> str:
        """One line for the terminal and the report."""
        verdict = "converged" if self.ok else "NOT CONVERGED: " + "; ".join(self.problems())
        return (
            f"max R-hat {self.max_rhat:.3f} (≤ {MAX_RHAT}), min bulk ESS {self.min_ess_bulk:.0f} "
            f"(≥ {MIN_ESS}), min tail ESS {self.min_ess_tail:.0f}, divergences {self.divergences} "
            f"[{self.chains} chains × {self.draws} draws] — {verdict}"
        )


def parameter_table(idata, var_names) -> pd.DataFrame:
    """ArviZ summary (mean, sd, interval, ESS, R-hat) for the named parameters."""
    import arviz_stats as azs

    return azs.summary(idata, var_names=list(var_names), round_to="none")


def check_convergence(idata, var_names) -> Convergence:
    """Read R-hat, ESS and divergences of the named free parameters.

    The worst rank-normalised R-hat and bulk and tail ESS over all their elements, and the divergent
    transitions; :attr:`Convergence.ok` compares them with the thresholds of Vehtari et al.

    References
    ----------
    Vehtari A, Gelman A, Simpson D, Carpenter B, Bürkner P-C. Rank-normalization, folding, and
    localization: an improved R-hat for assessing convergence of MCMC. Bayesian Analysis 16, 667-718 (2021).
    """
    table = parameter_table(idata, var_names)
    stats = idata["sample_stats"]
    divergences = int(np.asarray(stats["diverging"]).sum()) if "diverging" in stats else 0
    posterior = idata["posterior"]
    rhat = table["r_hat"].astype(float)
    ess = table["ess_bulk"].astype(float)
    return Convergence(
        max_rhat=float(rhat.max()) if rhat.notna().any() else float("nan"),
        min_ess_bulk=float(ess.min()),
        min_ess_tail=float(table["ess_tail"].astype(float).min()),
        divergences=divergences,
        chains=int(posterior.sizes["chain"]),
        draws=int(posterior.sizes["draw"]),
        worst_rhat=str(rhat.idxmax()) if rhat.notna().any() else "R-hat undefined (one chain)",
        worst_ess=str(ess.idxmin()) if ess.notna().any() else "ESS undefined",
    )
