"""FIT.nc: one self-describing netCDF file per fit, loadable in a new process without pickle.

The ArviZ DataTree of the fit (posterior, sample_stats, log_likelihood, log_prior, observed_data)
gets one more group, ``microcalc``, holding the training key table as variables and, as attributes,
the prior file's text, the training sites, sampler settings, diagnostics, data summary and the
versions of the package and its libraries. ``FORMAT_VERSION`` changes whenever that layout does.

:func:`read_fit` (behind :func:`microcalc.modelling.fitting.load`) opens the whole tree with xarray (reports and sensitivity need every group).
:func:`load_for_scoring` reads only what prediction needs - the posterior's equation parameters and
the ``microcalc`` group, ~3 MB - with h5netcdf alone: about 20 times faster, because decoding every
group with xarray (which also imports dask and numba when they are installed) takes about a second.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from microcalc.io.atomic import atomic_path
from microcalc.io.errors import FitFileError

if TYPE_CHECKING:
    from microcalc.priors import PriorSet

FORMAT_VERSION = 1
GROUP = "microcalc"
LIBRARIES = (
    "microcalc",
    "pymc",
    "pytensor",
    "nutpie",
    "arviz-base",
    "arviz-stats",
    "preliz",
    "numpy",
    "pandas",
    "xarray",
)


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a fit depends on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for lib in LIBRARIES:
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            out[lib] = "not installed"
    return out


def _donor_dataset(donors: pd.DataFrame):
    import xarray as xr

    data = {}
    for col in donors.columns:
        values = donors[col]
        if col in ("count", "malignant"):
            data[col] = ("donor", values.to_numpy(dtype=np.int64))
        elif col == "age_band":
            data[col] = ("donor", values.astype("Float64").to_numpy(dtype=float, na_value=np.nan))
        else:
            data[col] = ("donor", values.astype("string").fillna("").to_numpy(dtype=str).astype(object))
    return xr.Dataset(data)


def _donor_table(columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The training key table from its stored columns (strings as str or UTF-8 bytes; "" = blank)."""
    out = {}
    for col, values in columns.items():
        if col in ("count", "malignant"):
            out[col] = pd.Series(values.astype(np.int64))
        elif col == "age_band":
            out[col] = pd.Series(values, dtype="Float64")
        else:
            text = [v.decode() if isinstance(v, bytes) else str(v) for v in values]
            out[col] = pd.Series(text, dtype="string").replace("", pd.NA)
    return pd.DataFrame(out)


def save_fit(fit, path: str | Path) -> Path:
    """Write ``fit`` to ``path`` atomically (temporary file, then rename)."""
    import xarray as xr

    tree = fit.idata.copy()
    stats = tree["sample_stats"].to_dataset()
    tree["sample_stats"] = xr.DataTree(stats.drop_vars([v for v in stats.data_vars if stats[v].dtype == object]))
    meta = _donor_dataset(fit.donors)
    meta.attrs = {
        "format_version": FORMAT_VERSION,
        "priors_toml": fit.priors.text,
        "priors_path": fit.priors.path,
        "sites": json.dumps(list(fit.sites)),
        "settings": json.dumps(fit.settings.__dict__),
        "convergence": json.dumps(fit.convergence.to_dict()),
        "data_summary": json.dumps(fit.data_summary),
        "versions": json.dumps(fit.versions or library_versions()),
    }
    tree[GROUP] = xr.DataTree(meta)
    with atomic_path(path, suffix=".nc") as tmp:
        tree.to_netcdf(tmp, engine="h5netcdf")
    return Path(path)


