"""microcalc: a hierarchical Bayesian model of malignancy in clustered breast microcalcifications.

Research software, not a diagnostic device. Heavy libraries (PyMC, ArviZ) load only when a
modelling function is first used, so ``import microcalc`` and ``microcalc --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: importing microcalc stays light
    from collections.abc import Callable
    from typing import Any

DISCLAIMER = (
    "Research software, not a diagnostic device: probabilities are estimates from "
    "published series and the DDSM archive, not a basis for individual care decisions."
)

# public name -> module that defines it (loaded lazily)
_LAZY = {
    "read_lesions": "microcalc.io.readers",
    "bundled_data_path": "microcalc.io.readers",
    "LesionInputError": "microcalc.io.errors",
    "FitFileError": "microcalc.io.errors",
    "load_priors": "microcalc.priors",
    "fit": "microcalc.modelling.fitting",
    "Fit": "microcalc.modelling.fitting",
    "load": "microcalc.modelling.fitting",
    "predict_dask": "microcalc.batch.distributed",
}

__all__ = ["DISCLAIMER", "__version__", *_LAZY]


def _installed_version() -> str:
    """The installed package's version (importlib.metadata costs ~30 ms, so only when asked)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("microcalc")
    except PackageNotFoundError:  # running from a checkout without installation
        return "0.0.0+unknown"


def lazy_attribute(package: str, table: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``table[name]`` (a module path) on first use of ``name``.

    Every subpackage's ``__init__`` exports its public names this way, so that importing a subpackage
    (or ``microcalc --help``) stays light: pandas and PyMC load only when something is used.
    """

    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


_public = lazy_attribute("microcalc", _LAZY)


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return _installed_version()
    return _public(name)
