"""Documented error responses, shared by every router."""

from __future__ import annotations

from typing import Any

from service.wire.schemas import ErrorResponse

__all__ = ["described", "document_middleware_errors", "errors", "without_default_422"]

_TEXT = {
    401: "No API key, or an unknown or revoked one (send Authorization: Bearer <key>)",
    403: "The API key's role may not do this",
    404: "Unknown model",
    409: "A model of that name is already served",
    413: "Request body over the configured limit",
    422: "Invalid request: the details name each field and problem",
    429: "Rate limit exceeded (see Retry-After)",
    502: "The model answered NaN or infinity (model_error): nothing is predicted or explained",
    503: "Temporarily unable to serve",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": ErrorResponse, "description": _TEXT[c]} for c in codes}


def described(code: int, description: str) -> dict[int | str, dict[str, Any]]:
    """One documented error with its own description ("Unknown record")."""
    return {code: {"model": ErrorResponse, "description": description}}


def document_middleware_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the answers given before a route runs to every /v1 and /v2 operation: 429 (rate
    limits, counted in authentication) everywhere, 413 (body limit) where a body is sent.
    The protocol routes (Open Inference Protocol, KServe) answer in their own error shape."""
    clarion = {"$ref": "#/components/schemas/ErrorResponse"}
    protocol = {"type": "object", "properties": {"error": {"type": "string"}}}
    for path, item in schema.get("paths", {}).items():
        if not path.startswith(("/v1/", "/v2")):
            continue
        own = path.startswith("/v2") or path.endswith((":predict", ":explain"))
        ref = protocol if own else clarion
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            extra = [429] + ([413] if method in ("post", "put", "patch") else [])
            for code in extra:
                responses.setdefault(
                    str(code),
                    {"description": _TEXT[code], "content": {"application/json": {"schema": ref}}},
                )
    return schema


_DEFAULT_422 = "#/components/schemas/HTTPValidationError"


def without_default_422(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace FastAPI's default 422 answer (``HTTPValidationError``, a shape the service
    never sends: ``service.api.app`` renders validation errors as ``ErrorResponse``) and
    drop its schemas. The Open Inference Protocol and KServe routes answer 400 instead."""
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, item in schema.get("paths", {}).items():
        protocol = path.startswith("/v2") or path.endswith((":predict", ":explain"))
        for operation in item.values():
            responses = operation.get("responses", {})
            default = responses.get("422", {}).get("content", {}).get("application/json", {})
            if default.get("schema", {}).get("$ref") != _DEFAULT_422:
                continue
            if protocol:
                del responses["422"]
            else:
                responses["422"] = {
                    "description": _TEXT[422],
                    "content": {"application/json": {"schema": ref}},
                }
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema
