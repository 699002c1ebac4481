"""Training data from one or several lesion files: ``microcalc fit A.csv B.csv ... [--with-bundled]``.

Each file is read by :func:`microcalc.read_lesions` (any format, outcomes required), then:

* **sites**: a lesion's site is a grouping level of the model, so a file without sites (one
  institution's lesions, CBIS-DDSM) becomes a site of its own, named by ``site`` when only one file
  lacks sites, else by its file name (``lesions_2024.csv`` -> ``lesions_2024``). A single file
  keeps its blanks: :func:`microcalc.fit` names them (``site`` or ``"training"``).
* **ids**: when files are combined, lesion and patient ids are prefixed with the file's name
  (``lesions_2024/L1``), since two files may use the same ids for different lesions and women.
* **overlap**: CBIS-DDSM is a curated subset of DDSM (its patient ids were renumbered), so fitting
  CBIS-DDSM together with DDSM counts many lesions twice. That is refused unless the caller says
  ``allow_overlap=True`` (then a loud warning).

The combined frame records its sources in ``frame.attrs["sources"]`` (file, format, lesions, site).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from microcalc.io.errors import LesionInputError, LesionWarning
from microcalc.io.readers import CBIS, DDSM, bundled_data_path, read_lesions

OVERLAP = (
    "CBIS-DDSM is a curated subset of DDSM (the same lesions, with renumbered patients), so fitting "
    "{cbis} together with {ddsm} would count many lesions twice"
)


def read_training(
    paths: Sequence[str | os.PathLike[str]] = (),
    *,
    site: str | None = None,
    with_bundled: bool = False,
    allow_overlap: bool = False,
) -> pd.DataFrame:
    """Read lesion files with outcomes into one canonical training frame (rules in the module docstring).

    Parameters
    ----------
    paths
        Lesion files (CSV or Parquet; canonical, DDSM or CBIS-DDSM, in any mix). None and no
        ``with_bundled``: the bundled DDSM lesions.
    site
        Name of the site of lesions whose site is blank. With several files, only one of them may
        lack sites when a name is given.
    with_bundled
        Add the bundled DDSM lesions (sites A-D) to the files.
    allow_overlap
        Combine CBIS-DDSM with DDSM anyway (with a warning) instead of refusing.
    """
    files = [Path(p) for p in paths]
    bundled = bundled_data_path()
    if with_bundled and not any(_same_file(f, bundled) for f in files):
        files.append(bundled)
    if not files:
        files = [bundled]
    frames = [read_lesions(f, require_outcome=True) for f in files]
    if len(frames) == 1:
        frame = frames[0]
        frame.attrs["sources"] = [_source(frame, files[0], site)]
        return frame
    names = _source_names(files)
    _check_overlap(frames, files, allow_overlap)
    lacking = [i for i, f in enumerate(frames) if f["site"].isna().any()]
    if site is not None and len(lacking) > 1:
        raise LesionInputError(
            "--site",
            f"names the site of one file, but {len(lacking)} files have lesions without "
            f"a site ({', '.join(str(files[i]) for i in lacking)}); each of these is "
            "named by its file name when --site is not given",
            value=site,
        )
    parts, sources = [], []
    for i, (frame, name) in enumerate(zip(frames, names)):
        own = (site if site is not None else name) if i in lacking else None
        _warn_site_clash(own, frames, i, files)
        parts.append(_namespaced(frame, name, own))
        sources.append(_source(frame, files[i], own))
    combined = pd.concat(parts, ignore_index=True)
    combined.attrs.update(source="; ".join(str(f) for f in files), format="combined", sources=sources)
    return combined


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _source_names(files: list[Path]) -> list[str]:
    """Each file's name without its suffix; two files of the same name are refused (their ids would clash)."""
    names = [f.stem for f in files]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise LesionInputError(
                str(files[i]),
                f"has the same name as {files[names.index(name)]}; combined files "
                "are told apart by their names, so rename one",
            )
    return names


def _check_overlap(frames: list[pd.DataFrame], files: list[Path], allow: bool) -> None:
    """Refuse (or, if allowed, warn loudly about) CBIS-DDSM combined with DDSM."""
    formats = [f.attrs.get("format") for f in frames]
    cbis = [str(files[i]) for i, fmt in enumerate(formats) if fmt == CBIS]
    ddsm = [str(files[i]) for i, fmt in enumerate(formats) if fmt == DDSM]
    if not (cbis and ddsm):
        return
    problem = OVERLAP.format(cbis=", ".join(cbis), ddsm=", ".join(ddsm))
    if not allow:
        raise LesionInputError(cbis[0], problem + "; fit them separately, or pass --allow-overlap to combine anyway")
    warnings.warn(
        "WARNING: " + problem + "; combined anyway (--allow-overlap): intervals will be too narrow",
        LesionWarning,
        stacklevel=3,
    )


def _warn_site_clash(own: str | None, frames: list[pd.DataFrame], i: int, files: list[Path]) -> None:
    """A file's new site name that another file already uses would merge two institutions into one site."""
    if own is None:
        return
    for j, other in enumerate(frames):
        if j != i and (other["site"] == own).fillna(False).any():
            warnings.warn(
                f"{files[i]}: its lesions become site {own!r}, a site {files[j]} also has; they are fitted as one site",
                LesionWarning,
                stacklevel=4,
            )


def _namespaced(frame: pd.DataFrame, name: str, site: str | None) -> pd.DataFrame:
    """A file's lesions with ids prefixed by the file's name and blank sites named ``site``."""
    out = frame.copy()
    out["lesion_id"] = name + "/" + out["lesion_id"]
    out["patient_id"] = (name + "/" + out["patient_id"]).astype("string")
    if site is not None:
        out["site"] = out["site"].fillna(site)
    return out


def _source(frame: pd.DataFrame, file: Path, site: str | None) -> dict:
    """What the fit records of one input file."""
    sites = sorted(frame["site"].dropna().astype(str).unique())
    return {
        "file": file.name,
        "format": frame.attrs.get("format"),
        "lesions": int(len(frame)),
        "sites": sites if sites else [],
        "blank_sites_named": site,
    }
