"""Scoring large lesion files: CSV/Parquet read by Polars, each distinct pattern scored once.

Files are read once into memory or, when large, scanned and streamed in bounded memory; predictions are
written in file order, locally or with the patterns scored on a Dask cluster.
"""

from __future__ import annotations

from microcalc import lazy_attribute

# public name -> module that defines it
_LAZY = {
    "predict_file": "microcalc.batch.scoring",
    "PatternScorer": "microcalc.batch.scoring",
    "predict_dask": "microcalc.batch.distributed",
    "predict_file_dask": "microcalc.batch.distributed",
}

__all__ = list(_LAZY)

__getattr__ = lazy_attribute(__name__, _LAZY)  # loaded on first use: importing stays light
