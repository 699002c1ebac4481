"""The calculator's web application (Starlette, served by uvicorn): the page, a JSON API and batch files.

Routes:

* ``GET /``: the calculator page (one self-contained HTML page, see :mod:`microcalc.web.page`).
* ``POST /api/predict``: ``{"lesions": [{"lesion_id": "a", "morphology": "fine_pleomorphic", ...}], "ci": 0.95,
  "population": "clinical"}`` (``ci`` and ``population`` optional; a population is ``predict --population``:
  ``"clinical"``, ``"new"`` (a new DDSM-like site) or ``"site:A"``
  for training site A)
  -> ``{"predictions": [{"lesion_id", "p_malignant", "ci_lower", "ci_upper", "p_above_2pct"}, ...],
  "warnings": [...]}``. Lesions are validated as the CLI validates a file (:mod:`microcalc.web.inputs`)
  and scored by a fresh :class:`microcalc.batch.scoring.PatternScorer`, the scorer ``microcalc predict``
  uses, so the numbers are those ``microcalc predict`` writes for a file of the same lesions.
* ``POST /api/case``: ``{"lesion": {...}, "population": "new"}`` -> everything the page shows for one
  lesion (:func:`microcalc.web.case.explain`) and the posterior plot as SVG.
* ``POST /api/batch?output=csv|parquet&name=FILE&population=new``: the body is a lesion file (CSV or Parquet; canonical,
  DDSM or CBIS-DDSM); the answer is the predictions file that ``microcalc predict`` writes, made by
  :func:`microcalc.batch.scoring.predict_file` itself from a temporary copy of the upload.
* ``GET /api/health``: version, diagnostics and the population choices.

Bad input gets a 4xx answer ``{"error": message}`` whose message is the CLI's; nothing from a request
is used as a path or evaluated. Bodies are size-limited in the ASGI layer (:mod:`microcalc.web.limits`).
Model computations run one at a time in a worker thread: the machine's cores are better used by
NumPy on one request than shared by several, and warnings of a batch file are then its own.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from microcalc import DISCLAIMER
from microcalc.io.errors import LesionInputError, LesionWarning
from microcalc.modelling.predict import MODEL_INPUTS, with_site
from microcalc.web import inputs
from microcalc.web.case import Model, Population, default_population, explain
from microcalc.web.limits import MAX_JSON_BYTES, MAX_UPLOAD_BYTES, BodyLimit, SecurityHeaders
from microcalc.web.plot import posterior_svg

if TYPE_CHECKING:
    import numpy as np

    from microcalc.modelling.diagnostics import Convergence

DEFAULT_CI = 0.95
MEMO_ENTRIES = 2048  # remembered answers of small requests (a calculator user toggles findings back and forth)
MEMO_MAX_LESIONS = 64  # requests with more lesions are always computed
JSON_TYPES = ("application/json",)
# A cross-site page can POST only text/plain, form or multipart bodies without asking first, so
# requiring these types keeps other web sites from using the server through the user's browser.
BATCH_TYPES = ("application/octet-stream", "text/csv", "application/vnd.apache.parquet", "application/x-parquet")
OUTPUTS: dict[str, tuple[str, str]] = {  # ?output= -> (file suffix, media type); nothing else is accepted
    "csv": (".csv", "text/csv; charset=utf-8"),
    "parquet": (".parquet", "application/vnd.apache.parquet"),
}
MAX_WARNINGS = 20


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


def display_name(name: str | None) -> str:
    """The uploaded file's name for messages: its last path part, printable, at most 120 characters."""
    text = re.split(r"[\\/]", name or "")[-1]
    text = "".join(ch for ch in text if ch.isprintable()).strip()[:120]
    return text or "upload"


def download_name(display: str, output: str) -> str:
    """'lesions.csv' -> 'lesions_predictions.csv' (letters, digits, '.', '_' and '-' only)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", display.rsplit(".", 1)[0]).strip("._")[:60] or "lesions"
    return f"{stem}_predictions{OUTPUTS[output][0]}"


def error_response(err: LesionInputError, status: int = 400) -> JSONResponse:
    """The CLI's message as a JSON error, with the lesion's position in the request when known."""
    content: dict = {"error": str(err)}
    if err.file == inputs.REQUEST and err.row is not None and err.row >= 2:
        content["lesion_index"] = err.row - 2
    return JSONResponse(content, status)


def media_type(request: Request) -> str:
    """The request's media type: its Content-Type without parameters, lower case ('' if absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_type(request: Request, allowed: tuple[str, ...]) -> None:
    """Refuse a body whose media type is not ``allowed`` with 415 and the header to send.

    Requiring these types keeps other web sites from posting to the server through the user's browser
    (see :data:`BATCH_TYPES`).
    """
    if media_type(request) not in allowed:
        raise HTTPException(
            415,
            f"request: send the body with the header 'Content-Type: {allowed[0]}'"
            + (f" (or {', '.join(allowed[1:])})" if len(allowed) > 1 else "")
            + f"; got {media_type(request) or 'none'!r}",
        )


async def json_document(request: Request, keys: tuple[str, ...]) -> dict:
    """The request's JSON object, with only the top-level ``keys`` allowed (after the media type is checked)."""
    require_type(request, JSON_TYPES)
    return dict(inputs.request_object(inputs.parse_json(await request.body()), keys))


