"""Shared pytest fixtures: paths of the bundled and fixture data, and a CSV writer for bad inputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def bundled_path() -> Path:
    """The DDSM table shipped inside the package (617 lesions)."""
    from microcalc.io.readers import bundled_data_path

    return bundled_data_path()


@pytest.fixture(scope="session")
def cbis_path() -> Path:
    """The CBIS-DDSM format fixture: 40 view rows with quoted paths holding newlines."""
    return DATA_DIR / "cbis_ddsm_calc_sample.csv"


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write text (or raw bytes) to a file in tmp_path and return its path."""

    def write(content: str | bytes, name: str = "lesions.csv") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        return path

    return write


@pytest.fixture(scope="session")
def ddsm(bundled_path):
    """The bundled DDSM lesions as the canonical frame."""
    import warnings

    from microcalc.io.readers import read_lesions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_lesions(bundled_path, require_outcome=True)


@pytest.fixture(scope="session")
def small_fit(ddsm):
    """One quick fit of the bundled data shared by the tests (2 chains x 300 draws)."""
    from microcalc.modelling.fitting import fit

    return fit(ddsm, draws=300, tune=300, chains=2, seed=11)


@pytest.fixture(scope="session")
def small_fit_path(small_fit, tmp_path_factory):
    """``small_fit`` saved to a netCDF file."""
    path = tmp_path_factory.mktemp("fit") / "fit.nc"
    small_fit.save(path)
    return path
