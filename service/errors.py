"""The one error voice of Clarion.

Every failure the core can explain to a caller is a ``ClarionError`` carrying an
HTTP status and a stable machine-readable ``code``; one handler renders them as
``{"error": {"code", "message", "details", "request_id"}}``.

    ClarionError (500, internal_error)
    ├── InvalidInput (422, invalid_input)          an instance or option is wrong
    ├── Unauthorized (401, unauthorized)           no API key, or an unknown or revoked one
    ├── Forbidden (403, forbidden)                 the key's role may not do this
    ├── NotFound (404, not_found)                  unknown model or record
    ├── BundleRejected (422, bundle_rejected)      a model bundle failed validation
    ├── Conflict (409, conflict)                   a name that is already served
    ├── PayloadTooLarge (413, payload_too_large)   a body over the configured limit
    └── Unavailable (503, unavailable)             a dependency (store, model) cannot serve now
        └── Overloaded (503, overloaded)           every compute thread busy and the queue full
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "BundleRejected",
    "ClarionError",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "Unauthorized",
    "Unavailable",
]


class ClarionError(Exception):
    """Base class: a failure with a status, a stable code and structured details."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    headers: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        message: str,
        *,
        details: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if details is None:
            self.details: list[dict[str, Any]] = []
        elif isinstance(details, Mapping):
            self.details = [dict(details)]
        else:
            self.details = [dict(d) for d in details]

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInput(ClarionError):
    status_code = 422
    code = "invalid_input"


class Unauthorized(ClarionError):
    status_code = 401
    code = "unauthorized"
    headers: ClassVar[Mapping[str, str]] = {"WWW-Authenticate": "Bearer"}


class Forbidden(ClarionError):
    status_code = 403
    code = "forbidden"


class NotFound(ClarionError):
    status_code = 404
    code = "not_found"


class BundleRejected(ClarionError):
    status_code = 422
    code = "bundle_rejected"


class Conflict(ClarionError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(ClarionError):
    status_code = 413
    code = "payload_too_large"


class Unavailable(ClarionError):
    status_code = 503
    code = "unavailable"


class Overloaded(Unavailable):
    """Every compute thread is busy and the queue in front of them is full: retry soon."""

    code = "overloaded"
    headers: ClassVar[Mapping[str, str]] = {"Retry-After": "1"}
