"""What a fit says, for people: the HTML/Markdown report, its figures, the headline probabilities
of common findings and the published ranges they are checked against.
"""

from __future__ import annotations

# public name -> module that defines it
_LAZY = {
    "write_report": "microcalc.reporting.report",
    "headline_table": "microcalc.reporting.headline",
    "clinical_checks": "microcalc.reporting.headline",
    "format_headline": "microcalc.reporting.headline",
    "PublishedRate": "microcalc.reporting.literature",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:  # loaded on first use, so that importing the subpackage stays light
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
