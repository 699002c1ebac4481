"""Marginal counts per model level of the data a model is (or was) fitted to, for the prior-data conflict.

The literature priors are on *marginal* rates (P(malignant | level), other findings averaged over the
series' own mix), so the counts they are compared with are marginal too: all training lesions showing a
level, whatever else they show (:func:`microcalc.synthesis.evidence.counts_from_donors`, which counts a
fit's training key table). Here the same counts come from a lesion frame with outcomes, whose key table
needs the model's completion code (a layer above the synthesis).
"""

from __future__ import annotations

import pandas as pd

from microcalc.synthesis.evidence import COUNT_COLUMNS, counts_from_donors

__all__ = ["COUNT_COLUMNS", "counts_from_donors", "counts_from_frame"]


def counts_from_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`counts_from_donors` of a canonical lesion frame with outcomes (``malignant`` 0/1)."""
    from microcalc.modelling.completion import training_table

    return counts_from_donors(training_table(frame))
