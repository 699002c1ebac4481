"""Evidence synthesis of published biopsy series (``priors/studies.csv``) into robust meta-analytic-predictive priors.

studies, levels, terms: load/validate the table, its vocabulary, its rows as likelihood terms; meta, grid: random-effects
meta-analysis and its grid numerics; levelpriors, handset: level priors (MAP or hand-set); mixture, ess: mixtures, ESS,
conflict; loso, figures, tables, page, run: checks and outputs.
"""

from __future__ import annotations

from microcalc.synthesis.ess import Conflict, ess_elir, prior_data_conflict
from microcalc.synthesis.levelpriors import SynthesisPrior
from microcalc.synthesis.meta import MetaSpec, level_priors, synthesise
from microcalc.synthesis.mixture import MixturePrior, fit_mixture
from microcalc.synthesis.studies import bundled_studies_path, load_studies

__all__ = [
    "MixturePrior",
    "fit_mixture",
    "Conflict",
    "ess_elir",
    "prior_data_conflict",
    "load_studies",
    "bundled_studies_path",
    "MetaSpec",
    "SynthesisPrior",
    "level_priors",
    "synthesise",
    "run_literature",
]


def run_literature(out_dir, studies_path=None, **kwargs):
    """Write the literature synthesis to ``out_dir`` (see :func:`microcalc.synthesis.run.run_literature`)."""
    from microcalc.synthesis.run import run_literature as _run

    return _run(out_dir, studies_path=studies_path, **kwargs)
