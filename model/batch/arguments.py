"""Checks of ``microcalc predict``'s arguments, made before any work: the output path and the interval mass."""

from __future__ import annotations

from pathlib import Path

from microcalc.io.errors import LesionInputError

OUTPUT_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")


def check_output_path(out: str | Path) -> None:
    """Refuse an output name we cannot write before any work is done."""
    out = Path(out)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise LesionInputError(
            str(out), "output must end in .csv or .parquet", value=out.suffix, allowed=", ".join(OUTPUT_SUFFIXES)
        )
    if out.is_dir():
        raise LesionInputError(str(out), "output path is a folder")


def check_ci(ci: float) -> None:
    """Refuse a credible-interval mass outside (0, 1)."""
    if not 0.0 < ci < 1.0:
        raise LesionInputError("--ci", "credible interval mass must lie strictly between 0 and 1", value=ci)
