"""The Open Inference Protocol (v2) for predictions: what KServe, Triton and MLServer
clients speak (``tritonclient.http``, ``kserve``'s v2 client).

Thin handlers over ``Engine.predict``; tensors are read and written by
``service.wire.oip`` (JSON and Triton's binary-tensor extension). Errors read
``{"error": "..."}`` as the protocol asks (``service.api.app``), invalid inputs with 400.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from service.api.routes.auth import require_role
from service.api.routes.deps import RegistryDep, ServingDep
from service.models.registry import LoadedModel, ModelRegistry
from service.wire import oip

router = APIRouter(prefix="/v2", tags=["open inference protocol"])
_app = [Depends(require_role("app", "reviewer"))]

_OIP_ERROR = {
    "description": 'An error in the protocol\'s shape: `{"error": "..."}`',
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"error": {"type": "string"}}}
        }
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {code: _OIP_ERROR for code in (400, 401, 403, 404)}
_INFER_BODY = {
    "requestBody": {
        "required": True,
        "description": "An inference request: one input per card feature, named after it, "
        'shape `[N]`; e.g. `{"inputs": [{"name": "age", "datatype": "FP64", "shape": [1], '
        '"data": [42]}, ...]}`. Triton\'s binary-tensor extension is accepted '
        "(`Inference-Header-Content-Length`).",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _model(registry: ModelRegistry, name: str, version: str | None) -> LoadedModel:
    """``version`` of the model (None: its default); 404 naming an unknown one."""
    return registry.get(name, version)


@router.get("", operation_id="oip_server_metadata")
def server_metadata() -> dict[str, Any]:
    """The server's name, version and protocol extensions."""
    from service.engine import library_versions

    return {
        "name": "clarion",
        "version": library_versions()["clarion"],
        "extensions": ["binary_tensor_data"],
    }


@router.get("/health/live", operation_id="oip_live")
def live() -> dict[str, bool]:
    """The process is up."""
    return {"live": True}


@router.get("/health/ready", operation_id="oip_ready", responses={503: _OIP_ERROR})
def ready(registry: RegistryDep) -> JSONResponse:
    """Ready when at least one model is served."""
    ok = len(registry) > 0
    return JSONResponse({"ready": ok}, status_code=200 if ok else 503)


@router.get(
    "/models/{name}", operation_id="oip_model_metadata", dependencies=_app, responses=_ERRORS
)
@router.get(
    "/models/{name}/versions/{version}",
    operation_id="oip_model_version_metadata",
    dependencies=_app,
    responses=_ERRORS,
)
def model_metadata(name: str, registry: RegistryDep, version: str | None = None) -> dict[str, Any]:
    """The model's inputs (one per card feature) and outputs, of the default version (or
    the one in the path); `versions` lists every served version, newest first."""
    card = _model(registry, name, version).bundle.card
    return oip.model_metadata(card, [m.version for m in registry.versions(name)])


@router.get(
    "/models/{name}/ready", operation_id="oip_model_ready", dependencies=_app, responses=_ERRORS
)
@router.get(
    "/models/{name}/versions/{version}/ready",
    operation_id="oip_model_version_ready",
    dependencies=_app,
    responses=_ERRORS,
)
def model_ready(name: str, registry: RegistryDep, version: str | None = None) -> dict[str, Any]:
    """Loaded models are ready; unknown ones are 404."""
    card = _model(registry, name, version).bundle.card
    return {"name": card.name, "ready": True}


@router.post(
    "/models/{name}/infer",
    operation_id="oip_infer",
    dependencies=_app,
    responses=_ERRORS,
    openapi_extra=_INFER_BODY,
)
@router.post(
    "/models/{name}/versions/{version}/infer",
    operation_id="oip_version_infer",
    dependencies=_app,
    responses=_ERRORS,
    openapi_extra=_INFER_BODY,
)
async def infer(
    name: str,
    request: Request,
    serving: ServingDep,
    version: str | None = None,
) -> Response:
    """Score the inputs: `label` and `probabilities` for classifiers, `value` for
    regressors; the same predictions as `POST /v1/models/{name}/predict`, by the model's
    default version or the one in the path (`model_version` in the response says which)."""
    engine = serving.engine
    model = _model(engine.registry, name, version)
    card = model.bundle.card
    header = request.headers.get("inference-header-content-length")
    parsed = oip.parse_infer_request(await request.body(), header)
    rows = oip.instances(card, parsed)
    result = await serving.pool.run(engine.predict, name, rows, model.version)
    body, head = oip.infer_response(card, result.model.version, parsed, result.predictions)
    if head is None:
        return Response(body, media_type="application/json")
    headers = {"Inference-Header-Content-Length": str(head)}
    return Response(body, media_type="application/octet-stream", headers=headers)
