"""Copy coverage: which features of a model lack reviewed words in which locale."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.routes.auth import AnyCaller
from service.api.routes.deps import EngineDep
from service.api.routes.errors import errors
from service.people.narratives import LOCALES
from service.wire import mapping
from service.wire.schemas import CopyCoverage

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get(
    "/{name}/copy-coverage",
    operation_id="copy_coverage",
    responses=errors(401, 403, 404, 422),
)
def copy_coverage(
    name: str,
    engine: EngineDep,
    caller: AnyCaller,
    sample: Annotated[
        int,
        Query(
            ge=0,
            le=100,
            description="Explain this many background rows and count only the features seen "
            "among their reasons; 0 (default) assumes every unprotected feature can show.",
        ),
    ] = 0,
) -> CopyCoverage:
    """Per locale, the features without a reviewed label and phrases, and whether they can
    reach the top reasons (where they would fall back to English or a generic sentence)."""
    return mapping.copy_coverage(engine.copy_coverage(name, LOCALES, sample=sample))
