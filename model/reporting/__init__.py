"""What a fit says, for people: the report, its figures and the headline probabilities.

The HTML/Markdown report, its figures, the headline probabilities of common findings and the
published ranges they are checked against.
"""

from __future__ import annotations

from microcalc import lazy_attribute

# public name -> module that defines it
_LAZY = {
    "write_report": "microcalc.reporting.report",
    "headline_table": "microcalc.reporting.headline",
    "clinical_checks": "microcalc.reporting.headline",
    "format_headline": "microcalc.reporting.headline",
    "PublishedRate": "microcalc.reporting.literature",
}

__all__ = list(_LAZY)

__getattr__ = lazy_attribute(__name__, _LAZY)  # loaded on first use: importing stays light
