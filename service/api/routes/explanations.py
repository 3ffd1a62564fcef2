"""Explanations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from service.api.routes.auth import AppCaller
from service.api.routes.deps import EngineDep, RequestIdDep
from service.api.routes.errors import errors
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
    responses={**_HTML, **errors(401, 403, 404, 413, 422, 503)},
)
def explain(
    name: str, body: ExplainRequest, engine: EngineDep, caller: AppCaller, request_id: RequestIdDep
) -> ExplainResponse | HTMLResponse:
    """Predict and explain instances with a SHAP method or LIME, seeded and reproducible.

    Every explanation is recorded in the audit store before it is returned; `id` is the
    record's id (`GET /v1/explanations/{id}`). If the record cannot be written: 503.
    With `format: html` the same explanation comes back as a self-contained HTML page
    (`widget` picks the variant, `theme` the colours), under a Content-Security-Policy
    that lets it load nothing.
    """
    origin = Origin(caller=caller.key_id, channel="api", request_id=request_id)
    result = engine.explain(name, body.instances, mapping.explain_spec(body), origin=origin)
    if result.page is not None:  # format: html, rendered once; the record keeps its hash
        return HTMLResponse(
            result.page,
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )
    return mapping.explain_response(result)
