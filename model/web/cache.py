"""The fit ``microcalc serve`` uses when it is given none: the bundled data fitted once, then cached.

Fitting the bundled DDSM lesions takes 15-30 s, too long to repeat at every start. The fit is
written (atomically, by :meth:`Fit.save`) under ``$XDG_CACHE_HOME/microcalc/`` (else
``~/.cache/microcalc/``) with a name holding a hash of everything that decides it: the package
version, the prior file's text, the bundled data's bytes and the sampler settings. A change to any
of them gives a new name, so a stale fit is never served; old files can be deleted at any time.
The file is a netCDF fit read by :func:`microcalc.load` (no pickle).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path

BUNDLED_SEED = 1  # the demo's seed: the cached fit is the one `microcalc demo` reports
CACHE_PREFIX = "bundled-fit"


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Folder of microcalc's cached fits: ``$XDG_CACHE_HOME/microcalc`` or ``~/.cache/microcalc``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG base-directory specification asks.
    """
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "microcalc"


def cache_key(version: str, priors_text: str, data: bytes, settings: str = f"seed={BUNDLED_SEED}") -> str:
    """A short hex digest of what determines the bundled fit (any change gives a new key)."""
    digest = hashlib.sha256()
    for part in (version.encode(), priors_text.encode(), data, settings.encode()):
        digest.update(len(part).to_bytes(8, "little"))  # length-prefixed: no two inputs give one stream
        digest.update(part)
    return digest.hexdigest()[:16]


def bundled_fit_path(folder: Path | None = None) -> Path:
    """Where the fit of the bundled data with the installed version and default priors is cached."""
    import microcalc
    from microcalc.priors import load_priors

    key = cache_key(microcalc.__version__, load_priors(None).text, microcalc.bundled_data_path().read_bytes())
    return (folder or cache_dir()) / f"{CACHE_PREFIX}-{microcalc.__version__}-{key}.nc"


def fit_bundled(path: Path, say: Callable[[str], None] = print):
    """Fit the bundled data (seed 1, default settings), save it to ``path`` atomically and return the fit."""
    import microcalc

    lesions = microcalc.read_lesions(microcalc.bundled_data_path())
    say(f"Fitting the bundled data once ({len(lesions)} lesions, about 15-30 s); it will be cached in {path}")
    fit = microcalc.fit(lesions, seed=BUNDLED_SEED)
    fit.save(path)
    return fit


def cached_bundled_fit(folder: Path | None = None, say: Callable[[str], None] = print):
    """The bundled fit and its path: loaded from the cache, or fitted and cached when absent or unreadable."""
    import microcalc
    from microcalc.io.errors import FitFileError

    path = bundled_fit_path(folder)
    if path.is_file():
        try:
            fit = microcalc.load(path)
        except FitFileError as err:  # a damaged cache file: fit again and replace it
            say(f"Cached fit unreadable ({err}); fitting again")
        else:
            say(f"Using the cached fit of the bundled data: {path}")
            return fit, path
    return fit_bundled(path, say), path
