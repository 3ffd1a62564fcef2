"""Prometheus metrics (``service.api.metrics``); no key, like the health checks."""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.metrics import Metrics
from service.api.routes.deps import RegistryDep

router = APIRouter(tags=["health"])

_TEXT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus's text exposition format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


@router.get("/metrics", operation_id="metrics", response_class=Response, responses=_TEXT)
def metrics(request: Request, registry: RegistryDep) -> Response:
    """Request, explanation, audit-write and quality-gate counters and latencies, and the
    models served; summed over every worker process."""
    found = cast(Metrics, request.app.state.metrics)
    found.models_loaded.set(len(registry))
    body, content_type = found.exposition()
    return Response(body, media_type=content_type)
