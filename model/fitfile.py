"""FIT.nc: one self-describing netCDF file per fit, loadable in a new process without pickle.

The ArviZ DataTree of the fit (posterior, sample_stats, log_likelihood, log_prior, observed_data)
gets one more group, ``microcalc``, holding the training key table as variables and, as attributes,
the prior file's text, the training sites, sampler settings, diagnostics, data summary and the
versions of the package and its libraries. ``FORMAT_VERSION`` changes whenever that layout does.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd

from microcalc.atomic import atomic_path
from microcalc.errors import FitFileError

FORMAT_VERSION = 1
GROUP = "microcalc"
LIBRARIES = ("microcalc", "pymc", "pytensor", "nutpie", "arviz-base", "arviz-stats", "preliz", "numpy", "pandas", "xarray")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a fit depends on."""
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


def _donors_from_dataset(ds) -> pd.DataFrame:
    out = {}
    for col in ds.data_vars:
        values = ds[col].values
        if col in ("count", "malignant"):
            out[col] = pd.Series(values.astype(np.int64))
        elif col == "age_band":
            out[col] = pd.Series(values, dtype="Float64")
        else:
            out[col] = pd.Series(values.astype(str), dtype="string").replace("", pd.NA)
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


def load(path: str | Path):
    """Read a fit saved by :meth:`Fit.save`; a clear :class:`FitFileError` if it is not one."""
    import xarray as xr

    from microcalc.diagnostics import Convergence
    from microcalc.fitting import Fit, SamplerSettings
    from microcalc.priors import prior_set_from_text

    path = Path(path)
    if not path.is_file():
        raise FitFileError(str(path), "fit file not found (create one with `microcalc fit`)")
    try:
        with xr.open_datatree(path, engine="h5netcdf") as tree:
            tree = tree.load()
    except Exception as exc:  # h5py/netCDF raise many types for a damaged file
        raise FitFileError(str(path), f"not a readable microcalc fit file ({type(exc).__name__})") from None
    if GROUP not in tree.children or "posterior" not in tree.children:
        raise FitFileError(str(path), "netCDF file without the microcalc and posterior groups: not a microcalc fit")
    meta = tree[GROUP].to_dataset()
    found = int(meta.attrs.get("format_version", -1))
    if found != FORMAT_VERSION:
        versions = json.loads(meta.attrs.get("versions", "{}"))
        raise FitFileError(
            str(path),
            f"fit file format {found} (microcalc {versions.get('microcalc', '?')}) cannot be read by this "
            f"version, which reads format {FORMAT_VERSION}; refit with `microcalc fit`",
        )
    idata = tree.copy()
    del idata[GROUP]
    return Fit(
        idata=idata,
        priors=prior_set_from_text(meta.attrs["priors_toml"], meta.attrs.get("priors_path", "<stored>")),
        sites=tuple(json.loads(meta.attrs["sites"])),
        donors=_donors_from_dataset(meta),
        convergence=Convergence(**{k: v for k, v in json.loads(meta.attrs["convergence"]).items() if k != "ok"}),
        settings=SamplerSettings(**json.loads(meta.attrs["settings"])),
        data_summary=json.loads(meta.attrs["data_summary"]),
        versions=json.loads(meta.attrs.get("versions", "{}")),
    )


def versions_of(fit_path_or_tree) -> dict:
    """Library versions recorded in a saved fit (for reports)."""
    return json.loads(fit_path_or_tree[GROUP].attrs.get("versions", "{}"))
