"""``POST /v1/models/{name}/explain`` served without FastAPI's per-request machinery.

Product backends call this route on the path of their own users' requests. For each
request FastAPI matches the path against the routes one after another and solves the
route's dependencies anew (the body, the caller's key through the security scheme, the
serving objects). Called in process as an ASGI app, without sockets, that was about
200 us of the event loop's 520-740 us per one-row explanation, on the critical path of
every call (``bench/hot_path.py`` measures the whole request).

``HotExplain`` is a Starlette route placed first in the router. For a body FastAPI would
read as JSON it does what the route's signature asks, with the same parts and in the same
order: the caller's key through the route's security scheme (``auth.bearer``) and its
role through ``auth.admit`` (the same limits and errors), then the body validated as
``ExplainRequest`` (422 naming the field as FastAPI names it), then the route's own
``explanations.answer``. Any other request (another content type, no body, a body that
is not a JSON object or that orjson refuses, such as a bare NaN) it hands unread to the
FastAPI route, which answers it as it always has. That route stays registered and
documents the endpoint in OpenAPI.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Message, Receive, Scope, Send

from service.api.routes import explanations
from service.api.routes.auth import admit, allowed_roles, bearer
from service.api.routes.deps import Serving
from service.wire.schemas import ExplainRequest

__all__ = ["HotExplain", "install"]

_HANDED_ON = "clarion.hot.handed_on"  # scope key: this request goes to the FastAPI route
_ALLOWED = allowed_roles("app")  # as the FastAPI route's ``AppCaller``


def install(app: FastAPI) -> None:
    """Serve the explain route through ``HotExplain``, ahead of every other route."""
    app.router.routes.insert(0, HotExplain())


class HotExplain(Route):
    """The explain route for JSON bodies; everything else goes on to the FastAPI route.

    Its ``path`` is the FastAPI route's template, which the metrics and the tracing
    spans name the request by."""

    def __init__(self) -> None:
        # The endpoint is the FastAPI route's function, for introspection only: ``handle``
        # below answers, and never calls it directly.
        super().__init__(
            "/v1/models/{name}/explain",
            explanations.explain,
            methods=["POST"],
            include_in_schema=False,
        )

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
        raw = await request.body()
        try:
            data = orjson.loads(raw)  # stricter than FastAPI's json: what it refuses goes on
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            await _hand_on(scope, _replay(raw, receive), send)
            return
        response = await _answer(request, data)
        await response(scope, receive, send)


async def _answer(request: Request, data: dict[str, Any]) -> Response:
    caller = await admit(request, await bearer(request), _ALLOWED)
    try:
        body = ExplainRequest.model_validate(data)
    except ValidationError as exc:  # worded as FastAPI words a body's errors
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors, body=data) from None
    state = request.app.state
    serving = Serving(engine=state.engine, pool=state.pool)
    return await explanations.answer(request, request.path_params["name"], body, serving, caller)


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
