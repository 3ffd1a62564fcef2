"""Models: list, describe, upload; versions: choose the default, delete one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Query, UploadFile, status

from service.api.routes.auth import require_role
from service.api.routes.deps import AuditDep, RegistryDep, SettingsDep
from service.api.routes.errors import described, errors
from service.audit.retention import active_model_hold, version_in_use
from service.errors import BundleRejected, Conflict, PayloadTooLarge
from service.explain.explainers import availability
from service.models.bundle import parse_bundle
from service.models.instances import decode_row
from service.models.registry import LoadedModel, ModelRegistry
from service.models.versions import VERSION_PATTERN
from service.wire.schemas import (
    DefaultVersionRequest,
    ModelDetail,
    ModelList,
    ModelSummary,
    ModelVersion,
    SampleList,
    VersionDeleted,
)

router = APIRouter(
    prefix="/v1/models",
    tags=["models"],
    dependencies=[Depends(require_role("app", "reviewer"))],
    responses=errors(401, 403),
)


def _summary(registry: ModelRegistry, model: LoadedModel) -> ModelSummary:
    card = model.bundle.card
    default = registry.get(card.name)
    return ModelSummary(
        name=card.name,
        version=card.version,
        task=card.task,
        domain=card.domain,
        sha256=model.bundle.model_sha256,
        n_features=len(card.features),
        default_version=default.version,
        default_chosen=registry.default_chosen(card.name),
        versions=[
            ModelVersion(
                version=m.version,
                sha256=m.bundle.model_sha256,
                background_sha256=m.bundle.background_sha256,
                loaded_at=m.loaded_at,
                default=m is default,
            )
            for m in registry.versions(card.name)
        ],
    )


def _detail(registry: ModelRegistry, model: LoadedModel) -> ModelDetail:
    card = model.bundle.card
    return ModelDetail(
        **_summary(registry, model).model_dump(),
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
    """Every served model at its default version, with the SHA-256 of its ONNX file, and
    each model's served versions."""
    return ModelList(models=[_summary(registry, m) for m in registry])


_VERSION = Query(
    pattern=VERSION_PATTERN,
    description="Describe this version (default: the model's default version).",
    examples=["2.0"],
)


@router.get("/{name}", operation_id="get_model", responses=errors(404, 422))
def get_model(
    name: str, registry: RegistryDep, version: Annotated[str | None, _VERSION] = None
) -> ModelDetail:
    """The card, features, classes, available explainers and the provider in use, of the
    default version (or `version`); every served version and which is the default."""
    return _detail(registry, registry.get(name, version))


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
    """Upload a bundle; it is validated like the bundles loaded at start-up.

    A card whose `version` is new for a served name adds that version (the default becomes
    the newest version unless an admin chose one); a version already served is 409.
    """
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
    return _detail(registry, loaded)


@router.put(
    "/{name}/default",
    operation_id="set_default_version",
    responses=errors(404, 422),
    dependencies=[Depends(require_role())],
)
def set_default_version(
    name: str, body: DefaultVersionRequest, registry: RegistryDep
) -> ModelDetail:
    """Choose the version requests without one get (`null`: the newest again). The choice
    is kept in the model's folder and survives a restart."""
    return _detail(registry, registry.set_default(name, body.version))


@router.delete(
    "/{name}/versions/{version}",
    operation_id="delete_model_version",
    responses={
        **errors(404, 422),
        **described(409, "A legal hold covers the model"),
    },
    dependencies=[Depends(require_role())],
)
def delete_version(
    name: str,
    version: Annotated[
        str,
        Path(pattern=VERSION_PATTERN, description="The version to stop serving.", examples=["1.0"]),
    ],
    registry: RegistryDep,
    audit: AuditDep,
) -> VersionDeleted:
    """Stop serving one version. While audit records or jobs name it, its files move to the
    archive so replay still works; 409 while a legal hold covers the model."""
    registry.get(name, version)  # 404 naming the version first
    hold = active_model_hold(audit.store, name)
    if hold is not None:
        raise Conflict(
            f"model {name!r} is under legal hold {hold.id} ({hold.reason}); its versions "
            "cannot be deleted until the hold is released",
            details={"field": "name", "problem": "legal hold"},
        )
    keep = version_in_use(audit.store, name, version)
    model = registry.remove(name, version, keep=keep)
    return VersionDeleted(
        name=name,
        version=version,
        sha256=model.bundle.model_sha256,
        archived=keep,
        default_version=registry.get(name).version if name in registry else None,
    )
