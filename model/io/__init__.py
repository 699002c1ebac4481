"""Reading lesion files and writing results.

The canonical lesion schema, header and value words, the readers of canonical, DDSM and CBIS-DDSM
files (CSV/Parquet), training sources, errors, atomic writes, the commands' output protocol.
"""

from __future__ import annotations

from microcalc import lazy_attribute

# public name -> module that defines it
_LAZY = {
    "read_lesions": "microcalc.io.readers",
    "bundled_data_path": "microcalc.io.readers",
    "validate_cells": "microcalc.io.readers",
    "detect_format": "microcalc.io.readers",
    "outcome_values": "microcalc.io.readers",
    "read_training": "microcalc.io.sources",
    "LesionInputError": "microcalc.io.errors",
    "LesionWarning": "microcalc.io.errors",
    "FitFileError": "microcalc.io.errors",
    "ConvergenceError": "microcalc.io.errors",
    "Output": "microcalc.io.console",
    "atomic_path": "microcalc.io.atomic",
    "write_atomic": "microcalc.io.atomic",
    "write_text_atomic": "microcalc.io.atomic",
}

__all__ = list(_LAZY)

__getattr__ = lazy_attribute(__name__, _LAZY)  # loaded on first use: importing stays light
