"""Explanations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from service.routes.deps import EngineDep
from service.routes.errors import errors
from service.schemas import ExplainRequest, ExplainResponse
from widgets import CONTENT_SECURITY_POLICY, render_page

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
    responses={**_HTML, **errors(404, 413, 422)},
)
def explain(name: str, body: ExplainRequest, engine: EngineDep) -> ExplainResponse | HTMLResponse:
    """Predict and explain instances with a SHAP method or LIME, seeded and reproducible.

    With `format: html` the same explanation comes back as a self-contained HTML page
    (`widget` picks the variant, `theme` the colours), under a Content-Security-Policy
    that lets it load nothing.
    """
    response = engine.explain(name, body)
    if body.format == "html":
        page = render_page(response.explanations, variant=body.widget, theme=body.theme)
        return HTMLResponse(
            page,
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )
    return response
