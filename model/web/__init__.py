"""The calculator web application: ``microcalc serve [FIT.nc]``.

A local page where a radiologist enters a case and sees the posterior probability of malignancy,
its credible interval, P(risk > 2%), a picture of the posterior, the published range of the main
finding, how much each entered finding moved the answer and which inputs rest on priors alone; a
batch upload of lesion files; and a JSON API whose numbers equal ``microcalc predict``'s.

Modules: :mod:`~microcalc.web.app` (the Starlette application), :mod:`~microcalc.web.routes` (its
routes), :mod:`~microcalc.web.service` (the work behind them), :mod:`~microcalc.web.inputs` (JSON to the
CLI's validation), :mod:`~microcalc.web.case` (one case's answer), :mod:`~microcalc.web.plot`
(inline SVG), :mod:`~microcalc.web.page` (the HTML page), :mod:`~microcalc.web.limits` (body size
limit and headers), :mod:`~microcalc.web.cache` (the cached fit of the bundled data) and
:mod:`~microcalc.web.server` (the command). Research software, not a diagnostic device.
"""

from __future__ import annotations

__all__ = ["create_app", "serve"]


def __getattr__(name: str):
    if name == "create_app":
        from microcalc.web.app import create_app

        return create_app
    if name == "serve":
        from microcalc.web.server import serve

        return serve
    raise AttributeError(f"module 'microcalc.web' has no attribute {name!r}")
