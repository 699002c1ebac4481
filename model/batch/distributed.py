"""Scoring on a Dask cluster with the same per-pattern scorer as the local path (``microcalc[dask]``).

* :func:`predict_dask` maps :meth:`PatternScorer.score` over the partitions of a Dask DataFrame of
  canonical lesions. The scorer is one shared task, so each worker computes each distinct covariate
  pattern at most once.
* :func:`predict_file` is ``microcalc predict``'s entry: the local scorer, or with ``--dask`` the next.
* :func:`predict_file_dask` (``microcalc predict --dask SCHEDULER``) reads, validates and writes the
  file as the local path does (Polars, streamed) and has the workers score its distinct covariate
  patterns, the only heavy computing; the output appears only if every lesion was valid.

Fitting never needs a cluster: the likelihood is evaluated on distinct covariate patterns, not on
lesions (see the README's Scale section).
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from microcalc.batch import scoring
from microcalc.batch.arguments import check_ci, check_output_path
from microcalc.batch.scoring import PatternScorer, write_predictions
from microcalc.io.errors import LesionInputError

if TYPE_CHECKING:  # annotations only: dask is an optional extra, and modelling sits below batch
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster

    from microcalc.modelling.fitting import Fit


def predict_file(
    fit_path: str | Path,
    cases: str | Path,
    out: str | Path,
    *,
    ci: float = 0.95,
    dask_scheduler: str | None = None,
    opening: Future | None = None,
    site: str | None = None,
) -> int:
    """``microcalc predict``: the local scorer, or the Dask one when ``dask_scheduler`` is given.

    Locally :func:`~microcalc.batch.scoring.predict_file`; with ``dask_scheduler`` ("local" or a scheduler
    address) :func:`predict_file_dask`. The choice is made here, above both, so that the local scorer does not import this module.
    """
    if dask_scheduler is None:
        return scoring.predict_file(fit_path, cases, out, ci=ci, opening=opening, site=site)
    check_output_path(out)
    check_ci(ci)
    return predict_file_dask(fit_path, cases, out, ci=ci, scheduler=dask_scheduler, site=site)


def predict_dask(fit: Fit, ddf: dd.DataFrame, ci: float = 0.95, site: str | None = None) -> dd.DataFrame:
    """Lazy Dask DataFrame of predictions (``Fit.predict``'s columns) for a Dask DataFrame of canonical lesions.

    Parameters
    ----------
    fit
        A fitted model (:func:`microcalc.fit` or :func:`microcalc.load`).
    ddf
        Canonical lesions (the columns :func:`microcalc.read_lesions` gives), in any number of partitions.
    ci
        Mass of the equal-tailed credible interval.
    site
        Site of lesions whose site is blank, as in ``Fit.predict``.

    Returns
    -------
    dask.dataframe.DataFrame
        One row per lesion; each partition keeps its index, so the result lines up with ``ddf``. The
        scorer is one shared task, so each worker computes each distinct covariate pattern at most once.
    """
    import dask

    scorer = PatternScorer.from_fit(fit, ci, site)
    meta = _score_partition(ddf._meta, scorer)
    shared = dask.delayed(scorer, pure=True, traverse=False)
    return ddf.map_partitions(_score_partition, shared, meta=meta)


def _score_partition(frame: pd.DataFrame, scorer: PatternScorer) -> pd.DataFrame:
    """One partition's predictions with the partition's own index."""
    return scorer.score(frame).set_axis(frame.index)


def connect(scheduler: str) -> tuple[Client, LocalCluster | None]:
    """A Dask client for a scheduler address, or for a LocalCluster started here ("local").

    Returns (client, cluster); cluster is None unless it was started here.
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise LesionInputError("--dask", "scoring with Dask needs dask: pip install 'microcalc[dask]'") from None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1, dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="10s"), None
    except (OSError, TimeoutError, ValueError) as err:
        raise LesionInputError("--dask", f"cannot reach the Dask scheduler ({err})", value=scheduler) from None


def predict_file_dask(
    fit_path: str | Path,
    cases: str | Path,
    out: str | Path,
    *,
    ci: float = 0.95,
    scheduler: str = "local",
    client: Client | None = None,
    site: str | None = None,
) -> int:
    """``predict_file`` with the distinct patterns scored on a Dask cluster; returns the number of lesions."""
    scorer = PatternScorer.from_file(fit_path, ci, site)
    owned, cluster = client is None, None
    if client is None:
        client, cluster = connect(scheduler)
    live: Client = client
    try:
        shared = live.scatter(scorer, broadcast=True)

        def score(frame: pd.DataFrame) -> pd.DataFrame:
            """The frame's predictions, a part per worker thread, in the frame's order."""
            parts = np.array_split(np.arange(len(frame)), max(1, min(len(frame), sum(live.nthreads().values()))))
            jobs = [live.submit(_score_partition, live.scatter(frame.iloc[part]), shared, pure=False) for part in parts]
            return pd.concat([job.result() for job in jobs]).reset_index(drop=True)

        return write_predictions(cases, out, score, sites=lambda: scorer.sites)
    finally:
        if owned:
            live.close()
            if cluster is not None:
                cluster.close()
