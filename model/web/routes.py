"""The calculator's HTTP routes: the page, the JSON API and batch files, bound to one service.

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

Here the requests are read and checked (media types, JSON keys, upload names) and the answers of
the :class:`~microcalc.web.service.Service` sent back; the computations are the service's.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from microcalc import DISCLAIMER
from microcalc.io.errors import LesionInputError
from microcalc.web import inputs
from microcalc.web.service import OUTPUTS, Service

JSON_TYPES = ("application/json",)
# A cross-site page can POST only text/plain, form or multipart bodies without asking first, so
# requiring these types keeps other web sites from using the server through the user's browser.
BATCH_TYPES = ("application/octet-stream", "text/csv", "application/vnd.apache.parquet", "application/x-parquet")
MAX_WARNINGS = 20


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
