"""``POST /v1/models/{name}/explain`` and ``.../predict`` served without FastAPI's
per-request machinery.

Product backends call these routes on the path of their own users' requests. For each
request FastAPI matches the path against the routes one after another and solves the
route's dependencies anew (the body, the caller's key through the security scheme, the
serving objects). Called in process as an ASGI app, without sockets, that was about
200 us of the event loop's 520-740 us per one-row explanation, on the critical path of
every call (``bench/hot_path.py`` measures the whole request).

A ``HotRoute`` is a Starlette route placed first in the router. For a body FastAPI would
read as JSON it does what the FastAPI route's signature asks, with the same parts and in
the same order: the caller's key through the routes' security scheme (``auth.bearer``)
and its role through ``auth.admit`` (the same limits and errors), then the body validated
as the route's request model (422 naming the field as FastAPI names it), then the
route's own ``answer``. Any other request (another content type, no body, a body that is
not a JSON object or that orjson refuses, such as a bare NaN) it hands to the FastAPI
route, which answers it as it always has. That route stays registered and documents the
endpoint in OpenAPI.

The key is checked before the body is read, and what the check found is said after it,
in FastAPI's order (a body that is not JSON is a 422 before a missing key is a 401).
Clients send the body after the headers, often in a segment of its own: reading it
waited a turn of the event loop for 96% of one-row explanations, 106-118 us at the median
in a server at 1 client, and the key's check (some 50 us there) now runs in that wait.
A request handed on carries what the check found (``auth.AUTHENTICATED``), so it is
authenticated, and counted against the rate limits, once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Message, Receive, Scope, Send

from service.api.routes import explanations, predictions
from service.api.routes.auth import AUTHENTICATED, admit, allowed_roles, authenticate, bearer
from service.api.routes.deps import Serving
from service.auth import Principal
from service.errors import ClarionError
from service.wire.schemas import ExplainRequest, PredictRequest

__all__ = ["HotRoute", "install"]

_HANDED_ON = "clarion.hot.handed_on"  # scope key: this request goes to the FastAPI route
_APP = allowed_roles("app")  # as the FastAPI routes' ``AppCaller`` and ``require_role("app")``

M = TypeVar("M", bound=BaseModel)
Answer = Callable[[Request, M, Serving, Principal], Awaitable[Response]]


def install(app: FastAPI) -> None:
    """Serve explain and predict through ``HotRoute``, ahead of every other route."""
    app.router.routes[:0] = [
        HotRoute("/v1/models/{name}/explain", explanations.explain, ExplainRequest, _explain),
        HotRoute("/v1/models/{name}/predict", predictions.predict, PredictRequest, _predict),
    ]


async def _explain(
    request: Request, body: ExplainRequest, serving: Serving, caller: Principal
) -> Response:
    return await explanations.answer(request, request.path_params["name"], body, serving, caller)


async def _predict(
    request: Request, body: PredictRequest, serving: Serving, caller: Principal
) -> Response:
    return await predictions.answer(request.path_params["name"], body, serving)


class HotRoute(Route, Generic[M]):
    """A POST route for JSON bodies; everything else goes on to the FastAPI route.

    Its ``path`` is the FastAPI route's template, which the metrics and the tracing
    spans name the request by."""

    def __init__(
        self, path: str, endpoint: Callable[..., Any], model: type[M], answer: Answer[M]
    ) -> None:
        # ``endpoint`` is the FastAPI route's function, for introspection only: ``handle``
        # below answers, and never calls it.
        super().__init__(path, endpoint, methods=["POST"], include_in_schema=False)
        self.model = model
        self.answer = answer

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("method") != "POST" or scope.get(_HANDED_ON):
            return Match.NONE, {}  # other methods get the FastAPI route's own answers (405)
        match, child = super().matches(scope)
        if match is Match.FULL:
            child["route"] = self  # read by the metrics middleware (``route.path``)
        return match, child

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if not _is_json(request.headers.get("content-type", "")):
            await _hand_on(scope, receive, send)
            return
        try:  # while the body arrives; said after it is read (``auth.admit``)
            scope[AUTHENTICATED] = await authenticate(request, await bearer(request))
        except ClarionError as exc:
            scope[AUTHENTICATED] = exc
        raw = await request.body()
        try:
            data = orjson.loads(raw)  # stricter than FastAPI's json: what it refuses goes on
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            await _hand_on(scope, _replay(raw, receive), send)
            return
        response = await self._answer(request, data)
        await response(scope, receive, send)

    async def _answer(self, request: Request, data: dict[str, Any]) -> Response:
        caller = await admit(request, None, _APP)  # the key was checked in ``handle``
        try:
            body = self.model.model_validate(data)
        except ValidationError as exc:  # worded as FastAPI words a body's errors
            errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
            raise RequestValidationError(errors, body=data) from None
        state = request.app.state
        return await self.answer(
            request, body, Serving(state.engine, state.pool, state.coalescer), caller
        )


def _is_json(content_type: str) -> bool:
    """A content type FastAPI reads a body as JSON under (``application/json``, ``+json``)."""
    kind = content_type.partition(";")[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


async def _hand_on(scope: Scope, receive: Receive, send: Send) -> None:
    """Route the request again, past this route: the FastAPI route answers it."""
    scope[_HANDED_ON] = True
    await scope["router"](scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for a body already read: the body once, then the client's own messages
    (a disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
