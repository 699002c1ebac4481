"""``microcalc serve``: load (or fit once and cache) a fit, print its diagnostics, serve the calculator.

Listens on 127.0.0.1 unless told otherwise. There is no authentication, so any other address is
served with a loud warning; on a loopback address the Host header must name a loopback host, which
keeps a web page in the user's browser from reaching the server through DNS rebinding.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path

from microcalc import DISCLAIMER

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    """True for 'localhost' and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "[::1]"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str) -> list[str] | None:
    """Host header names accepted: loopback names on a loopback address, any name otherwise."""
    return [*dict.fromkeys([host, *LOOPBACK_NAMES])] if is_loopback(host) else None


def open_fit(fit_path: Path | None, say: Callable[[str], None]):
    """The fit to serve and its file: the given one, or the cached fit of the bundled data."""
    import microcalc
    from microcalc.web.cache import cached_bundled_fit

    if fit_path is not None:
        return microcalc.load(fit_path), Path(fit_path)
    return cached_bundled_fit(say=say)


def convergence_lines(fit) -> tuple[str, list[str]]:
    """The diagnostics line, and the warning lines to print when the fit did not converge."""
    conv = fit.convergence
    text = f"Diagnostics: {conv.text()}"
    if conv.ok:
        return text, []
    bar = "!" * 78
    return text, [
        bar,
        "WARNING: THIS FIT DID NOT CONVERGE: " + "; ".join(conv.problems()) + ".",
        "Do not use its numbers. Refit with more --draws/--tune (microcalc fit) and serve that file.",
        bar,
    ]


def serve(
    fit_path: Path | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    say: Callable[[str], None] = print,
    warn: Callable[[str], None] = print,
) -> int:
    """Run the calculator until interrupted; returns the exit status."""
    import uvicorn

    from microcalc.web.app import create_app

    fit, path = open_fit(fit_path, say)
    text, problems = convergence_lines(fit)
    say(text)
    for line in problems:
        warn(line)
    for note in getattr(fit, "notes", list)():
        say(f"Note: {note}")
    if not is_loopback(host):
        warn(
            f"WARNING: serving on {host}, not on this computer alone: there is NO AUTHENTICATION, so anyone who "
            "can reach this address can use the calculator and upload files. Use --host 127.0.0.1 unless you mean it."
        )
    app = create_app(fit, path, allowed_hosts=allowed_hosts(host))
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    say(f"microcalc calculator at http://{shown}:{port}/ (fit {path}); press Ctrl+C to stop.")
    say(DISCLAIMER)
    config = uvicorn.Config(
        app, host=host.strip("[]"), port=port, log_level="warning", access_log=False, server_header=False
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        warn(
            f"microcalc: error: could not listen on {shown}:{port} (see above); if another program uses the port, "
            "choose another with --port"
        )
        return 1
    return 0
