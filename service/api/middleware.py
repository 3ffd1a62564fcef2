"""ASGI middleware: request ids, body-size limits, security headers.

Each runs before any route reads a byte, so a refused request costs almost nothing.
A refusal speaks the one error voice: the body and headers come from the error class
(``service.errors``), exactly as the app's handler would render it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import ClarionError, PayloadTooLarge

__all__ = [
    "BodyLimitMiddleware",
    "CurlFriendlyJsonMiddleware",
    "RequestIdMiddleware",
    "SecurityHeadersMiddleware",
    "error_body",
    "send_error",
]

REQUEST_ID_HEADER = b"x-request-id"


def error_body(error: ClarionError, request_id: str | None) -> bytes:
    """``{"error": {"code", "message", "details", "request_id"}}`` as JSON bytes."""
    return json.dumps({"error": {**error.to_dict(), "request_id": request_id}}).encode()


async def send_error(send: Send, error: ClarionError, request_id: str | None) -> None:
    """Answer with ``error``: its status, its headers and its body."""
    body = error_body(error, request_id)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()),
    ]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestIdMiddleware:
    """Give every request an id (or keep the caller's), bind it to logs, echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"").decode("latin-1")
        request_id = (
            given if given and len(given) <= 64 and given.isprintable() else uuid.uuid4().hex
        )
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["started"] = time.perf_counter()  # the request's timing counts from here

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")


class BodyLimitMiddleware:
    """Refuse bodies over the limit with 413, by Content-Length or by counting the stream."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        request_id = scope.get("state", {}).get("request_id")
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._refuse(send, limit, request_id)
            return
        received = 0
        started = False

        async def guarded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException passes through FastAPI's body parsing (which turns
                    # any other error into a 400), and the app's handler renders the 413.
                    raise HTTPException(413, f"the request body is over the limit of {limit} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except HTTPException as exc:
            if started or exc.status_code != 413:
                raise
            await self._refuse(send, limit, request_id)

    @staticmethod
    async def _refuse(send: Send, limit: int, request_id: str | None) -> None:
        error = PayloadTooLarge(
            f"the request body is over the limit of {limit} bytes",
            details={"field": "body", "problem": f"larger than {limit} bytes"},
        )
        await send_error(send, error, request_id)


STRICT_CSP = (
    b"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    b"base-uri 'none'; form-action 'none'"
)
_DOC_PATHS = ("/docs", "/redoc")


class SecurityHeadersMiddleware:
    """``nosniff`` and ``no-referrer`` on every response; a strict CSP on HTML that has none.

    The interactive docs (/docs, /redoc) keep FastAPI's own page, which loads its
    scripts from a CDN, so they get no CSP from here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_docs = scope["path"].startswith(_DOC_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for name, value in (
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ):
                    if name not in names:
                        headers.append((name, value))
                content_type = dict(headers).get(b"content-type", b"")
                html = content_type.startswith(b"text/html")
                if html and not is_docs and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", STRICT_CSP))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CurlFriendlyJsonMiddleware:
    """Read a form-encoded (or untyped) POST body as JSON.

    ``curl -d '{...}'`` labels its body ``application/x-www-form-urlencoded``; no
    Clarion route takes form fields (uploads are multipart), so such a body can
    only be meant as JSON. Without this, the most common first call fails with a
    confusing "not a valid dictionary".
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = list(scope["headers"])
            content_type = dict(headers).get(b"content-type", b"")
            if content_type in (b"", b"application/x-www-form-urlencoded"):
                headers = [(k, v) for k, v in headers if k != b"content-type"]
                headers.append((b"content-type", b"application/json"))
                scope = dict(scope, headers=headers)
        await self.app(scope, receive, send)
