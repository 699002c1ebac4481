"""Scoring large lesion files: CSV/Parquet streamed in bounded memory, each distinct pattern scored
once, predictions written as they come; locally or on a Dask cluster.
"""

from __future__ import annotations

# public name -> module that defines it
_LAZY = {
    "predict_file": "microcalc.batch.scoring",
    "PatternScorer": "microcalc.batch.scoring",
    "predict_dask": "microcalc.batch.distributed",
    "predict_file_dask": "microcalc.batch.distributed",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:  # loaded on first use, so that importing the subpackage stays light
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
