"""Every prior the studies table can give the model, beside what a prior file uses (``derived_priors.csv``).

One table answers "which of my priors come from the published series, and how far is each hand-set one
from what the series say?":

* the reference rate and the morphology and distribution level centres (:mod:`microcalc.synthesis.priorfile`),
* the BI-RADS steps with two or more series (:mod:`microcalc.synthesis.birads_steps`),
* the intercept (:mod:`microcalc.synthesis.intercept`),
* the 4A/4B/4C shares of an unsplit category 4.

Each row has the table's value and SD on the model's scale (a level centre as a rate, its SD in logits;
a step and the intercept in logits), the prior file's value and where it comes from (``studies`` when
the file takes the table's number, ``hand-set`` otherwise) and, where both have a centre on the logit
scale, how far the file's centre sits from the table's in the table's SDs (``shift_sd``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from microcalc.synthesis._numerics import logit

DIGITS = 4
COLUMNS: tuple[str, ...] = (
    "parameter",
    "kind",
    "table_value",
    "table_sd",
    "file_value",
    "file_sd",
    "file_origin",
    "shift_sd",
    "table_source",
)


def _row(parameter, kind, value, sd, file_value, file_sd, origin, source, logit_scale: bool) -> dict:
    centre = float if logit_scale else (lambda v: float(logit(v)))
    shift = (centre(file_value) - centre(value)) / sd if sd and np.isfinite(sd) and sd > 0 else float("nan")
    return {
        "parameter": parameter,
        "kind": kind,
        "table_value": value,
        "table_sd": sd,
        "file_value": file_value,
        "file_sd": file_sd,
        "file_origin": origin,
        "shift_sd": shift,
        "table_source": source,
    }


def derived_priors(priors=None, studies_path: str | Path | None = None) -> pd.DataFrame:
    """The table of the module docstring for a prior set (default: ``priors/default.toml``)."""
    from microcalc.priors import load_priors
    from microcalc.synthesis.birads_steps import SUBCATEGORIES, category4_mix, derived_steps
    from microcalc.synthesis.intercept import derived_intercept
    from microcalc.synthesis.priorfile import DESCRIPTORS, derived_centres, published_figures

    priors = priors if priors is not None else load_priors()
    reference, levels = derived_centres(studies_path, published=published_figures(priors))
    nan = float("nan")
    rows = [
        _row(
            "reference_ppv",
            "reference rate",
            reference.ppv,
            nan,
            priors.reference_ppv,
            nan,
            priors.level_centres,
            reference.provenance,
            False,
        )
    ]
    for d in DESCRIPTORS:  # every level of the file; those without enough series have no table value
        for lvl, lp in getattr(priors, d).levels.items():
            c = levels.get((d, lvl))
            rows.append(
                _row(
                    f"{d}.{lvl}",
                    "level centre (rate)",
                    c.ppv if c else nan,
                    c.centre_sd if c else nan,
                    lp.ppv,
                    lp.centre_sd,
                    lp.origin,
                    c.provenance if c else "fewer than 2 series report it beside other levels",
                    False,
                )
            )
    for name, s in derived_steps(studies_path).items():
        p = priors.birads_steps[name]
        origin = "studies" if name in priors.birads_derived else "hand-set"
        rows.append(
            _row(f"birads.{name}", "BI-RADS step (logit)", s.mean, s.sd, p.mean(), p.sd(), origin, s.provenance(), True)
        )
    p = priors.intercept
    try:
        i = derived_intercept(studies_path)
        rows.append(
            _row(
                "intercept",
                "intercept (logit)",
                i.mu,
                i.sigma,
                p.mean(),
                p.sd(),
                priors.intercept_origin,
                i.provenance(),
                True,
            )
        )
    except ValueError as exc:  # a table without two series reporting 4B beside other categories
        rows.append(
            _row("intercept", "intercept (logit)", nan, nan, p.mean(), p.sd(), priors.intercept_origin, str(exc), True)
        )
    mix, mix_source = category4_mix(studies_path)
    for category in SUBCATEGORIES:
        rows.append(
            _row(
                f"birads.category4_mix.{category}",
                "category-4 share",
                mix[category],
                nan,
                priors.category4_mix[category],
                nan,
                "file's own (checked within 0.01)" if priors.birads_steps_origin == "studies" else "file's own",
                mix_source,
                False,
            )
        )
    return pd.DataFrame(rows, columns=list(COLUMNS)).round(DIGITS)
