"""ASGI middleware: request ids, body-size and rate limits, security headers.

Each runs before any route reads a byte, so a refused request costs almost nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from collections.abc import Callable

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "BodyLimitMiddleware",
    "CurlFriendlyJsonMiddleware",
    "RateLimitMiddleware",
    "RequestIdMiddleware",
    "SecurityHeadersMiddleware",
    "error_body",
]

REQUEST_ID_HEADER = b"x-request-id"


def error_body(code: str, message: str, request_id: str | None, **extra: object) -> bytes:
    return json.dumps(
        {
            "error": {
                "code": code,
                "message": message,
                "details": [extra] if extra else [],
                "request_id": request_id,
            }
        }
    ).encode()


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
        body = error_body(
            "payload_too_large",
            f"the request body is over the limit of {limit} bytes",
            request_id,
            field="body",
            problem=f"larger than {limit} bytes",
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


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


class RateLimitMiddleware:
    """A token bucket per API key (or per client address without one) on /v1 routes.

    ``per_minute`` requests may arrive at once and refill evenly over a minute;
    beyond that the answer is 429 with ``Retry-After``. The buckets live in this
    process, so with several replicas the limit applies per replica.
    """

    _MAX_BUCKETS = 10_000

    def __init__(self, app: ASGIApp, per_minute: int) -> None:
        self.app = app
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}

    def _key(self, scope: Scope) -> str:
        auth = dict(scope["headers"]).get(b"authorization")
        if auth:
            return "key:" + hashlib.sha256(auth).hexdigest()[:32]
        client = scope.get("client") or ("unknown", 0)
        return f"addr:{client[0]}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        key = self._key(scope)
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            wait = max(1, math.ceil((1.0 - tokens) / self.rate))
            body = error_body(
                "rate_limited",
                f"too many requests: the limit is {int(self.capacity)} per minute "
                "(CLARION_RATE_LIMIT_PER_MINUTE)",
                scope.get("state", {}).get("request_id"),
                field="authorization",
                problem="rate limit exceeded",
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(wait).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if len(self._buckets) >= self._MAX_BUCKETS and key not in self._buckets:
            self._buckets.clear()  # bounded memory; a reset only ever errs towards admitting
        self._buckets[key] = (tokens - 1.0, now)
        await self.app(scope, receive, send)


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
