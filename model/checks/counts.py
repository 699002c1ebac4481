"""Marginal counts per model level of the data a model is (or was) fitted to, for the prior-data conflict.

The literature priors are on *marginal* rates (P(malignant | level), other findings averaged over the
series' own mix), so the counts they are compared with are marginal too: all training lesions showing a
level, whatever else they show. A lesion with several morphology or distribution words counts under each
(as a published series would list it under each descriptor it reports). Undivided BI-RADS 4 (as in DDSM)
is not one of the model's levels 4A/4B/4C: it gets a row ``birads, 4`` of its own, compared with the
synthesis' prediction for an undivided 4 (a pooled level, see :func:`microcalc.synthesis.run.ess_table`);
``overall.all`` counts every lesion.

The counts come from a fit's training key table (``Fit.donors``: one row per distinct combination of
site, morphology, distribution, BI-RADS, breast density and age band, with lesion and malignant counts)
or from a lesion frame with outcomes (:func:`counts_from_frame`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from microcalc.io import schema
from microcalc.synthesis import studies as st

COUNT_COLUMNS: tuple[str, ...] = ("finding", "level", "malignant", "total")


def counts_from_donors(donors: pd.DataFrame) -> pd.DataFrame:
    """Per model level, malignant and total training lesions with that level (columns :data:`COUNT_COLUMNS`).

    Levels no training lesion shows are left out (no data, no conflict to measure).
    """
    n = donors["count"].to_numpy(dtype=np.int64)
    m = donors["malignant"].to_numpy(dtype=np.int64)
    records = [("overall", "all", int(m.sum()), int(n.sum()))] if n.sum() else []
    for finding in ("morphology", "distribution", "birads"):
        values = donors[finding].astype("string").fillna("")
        if finding == "birads":
            words = values.map(lambda v: {v} if v else set())
        else:
            words = values.map(lambda v: set(v.split(schema.MULTI_SEPARATOR)) if v else set())
        levels = st.MODEL_LEVELS[finding] + (("4",) if finding == "birads" else ())  # undivided 4 (pooled)
        for level in levels:
            hit = words.map(lambda w, lvl=level: lvl in w).to_numpy(dtype=bool)
            total = int(n[hit].sum())
            if total:
                records.append((finding, level, int(m[hit].sum()), total))
    return pd.DataFrame.from_records(records, columns=list(COUNT_COLUMNS))


def counts_from_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`counts_from_donors` of a canonical lesion frame with outcomes (``malignant`` 0/1)."""
    from microcalc.modelling.completion import training_table

    return counts_from_donors(training_table(frame))
