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
    responses={
        503: {
            "description": "No model served, the audit store takes no writes, or the "
            "methods are still warming up"
        }
    },
)
def ready(
    request: Request, registry: RegistryDep, audit: AuditDep, limiter: LimiterDep
) -> JSONResponse:
    """Ready when at least one model is served and the audit store takes writes (every
    explanation is recorded first), and the rate-limit store answers where it is Redis;
    lists refused bundles; and once the explainers have warmed up (``methods``: ``warm``,
    ``warming``, or ``on first use`` with ``CLARION_WARM_METHODS=false``). Warming takes
    a few seconds after start-up (shap's import, lime's compiled kernels) and holds the
    interpreter for stretches of 100 ms and more, so traffic waits for it: no request
    pays for it, and no health check under load stalls behind it.

    The store check is a no-op write, rolled back, that waits at most a second for a lock.
    """
    problem = audit.store.check_writable(_STORE_TIMEOUT_S)
    limits_ok = limiter.healthy()
    methods = _methods(request.app.state.warming)
    ok = len(registry) > 0 and problem is None and limits_ok and methods != "warming"
    body = {
        "status": "ready" if ok else "not_ready",
        "models": len(registry),
        "refused": registry.refused,
        "audit_store": "ok" if problem is None else f"not writable ({problem})",
        "rate_limit_store": "ok" if limits_ok else "unreachable",
        "methods": methods,
    }
    return JSONResponse(body, status_code=200 if ok else 503)
