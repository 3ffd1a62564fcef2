"""KServe's v1 data plane: ``POST /v1/models/{name}:predict`` and ``:explain``.

Thin handlers over the engine. An explanation is recorded in the audit trail like any
other (channel ``kserve``). Errors read ``{"error": "..."}`` as KServe's do
(``service.api.app``), invalid inputs with 400.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from service.api.responses import JSONBytes
from service.api.routes.auth import AppCaller
from service.api.routes.deps import ServingDep, request_id
from service.results import ExplainSpec, Origin
from service.wire import kserve
from service.wire.kserve import KServeExplainResponse, KServePredictResponse, KServeRequest

router = APIRouter(prefix="/v1/models", tags=["kserve"])

_ERROR = {
    "description": 'An error in KServe\'s shape: `{"error": "..."}`',
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"error": {"type": "string"}}}
        }
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {c: _ERROR for c in (400, 401, 403, 404, 503)}


@router.post("/{name}:predict", operation_id="kserve_predict", responses=_ERRORS)
async def predict(
    name: str, body: KServeRequest, serving: ServingDep, caller: AppCaller
) -> KServePredictResponse:
    """Score instances: a label per row for classifiers, a value for regressors."""
    result = await serving.pool.run(serving.engine.predict, name, body.instances)
    return KServePredictResponse(predictions=kserve.predictions(result.predictions))


@router.post(
    "/{name}:explain",
    operation_id="kserve_explain",
    response_model=KServeExplainResponse,
    responses=_ERRORS,
)
async def explain(
    name: str,
    body: KServeRequest,
    serving: ServingDep,
    caller: AppCaller,
    request: Request,
) -> JSONBytes:
    """Explain instances with the model's default method and output space, recorded in
    the audit trail; the same attributions as `POST /v1/models/{name}/explain`."""
    origin = Origin(caller=caller.key_id, channel="kserve", request_id=request_id(request))
    engine, spec = serving.engine, ExplainSpec()
    result = await serving.pool.run(engine.explain, name, body.instances, spec, origin=origin)
    return JSONBytes(kserve.explain_json(result))
