"""Models: list, describe, upload."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, UploadFile, status

from service.api.routes.auth import require_role
from service.api.routes.deps import RegistryDep, SettingsDep
from service.api.routes.errors import errors
from service.errors import BundleRejected, PayloadTooLarge
from service.explain.explainers import availability
from service.models.bundle import parse_bundle
from service.models.instances import decode_row
from service.models.registry import LoadedModel
from service.wire.schemas import ModelDetail, ModelList, ModelSummary, SampleList

router = APIRouter(
    prefix="/v1/models",
    tags=["models"],
    dependencies=[Depends(require_role("app", "reviewer"))],
    responses=errors(401, 403),
)


def _summary(model: LoadedModel) -> ModelSummary:
    card = model.bundle.card
    return ModelSummary(
        name=card.name,
        version=card.version,
        task=card.task,
        domain=card.domain,
        sha256=model.bundle.model_sha256,
        n_features=len(card.features),
    )


def _detail(model: LoadedModel) -> ModelDetail:
    card = model.bundle.card
    return ModelDetail(
        **_summary(model).model_dump(),
        card=card.model_dump(mode="json"),
        features=[f.model_dump(mode="json") for f in card.features],
        players=[p.name for p in card.players],
        classes=list(card.classes) if card.classes else None,
        positive_class=card.positive_class,
        explainers=availability(model.capabilities()),
        providers=list(model.runtime.providers_in_use),
        background_sha256=model.bundle.background_sha256,
        background_rows=int(model.bundle.background.shape[0]),
    )


@router.get("", operation_id="list_models")
def list_models(registry: RegistryDep) -> ModelList:
    """Every served model with its version and the SHA-256 of its ONNX file."""
    return ModelList(models=[_summary(m) for m in registry])


@router.get("/{name}", operation_id="get_model", responses=errors(404))
def get_model(name: str, registry: RegistryDep) -> ModelDetail:
    """The card, features, classes, available explainers and the provider in use."""
    return _detail(registry.get(name))


@router.get("/{name}/samples", operation_id="get_model_samples", responses=errors(404))
def get_samples(
    name: str,
    registry: RegistryDep,
    limit: Annotated[int, Query(ge=1, le=100, description="How many cases.")] = 5,
) -> SampleList:
    """Example cases from the model's background, as instances ready to send to explain."""
    model = registry.get(name)
    rows = model.bundle.background[:limit]
    return SampleList(instances=[decode_row(model.bundle.card, x) for x in rows])


async def _read(upload: UploadFile, field: str, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            f"the uploaded {field} is over the limit of {limit} bytes",
            details={"field": field, "problem": f"larger than {limit} bytes"},
        )
    return data


@router.post(
    "",
    operation_id="upload_model",
    status_code=status.HTTP_201_CREATED,
    responses=errors(409, 413, 422),
    dependencies=[Depends(require_role())],
)
async def upload_model(
    model: Annotated[UploadFile, File(description="The ONNX graph (model.onnx).")],
    card: Annotated[UploadFile, File(description="The model card, YAML or JSON.")],
    background: Annotated[UploadFile, File(description="CSV with a header of feature names.")],
    registry: RegistryDep,
    settings: SettingsDep,
) -> ModelDetail:
    """Upload a bundle; it is validated like the bundles loaded at start-up."""
    limit = settings.max_upload_bytes
    parts = [
        await _read(u, f, n)
        for u, f, n in (
            (model, "model", limit),
            (card, "card", settings.max_card_bytes),
            (background, "background", limit),
        )
    ]
    if not parts[0]:
        raise BundleRejected(
            "the model file is empty", details={"field": "model", "problem": "empty"}
        )

    def load() -> LoadedModel:
        # YAML, the ONNX checker, the CSV and the sandboxed model check all take time:
        # never on the event loop (issue 12, item 7).
        return registry.add(parse_bundle(parts[0], parts[1], parts[2], registry.limits))

    import anyio.to_thread

    loaded = await anyio.to_thread.run_sync(load)
    return _detail(loaded)
