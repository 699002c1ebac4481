"""Score a lesion file with a saved fit and write predictions (CSV or Parquet), atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from microcalc.atomic import atomic_path
from microcalc.errors import LesionInputError


def write_table(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write a table as CSV or Parquet (by extension) via a temporary file and rename."""
    out = Path(out)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
    return out


def check_output_path(out: str | Path) -> None:
    """Refuse an output name we cannot write before any work is done."""
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise LesionInputError(str(out), "output must end in .csv or .parquet", value=out.suffix, allowed=".csv, .parquet")
    if out.is_dir():
        raise LesionInputError(str(out), "output path is a folder")


def predict_file(fit_path: str | Path, cases: str | Path, out: str | Path, *, ci: float = 0.95,
                 dask_scheduler: str | None = None) -> int:
    """Predict every lesion in ``cases`` with the fit in ``fit_path``; returns the number of lesions."""
    from microcalc.fitfile import load
    from microcalc.readers import read_lesions

    check_output_path(out)
    if not 0.0 < ci < 1.0:
        raise LesionInputError("--ci", "credible interval mass must lie strictly between 0 and 1", value=ci)
    fit = load(fit_path)
    frame = read_lesions(cases)
    predictions = fit.predict(frame, ci=ci)
    write_table(predictions, out)
    return len(predictions)