def handled(endpoint: Callable) -> Callable:
    """An endpoint whose LesionInputError becomes a 400 answer with the CLI's message."""

    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except LesionInputError as err:
            return error_response(err)

    run.__name__ = endpoint.__name__
    return run


def routes(service: Service, page: str) -> list[Route]:
    """The application's routes, bound to one service."""

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def health(request: Request) -> Response:
        import microcalc

        conv = service.convergence
        assert conv is not None  # create_app passes the fit's
        return JSONResponse(
            {
                "version": microcalc.__version__,
                "disclaimer": DISCLAIMER,
                "converged": bool(conv.ok),
                "diagnostics": conv.text(),
                "populations": [{"key": p.key, "label": p.label} for p in service.model.populations],
            }
        )

    @handled
    async def api_predict(request: Request) -> Response:
        document = await json_document(request, ("lesions", "ci", "population"))
        if "lesions" not in document:
            raise LesionInputError(inputs.REQUEST, 'no \'lesions\' key; send {"lesions": [{"lesion_id": ...}, ...]}')
        ci = inputs.json_float(document["ci"], "ci", 0.0, 1.0) if "ci" in document else service.ci
        cells = inputs.lesion_cells(document["lesions"])
        population = document.get("population")
        return JSONResponse(await run_in_threadpool(service.predict, cells, ci, population))

    @handled
    async def api_case(request: Request) -> Response:
        document = await json_document(request, ("lesion", "population"))
        lesion = document.get("lesion", {})
        if isinstance(lesion, dict) and lesion.get("lesion_id") in (None, ""):
            lesion = {**lesion, "lesion_id": "case"}
        population = document.get("population")
        cells = inputs.lesion_cells([lesion], key="lesion")
        return JSONResponse(await run_in_threadpool(service.case, cells, population))

    @handled
    async def api_batch(request: Request) -> Response:
        require_type(request, BATCH_TYPES)
        output = request.query_params.get("output", "csv")
        if output not in OUTPUTS:
            raise LesionInputError(inputs.REQUEST, "unknown output format", value=output, allowed=", ".join(OUTPUTS))
        ci = service.ci
        if "ci" in request.query_params:
            try:
                ci = float(request.query_params["ci"])
            except ValueError:
                ci = -1.0
            ci = inputs.json_float(ci, "ci", 0.0, 1.0)
        display = display_name(request.query_params.get("name"))
        folder = Path(tempfile.mkdtemp(prefix="microcalc-web-"))
        try:
            upload = await receive_upload(request, folder)
            population = request.query_params.get("population")
            service.site(population)  # refuse an unknown population before any work
            out, n, notes = await run_in_threadpool(service.batch, upload, display, output, ci, population)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        import json

        headers = {
            "x-microcalc-lesions": str(n),
            "x-microcalc-warnings": json.dumps(notes[:MAX_WARNINGS], ensure_ascii=True),
        }
        return FileResponse(
            out,
            media_type=OUTPUTS[output][1],
            filename=download_name(display, output),
            headers=headers,
            background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
        )

    return [
        Route("/", index, methods=["GET"]),
        Route("/api/health", health, methods=["GET"]),
        Route("/api/predict", api_predict, methods=["POST"]),
        Route("/api/case", api_case, methods=["POST"]),
        Route("/api/batch", api_batch, methods=["POST"]),
    ]


async def receive_upload(request: Request, folder: Path) -> Path:
    """Stream the request body into a file in ``folder`` named by its content (Parquet magic bytes or CSV)."""
    partial = folder / "upload.part"
    first = b""
    with partial.open("wb") as sink:
        async for chunk in request.stream():
            if len(first) < 4:
                first += chunk[: 4 - len(first)]
            sink.write(chunk)
    return partial.rename(folder / ("upload.parquet" if first == b"PAR1" else "upload.csv"))


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return JSONResponse({"error": exc.detail}, exc.status_code, headers=getattr(exc, "headers", None))


async def _server_error(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {
            "error": "internal error: the server could not answer this request "
            f"({type(exc).__name__}); see the server's terminal"
        },
        500,
    )


def create_app(
    fit,
    fit_path: str | Path,
    *,
    ci: float = DEFAULT_CI,
    max_json_bytes: int = MAX_JSON_BYTES,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    allowed_hosts: list[str] | None = None,
) -> Starlette:
    """The ASGI application serving ``fit`` (a :class:`microcalc.modelling.fitting.Fit`; ``fit_path`` is its file).

    ``allowed_hosts`` (Host header names) guards against DNS rebinding when serving on a loopback
    address; None accepts any host.
    """
    from microcalc.web.page import render_page

    model = Model.from_fit(fit)
    service = Service(model, Path(fit_path), ci, fit.convergence)
    page = render_page(fit, model, ci, max_upload_bytes)
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(BodyLimit, limit_for=lambda path: max_upload_bytes if path == "/api/batch" else max_json_bytes),
    ]
    if allowed_hosts is not None:
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    app = Starlette(
        routes=routes(service, page),
        middleware=middleware,
        # starlette types every handler as taking Exception; _http_error is registered for HTTPException only
        exception_handlers={HTTPException: _http_error, Exception: _server_error},  # type: ignore[dict-item]
    )
    app.state.service = service
    return app
