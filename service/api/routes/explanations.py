"""Explanations."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from service.api.responses import JSONBytes, server_timing
from service.api.routes.auth import AppCaller
from service.api.routes.deps import Serving, ServingDep, request_id
from service.api.routes.errors import errors
from service.auth import Principal
from service.html.widget import CONTENT_SECURITY_POLICY
from service.results import Origin
from service.wire import mapping
from service.wire.schemas import ExplainRequest, ExplainResponse

router = APIRouter(prefix="/v1/models", tags=["explanations"])

_HTML: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The explanation: JSON, or with `format: html` a self-contained page.",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
}


@router.post(
    "/{name}/explain",
    operation_id="explain",
    response_model=ExplainResponse,
    responses={**_HTML, **errors(401, 403, 404, 413, 422, 502, 503)},
)
async def explain(
    name: str,
    body: ExplainRequest,
    serving: ServingDep,
    caller: AppCaller,
    request: Request,
) -> Response:
    """Predict and explain instances with a SHAP method or LIME, seeded and reproducible.

    Every explanation is recorded in the audit store before it is returned; `id` is the
    record's id (`GET /v1/explanations/{id}`). If the record cannot be written: 503.
    With `format: html` the same explanation comes back as a self-contained HTML page
    (`widget` picks the variant, `theme` the colours), under a Content-Security-Policy
    that lets it load nothing. `timing` and the `Server-Timing` header say where the
    server's time went (validate, compute, people, audit, total, in ms).
    """
    return await answer(request, name, body, serving, caller)


async def answer(
    request: Request, name: str, body: ExplainRequest, serving: Serving, caller: Principal
) -> Response:
    """What ``explain`` answers, once its request is read and its caller admitted (by
    FastAPI, or by ``service.api.hot``, which serves this route without FastAPI's
    per-request machinery)."""
    origin = Origin(caller=caller.key_id, channel="api", request_id=request_id(request))
    spec = mapping.explain_spec(body)
    result = await serving.coalescer.explain(name, body.instances, spec, origin)
    timing = _whole_request(result.timing, request)
    headers = {"Server-Timing": server_timing(timing)}
    if result.page is not None:  # format: html, rendered once; the record keeps its hash
        headers |= {
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "X-Clarion-Record-Id": result.id,  # the page has no JSON to carry its record id
        }
        return HTMLResponse(result.page, headers=headers)
    return JSONBytes({**mapping.explain_json(result), "timing": timing}, headers=headers)


def _whole_request(timing: Mapping[str, float], request: Request) -> dict[str, float]:
    """The engine's timings, with ``total_ms`` from the request's arrival (middleware)."""
    started = request.scope.get("state", {}).get("started")
    out = dict(timing)
    if isinstance(started, float):
        out["total_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return out