def read_fit(path: str | Path) -> dict:
    """The fields of a :class:`~microcalc.modelling.fitting.Fit` saved by :func:`save_fit`, as keyword arguments.

    ``settings`` comes back as a dict; a clear :class:`FitFileError` is raised if the file is not a fit.

    :func:`microcalc.modelling.fitting.load` builds the ``Fit`` from them, so that this module does not
    import the fitting module that writes through it.
    """
    import xarray as xr

    from microcalc.modelling.diagnostics import Convergence

    path = _existing(path)
    try:
        with xr.open_datatree(path, engine="h5netcdf") as tree:
            tree = tree.load()
    except Exception as exc:  # h5py/netCDF raise many types for a damaged file
        raise _unreadable(path, exc) from None
    _check_layout(path, tree.children, tree[GROUP].attrs if GROUP in tree.children else {})
    meta = tree[GROUP].to_dataset()
    idata = tree.copy()
    del idata[GROUP]
    priors, sites = _priors_and_sites(meta.attrs)
    return dict(
        idata=idata,
        priors=priors,
        sites=sites,
        donors=_donor_table({str(col): meta[col].values for col in meta.data_vars}),
        convergence=Convergence(**{k: v for k, v in json.loads(meta.attrs["convergence"]).items() if k != "ok"}),
        settings=json.loads(meta.attrs["settings"]),
        data_summary=json.loads(meta.attrs["data_summary"]),
        versions=json.loads(meta.attrs.get("versions", "{}")),
    )


@dataclass(frozen=True)
class ScoringInputs:
    """What prediction needs from a fit: the arguments ``Fit.predict`` passes to ``predict_frame``."""

    params: dict[str, np.ndarray]  # posterior equation parameters, draws on the last axis (= Fit.params())
    priors: PriorSet
    sites: tuple[str, ...]
    donors: pd.DataFrame  # training key table, for completing blanks


def load_for_scoring(path: str | Path) -> ScoringInputs:
    """Read only the posterior equation parameters and the microcalc group, with h5netcdf (no xarray).

    Same checks and messages as :func:`read_fit`; the parameters equal ``load(path).params()``.
    """
    import h5netcdf

    from microcalc.modelling.model import EQUATION_PARAMETERS
    from microcalc.modelling.predict import sample_last

    path = _existing(path)
    try:
        with h5netcdf.File(path, "r") as tree:
            groups = tree.groups
            _check_layout(path, groups, groups[GROUP].attrs if GROUP in groups else {})
            posterior = groups["posterior"].variables
            params = {
                name: sample_last(posterior[name][...], posterior[name].dimensions) for name in EQUATION_PARAMETERS
            }
            attrs = dict(groups[GROUP].attrs)
            donors = _donor_table({col: var[...] for col, var in groups[GROUP].variables.items()})
    except FitFileError:
        raise
    except Exception as exc:  # h5py raises many types for a damaged file
        raise _unreadable(path, exc) from None
    priors, sites = _priors_and_sites(attrs)
    return ScoringInputs(params=params, priors=priors, sites=sites, donors=donors)


def _priors_and_sites(attrs: Mapping) -> tuple:
    """The prior set and training sites stored in the microcalc group's attributes."""
    from microcalc.priors import prior_set_from_text

    return (
        prior_set_from_text(attrs["priors_toml"], attrs.get("priors_path", "<stored>")),
        tuple(json.loads(attrs["sites"])),
    )


def _existing(path: str | Path) -> Path:
    """The fit file's path, if there is a file there."""
    path = Path(path)
    if not path.is_file():
        raise FitFileError(str(path), "fit file not found (create one with `microcalc fit`)")
    return path


def _unreadable(path: Path, exc: Exception) -> FitFileError:
    return FitFileError(str(path), f"not a readable microcalc fit file ({type(exc).__name__})")


def _check_layout(path: Path, groups: Mapping, attrs: Mapping) -> None:
    """Refuse a netCDF file that is not a microcalc fit, or one written in another format version."""
    if GROUP not in groups or "posterior" not in groups:
        raise FitFileError(str(path), "netCDF file without the microcalc and posterior groups: not a microcalc fit")
    found = int(attrs.get("format_version", -1))
    if found != FORMAT_VERSION:
        versions = json.loads(attrs.get("versions", "{}"))
        raise FitFileError(
            str(path),
            f"fit file format {found} (microcalc {versions.get('microcalc', '?')}) cannot be read by this "
            f"version, which reads format {FORMAT_VERSION}; refit with `microcalc fit`",
        )
