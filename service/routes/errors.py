"""Documented error responses, shared by every router."""

from __future__ import annotations

from typing import Any

from service.schemas import ErrorResponse

__all__ = ["errors"]

_TEXT = {
    404: "Unknown model",
    409: "A model of that name is already served",
    413: "Request body over the configured limit",
    422: "Invalid request: the details name each field and problem",
    503: "Temporarily unable to serve",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": ErrorResponse, "description": _TEXT[c]} for c in codes}
