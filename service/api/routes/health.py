"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.routes.deps import RegistryDep

router = APIRouter(tags=["health"])


@router.get("/health/live", operation_id="health_live")
def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/health/ready",
    operation_id="health_ready",
    responses={503: {"description": "No model could be loaded"}},
)
def ready(registry: RegistryDep) -> JSONResponse:
    """Ready when at least one model is served; lists refused bundles."""
    body = {
        "status": "ready" if len(registry) else "not_ready",
        "models": len(registry),
        "refused": registry.refused,
    }
    return JSONResponse(body, status_code=200 if len(registry) else 503)
