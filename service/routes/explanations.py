"""Explanations."""

from __future__ import annotations

from fastapi import APIRouter

from service.routes.deps import EngineDep
from service.routes.errors import errors
from service.schemas import ExplainRequest, ExplainResponse

router = APIRouter(prefix="/v1/models", tags=["explanations"])


@router.post("/{name}/explain", operation_id="explain", responses=errors(404, 413, 422))
def explain(name: str, body: ExplainRequest, engine: EngineDep) -> ExplainResponse:
    """Predict and explain instances with a SHAP method or LIME, seeded and reproducible."""
    return engine.explain(name, body)
