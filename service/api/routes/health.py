"""Liveness and readiness."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.api.routes.deps import AuditDep, LimiterDep, RegistryDep
from service.explain.explainers import all_warm

router = APIRouter(tags=["health"])

_STORE_TIMEOUT_S = 1.0


def _methods(warming: threading.Thread | None) -> str:
    if warming is not None and warming.is_alive():
        return "warming"
    return "warm" if all_warm() else "on first use"


@router.get("/health/live", operation_id="health_live")
def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/health/ready",
    operation_id="health_ready",
    responses={503: {"description": "No model served, or the audit store takes no writes"}},
)
def ready(
    request: Request, registry: RegistryDep, audit: AuditDep, limiter: LimiterDep
) -> JSONResponse:
    """Ready when at least one model is served and the audit store takes writes (every
    explanation is recorded first), and the rate-limit store answers where it is Redis;
    lists refused bundles. ``methods`` says whether the explainers have finished warming
    up (imports, compiled kernels; a few seconds after start-up): ``warm``, ``warming``,
    or ``on first use`` (``CLARION_WARM_METHODS=false``). A method's first request waits
    for its own warm-up, so the service is ready either way.

    The store check is a no-op write, rolled back, that waits at most a second for a lock.
    """
    problem = audit.store.check_writable(_STORE_TIMEOUT_S)
    limits_ok = limiter.healthy()
    ok = len(registry) > 0 and problem is None and limits_ok
    body = {
        "status": "ready" if ok else "not_ready",
        "models": len(registry),
        "refused": registry.refused,
        "audit_store": "ok" if problem is None else f"not writable ({problem})",
        "rate_limit_store": "ok" if limits_ok else "unreachable",
        "methods": _methods(request.app.state.warming),
    }
    return JSONResponse(body, status_code=200 if ok else 503)
