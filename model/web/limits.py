"""ASGI guards around the app: a request-body size limit and the response headers every answer carries.

The size limit is enforced in the ASGI layer, on the bytes actually received, so a chunked body
without Content-Length is cut off as soon as it passes the limit (a declared Content-Length over
the limit is refused before any byte is read). The endpoint reading the body gets an HTTP 413,
which Starlette's exception middleware turns into the app's JSON error response.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_JSON_BYTES = 4 * 2**20  # ~25,000 lesions of JSON; larger sets go through /api/batch
MAX_UPLOAD_BYTES = 256 * 2**20  # a lesion file of ~2 million rows (written to a temporary file, not held)

# No external resources: scripts, styles and images are inline or data: URIs; fetch only this server.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        b"img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        b"frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)


class BodyTooLarge(HTTPException):
    """A request body past the limit (HTTP 413)."""

    def __init__(self, limit: int):
        super().__init__(413, f"request: the body is larger than the limit of {size_text(limit)}")


def size_text(n: int) -> str:
    """Bytes as a short size: '512 bytes', '64 KiB', '5 MiB'."""
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} bytes"


def declared_length(scope: Scope) -> int | None:
    """The Content-Length header as a number (None if absent); -1 if it is not a valid number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else -1  # "²".isdigit() is True
    return None


class BodyLimit:
    """Refuse request bodies over ``limit_for(path)`` bytes with 413, counting what is received."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, answering 413 instead once its body is over the limit.

        A declared Content-Length over the limit is refused before reading (400 if it is not a number);
        otherwise the bytes received are counted, as a client may send more than it declared.
        """
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = declared_length(scope)
        if declared == -1:
            await JSONResponse({"error": "request: the Content-Length header is not a number"}, 400)(
                scope, receive, send
            )
            return
        if declared is not None and declared > limit:
            await JSONResponse({"error": BodyTooLarge(limit).detail}, 413)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)


class SecurityHeaders:
    """Add :data:`SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, adding each security header the response does not set itself."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
