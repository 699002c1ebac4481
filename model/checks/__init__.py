"""How well a fit predicts: evaluation on labelled lesions, metrics, cross-validation, the learning
curve, and the training counts for the prior-data conflict of the literature priors.
"""

from __future__ import annotations

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


def __getattr__(name: str):
    if name in _LAZY:  # loaded on first use, so that importing the subpackage stays light
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
