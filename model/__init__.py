"""microcalc: a hierarchical Bayesian model of malignancy in clustered breast microcalcifications.

Research software, not a diagnostic device. Heavy libraries (PyMC, ArviZ) load only when a
modelling function is first used, so ``import microcalc`` and ``microcalc --help`` stay fast.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("microcalc")
except PackageNotFoundError:  # running from a checkout without installation
    __version__ = "0.0.0+unknown"

DISCLAIMER = (
    "Research software, not a diagnostic device: probabilities are estimates from "
    "published series and the DDSM archive, not a basis for individual care decisions."
)

# public name -> module that defines it (loaded lazily)
_LAZY = {
    "read_lesions": "microcalc.readers",
    "bundled_data_path": "microcalc.readers",
    "LesionInputError": "microcalc.errors",
    "FitFileError": "microcalc.errors",
    "load_priors": "microcalc.priors",
    "fit": "microcalc.fitting",
    "Fit": "microcalc.fitting",
    "load": "microcalc.fitfile",
    "predict_dask": "microcalc.distributed",
}

__all__ = ["DISCLAIMER", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'microcalc' has no attribute {name!r}")
