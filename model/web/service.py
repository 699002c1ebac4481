"""The work behind the calculator's routes, without HTTP: the fit served, its answers and their memo.

:class:`Service` answers the JSON API (:meth:`~Service.predict`, the numbers ``microcalc predict``
writes), the page (:meth:`~Service.case`) and batch files (:meth:`~Service.batch`, by
``predict_file`` itself). Model computations run one at a time (``Service.lock``; the routes run them
in a worker thread): the machine's cores are better used by NumPy on one request than shared by
several, and warnings of a batch file are then its own. Answers of small requests are remembered
(:class:`Memo`), keyed by their model inputs.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from microcalc import DISCLAIMER
from microcalc.io.errors import LesionInputError, LesionWarning
from microcalc.modelling.predict import MODEL_INPUTS, with_site
from microcalc.web import inputs
from microcalc.web.case import Model, Population, default_population, explain
from microcalc.web.plot import posterior_svg

if TYPE_CHECKING:
    import numpy as np

    from microcalc.modelling.diagnostics import Convergence

DEFAULT_CI = 0.95
MEMO_ENTRIES = 2048  # remembered answers of small requests (a calculator user toggles findings back and forth)
MEMO_MAX_LESIONS = 64  # requests with more lesions are always computed
OUTPUTS: dict[str, tuple[str, str]] = {  # ?output= -> (file suffix, media type); nothing else is accepted
    "csv": (".csv", "text/csv; charset=utf-8"),
    "parquet": (".parquet", "application/vnd.apache.parquet"),
}


class Memo[V]:
    """A small thread-safe least-recently-used map from a request's model inputs to its answer.

    Answers are deterministic functions of the key (the same computation on the same inputs), so a
    remembered answer is exactly the one a fresh computation gives.
    """

    def __init__(self, size: int = MEMO_ENTRIES):
        self.size = size
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The remembered answer for ``key`` (now the most recently used), or None."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._items.clear()

    def put(self, key: Hashable, value: V) -> None:
        """Remember ``value`` for ``key``, dropping the least recently used answers beyond ``size``."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def model_input_key(frame: pd.DataFrame) -> tuple | None:
    """The model inputs of every lesion in order (what a prediction depends on), or None for a large frame."""
    if len(frame) > MEMO_MAX_LESIONS:
        return None
    cols = [c for c in MODEL_INPUTS if c in frame]
    columns = [[None if value is pd.NA or value is None else value for value in frame[c].tolist()] for c in cols]
    return tuple(cols), tuple(zip(*columns))


@dataclass
class Service:
    """The fit the server answers with, and the work behind each route (no HTTP here)."""

    model: Model
    fit_path: Path
    ci: float = DEFAULT_CI
    convergence: Convergence | None = None  # of the fit
    lock: threading.Lock = field(default_factory=threading.Lock)
    predictions: Memo[np.ndarray] = field(default_factory=Memo)  # summary table per (ci, site, inputs)
    cases: Memo[dict] = field(default_factory=Memo)  # JSON answer per (population, inputs)

    def choice(self, population: object) -> Population:
        """The population choice of a key; unknown keys are refused.

        None gives what ``microcalc predict`` does for a blank site.
        """
        if population is None:
            return default_population(self.model.populations)
        choice = self.model.population(population) if isinstance(population, str) else None
        if choice is None:
            raise LesionInputError(
                inputs.REQUEST,
                "unknown population",
                value=population,
                allowed=", ".join(p.key for p in self.model.populations),
            )
        return choice

    def site(self, population: object) -> str:
        """The ``population=`` (``predict --population``) of a population choice's key."""
        return self.choice(population).site

    def predict(self, cells: pd.DataFrame, ci: float, population: str | None = None) -> dict:
        """The JSON API's answer for text cells: ``microcalc predict [--site S]``'s numbers for the same lesions."""
        from microcalc.batch.scoring import SUMMARY_COLUMNS, PatternScorer

        frame, notes = inputs.validated_lesions(cells)
        if frame.empty:
            raise LesionInputError(inputs.REQUEST, "every lesion is blank; send at least one lesion_id")
        site = self.site(population)
        key = model_input_key(frame)
        table = self.predictions.get((ci, site, key)) if key else None
        if table is None:
            m = self.model
            with self.lock:  # a fresh scorer: every pattern computed in this request, as the CLI computes a file
                scored = PatternScorer(
                    params=m.params, priors=m.priors, sites=m.sites, donors=m.donors, ci=ci, site=site
                ).score(frame)
            table = scored[list(SUMMARY_COLUMNS)].to_numpy(dtype=float)
            if key:
                self.predictions.put((ci, site, key), table)
        ids = frame["lesion_id"].astype(str).tolist()
        rows = [{"lesion_id": i, **dict(zip(SUMMARY_COLUMNS, map(float, values)))} for i, values in zip(ids, table)]
        return {"predictions": rows, "ci": ci, "warnings": notes, "disclaimer": DISCLAIMER}

    def case(self, cells: pd.DataFrame, population: str | None) -> dict:
        """The page's answer for one lesion at the chosen population."""
        choice = self.choice(population)
        frame, notes = inputs.validated_lesions(cells)
        frame = with_site(frame, choice.site)
        key = (choice.key, model_input_key(frame))
        answer = self.cases.get(key)
        if answer is None:
            with self.lock:
                answer, draws = explain(self.model, frame, self.ci)
            main = next((p for p in answer["published"] if p["main"]), None)
            answer["plot_svg"] = posterior_svg(
                draws,
                answer["p_malignant"],
                answer["ci_lower"],
                answer["ci_upper"],
                band=(main["low"], main["high"]) if main else None,
                label=f"posterior of the probability of malignancy: mean {answer['text']['mean']}, "
                f"{answer['text']['ci_mass']} credible interval {answer['text']['ci']}",
            )
            answer["population"] = choice.label
            self.cases.put(key, answer)
        return {**answer, "lesion_id": str(frame["lesion_id"].iloc[0]), "warnings": notes}

    def batch(
        self, upload: Path, display: str, output: str, ci: float, population: str | None = None
    ) -> tuple[Path, int, list[str]]:
        """Predict an uploaded file with ``predict_file`` (the CLI's code path): output path, count and warnings.

        Messages name the upload by ``display``, never by its temporary path.
        """
        from microcalc.batch.scoring import predict_file

        site = self.site(population)
        out = upload.with_name("predictions" + OUTPUTS[output][0])
        with self.lock, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LesionWarning)
            try:
                n = predict_file(self.fit_path, upload, out, ci=ci, site=site)
            except LesionInputError as err:
                raise renamed(err, upload, display) from None
        notes = [str(w.message).replace(str(upload), display) for w in caught if issubclass(w.category, LesionWarning)]
        return out, n, notes


def renamed(err: LesionInputError, path: Path, display: str) -> LesionInputError:
    """The error with the temporary file's path replaced by the name the user knows."""
    if err.file == str(path):
        err.file = display
    err.problem = str(err.problem).replace(str(path), display)
    return err
