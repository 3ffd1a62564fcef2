"""Vocabulary: every name a request may use (methods, personas, locales, ...), from the service."""

from __future__ import annotations

from fastapi import APIRouter

from service import vocabulary
from service.api.routes.auth import AnyCaller
from service.api.routes.errors import errors
from service.wire.schemas import Vocabulary

router = APIRouter(prefix="/v1/vocabulary", tags=["vocabulary"], responses=errors(401, 403))


@router.get("", operation_id="get_vocabulary")
def get_vocabulary(caller: AnyCaller) -> Vocabulary:
    """The methods this service serves (with `auto`), the personas, locales, widget variants
    and themes an explain request may name, and the reviewers' verdicts and risk flags, so
    that clients need not keep their own copies."""
    return Vocabulary.model_validate(vocabulary.as_dict())
