"""Predictions."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from service.api.routes.auth import require_role
from service.api.routes.deps import Serving, ServingDep
from service.api.routes.errors import errors
from service.wire import mapping
from service.wire.schemas import PredictRequest, PredictResponse

router = APIRouter(
    prefix="/v1/models",
    tags=["predictions"],
    dependencies=[Depends(require_role("app"))],
    responses=errors(401, 403),
)


@router.post(
    "/{name}/predict",
    operation_id="predict",
    response_model=PredictResponse,
    responses=errors(404, 413, 422, 502, 503),
)
async def predict(name: str, body: PredictRequest, serving: ServingDep) -> Response:
    """Score instances: label and class probabilities, or a value for regressors, with the
    model's default version or `version`; `model` in the response says which answered."""
    return await answer(name, body, serving)


async def answer(name: str, body: PredictRequest, serving: Serving) -> Response:
    """What ``predict`` answers, once its request is read and its caller admitted (by
    FastAPI, or by ``service.api.hot``): the response as FastAPI would serialise it."""
    result = await serving.pool.run(serving.engine.predict, name, body.instances, body.version)
    return JSONResponse(mapping.predict_response(result).model_dump(mode="json", by_alias=True))
