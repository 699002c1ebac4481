"""How well a fit predicts: evaluation, metrics, cross-validation and the learning curve.

Evaluation on labelled lesions, their metrics, cross-validation, the learning curve, and the
training counts for the prior-data conflict of the literature priors.
"""

from __future__ import annotations

from microcalc import lazy_attribute

# public name -> module that defines it
_LAZY = {
    "evaluate_fit": "microcalc.checks.evaluation",
    "evaluate_file": "microcalc.checks.evaluation",
    "evaluate_predictions": "microcalc.checks.evaluation",
    "run_crossval": "microcalc.checks.crossval",
    "run_learning_curve": "microcalc.checks.learning_curve",
    "counts_from_donors": "microcalc.checks.counts",
    "counts_from_frame": "microcalc.checks.counts",
}

__all__ = list(_LAZY)

__getattr__ = lazy_attribute(__name__, _LAZY)  # loaded on first use: importing stays light
