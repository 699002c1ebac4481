"""The training lesions rebuilt from a fit file, for refits and for the likelihood's reach.

A fit file keeps the key table of its training lesions (one row per combination of recorded values,
with lesion and malignant counts), not the lesions. Scenario refits and the elements the likelihood
reads need the lesions back: :func:`training_frame` rebuilds them and :func:`rebuild_problem` checks
that they reproduce the fit's stored log-likelihood exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from microcalc.io import schema
from microcalc.modelling.design import aggregate, encode
from microcalc.reporting.headline import blank_frame

REBUILT_COLUMNS: tuple[str, ...] = ("site", "morphology", "distribution", "birads", "breast_density")


def training_frame(donors: pd.DataFrame) -> pd.DataFrame:
    """Canonical lesion frame rebuilt from a fit's key table (one row per training lesion).

    The key table holds every column the bundled data record (site, morphology, distribution,
    BI-RADS, breast density, age band) with lesion and malignant counts; ages become their 5-year
    band centre, which the design rounds to anyway. :func:`rebuild_problem` checks the result.
    """
    rows = donors.loc[donors.index.repeat(donors["count"].to_numpy())]
    rank = rows.groupby(level=0).cumcount().to_numpy()
    n = len(rows)
    frame = blank_frame(n)
    frame["lesion_id"] = pd.array([f"rebuilt-{i + 1}" for i in range(n)], dtype="string")
    for col in REBUILT_COLUMNS:
        frame[col] = rows[col].astype("string").to_numpy()
    frame["age"] = rows["age_band"].astype("Float64").to_numpy()
    frame[schema.OUTCOME] = pd.array((rank < rows["malignant"].to_numpy()).astype(int), dtype="Int64")
    return frame


def rebuild_problem(fit, frame: pd.DataFrame) -> str | None:
    """None if ``frame`` reproduces the fit's likelihood exactly, else what differs.

    The stored pointwise log-likelihood is compared with the rebuilt data's at every posterior draw:
    a training column the key table does not hold (e.g. ``change``) would make them differ.
    """
    from microcalc.modelling.fitting import log_likelihood_group

    y = frame[schema.OUTCOME].to_numpy(dtype=float)
    patterns = aggregate(encode(frame, fit.priors, fit.sites), y)
    stored = fit.idata["log_likelihood"][schema.OUTCOME]
    if stored.sizes["pattern"] != len(patterns.trials):
        return f"{len(patterns.trials)} covariate patterns rebuilt, {stored.sizes['pattern']} in the fit"
    rebuilt = log_likelihood_group(fit.idata, patterns)[schema.OUTCOME]
    gap = float(np.max(np.abs(rebuilt.values - stored.transpose(*rebuilt.dims).values)))
    return None if gap < 1e-6 else f"log-likelihood differs by up to {gap:.3g}"
