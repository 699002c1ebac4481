"""The calculator's web application (Starlette, served by uvicorn): the app factory, its middleware and error answers.

:func:`create_app` serves one fit: the routes of :mod:`microcalc.web.routes` (the page, the JSON API
and batch files) bound to a :class:`~microcalc.web.service.Service` (the work behind them), behind
the security headers and body-size limits of :mod:`microcalc.web.limits` and, on a loopback
address, a Host check against DNS rebinding. Errors the routes do not answer themselves become
JSON ``{"error": message}`` answers.

The names of :mod:`~microcalc.web.service` and :mod:`~microcalc.web.routes` are importable from here
too (this module held them all before it was split).
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from microcalc.web.case import Model
from microcalc.web.limits import MAX_JSON_BYTES, MAX_UPLOAD_BYTES, BodyLimit, SecurityHeaders
from microcalc.web.routes import (
    BATCH_TYPES,
    JSON_TYPES,
    MAX_WARNINGS,
    display_name,
    download_name,
    error_response,
    handled,
    json_document,
    media_type,
    receive_upload,
    require_type,
    routes,
)
from microcalc.web.service import (
    DEFAULT_CI,
    MEMO_ENTRIES,
    MEMO_MAX_LESIONS,
    OUTPUTS,
    Memo,
    Service,
    model_input_key,
    renamed,
)

__all__ = [
    "BATCH_TYPES",
    "DEFAULT_CI",
    "JSON_TYPES",
    "MAX_WARNINGS",
    "MEMO_ENTRIES",
    "MEMO_MAX_LESIONS",
    "OUTPUTS",
    "Memo",
    "Service",
    "create_app",
    "display_name",
    "download_name",
    "error_response",
    "handled",
    "json_document",
    "media_type",
    "model_input_key",
    "receive_upload",
    "renamed",
    "require_type",
    "routes",
]


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
