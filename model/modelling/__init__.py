"""The model: its equation and likelihood, fitting, the fit file and prediction.

Design matrices, the model equation and likelihood, completion of blank findings, prediction
(new-site and clinical populations), fitting with nutpie, the fit file and convergence diagnostics.
"""

from __future__ import annotations

from microcalc import lazy_attribute

# public name -> module that defines it
_LAZY = {
    "fit": "microcalc.modelling.fitting",
    "Fit": "microcalc.modelling.fitting",
    "SamplerSettings": "microcalc.modelling.fitting",
    "load": "microcalc.modelling.fitting",
    "save_fit": "microcalc.modelling.fitfile",
    "load_for_scoring": "microcalc.modelling.fitfile",
    "build_model": "microcalc.modelling.model",
    "malignancy_probability": "microcalc.modelling.model",
    "predict_frame": "microcalc.modelling.predict",
    "probability_draws": "microcalc.modelling.predict",
    "resolve_population": "microcalc.modelling.predict",
    "Convergence": "microcalc.modelling.diagnostics",
    "check_convergence": "microcalc.modelling.diagnostics",
    "encode": "microcalc.modelling.design",
    "aggregate": "microcalc.modelling.design",
    "complete": "microcalc.modelling.completion",
}

__all__ = list(_LAZY)

__getattr__ = lazy_attribute(__name__, _LAZY)  # loaded on first use: importing stays light
