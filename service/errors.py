"""The one error voice of Clarion: every error class the service raises, in one tree.

Every failure the core can explain to a caller is a ``ClarionError`` carrying an
HTTP status and a stable machine-readable ``code``; one handler renders them as
``{"error": {"code", "message", "details", "request_id"}}``, and the middleware that
refuses a request before any route runs renders the same classes with ``to_dict``.

    ClarionError (500, internal_error)               an unexpected failure
    ├── NotFitted (500, not_fitted)                  a programming error: explain() before fit()
    ├── HttpError (400, http_error)                  HTTP itself refused the request
    │   └── MethodNotAllowed (405, method_not_allowed)  no such method on this path
    ├── InvalidInput (422, invalid_input)            an instance or option is wrong
    │   ├── InvalidRequest (422, invalid_request)    the body does not match the wire schema
    │   └── TooManyRows (422, invalid_input)         a table file over a row limit
    ├── Unauthorized (401, unauthorized)             no API key, or an unknown or revoked one
    ├── Forbidden (403, forbidden)                   the key's role may not do this
    ├── NotFound (404, not_found)                    unknown model, record or route
    ├── Conflict (409, conflict)                     a name that is already served
    ├── PayloadTooLarge (413, payload_too_large)     a body over the configured limit
    ├── BundleRejected (422, bundle_rejected)        a model bundle failed validation
    ├── UnsupportedModel (422, unsupported_model)    an exact reader cannot serve this graph
    ├── RateLimited (429, rate_limited)              over the per-key request rate (Retry-After)
    ├── ModelError (502, model_error)                the model answered NaN or infinity
    └── Unavailable (503, unavailable)               a dependency (store, model) cannot serve now
        ├── ExplanationTimeout (503, explanation_timeout)  over CLARION_EXPLAIN_TIMEOUT_S
        ├── SealError (503, unavailable)             a sealed audit value cannot be opened
        └── Overloaded (503, overloaded)             every compute thread busy, the queue full

``UnsupportedModel`` stays inside the model loader: tree analysis raises it, and the
loader keeps its reason as the answer to "why is tree_shap unavailable for this model".
Outside the tree, on purpose: the command line's own exceptions (a child process that
did not come up, settings it cannot use), which end as one line and an exit code, never
as an HTTP answer, and private control-flow exceptions caught where they are raised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "BundleRejected",
    "ClarionError",
    "Conflict",
    "ExplanationTimeout",
    "Forbidden",
    "HttpError",
    "InvalidInput",
    "InvalidRequest",
    "MethodNotAllowed",
    "ModelError",
    "NotFitted",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "RateLimited",
    "SealError",
    "TooManyRows",
    "Unauthorized",
    "Unavailable",
    "UnsupportedModel",
]


class ClarionError(Exception):
    """Base class: a failure with a status, a stable code and structured details."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

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

    @property
    def headers(self) -> Mapping[str, str]:
        """HTTP headers the answer carries besides the body."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class NotFitted(ClarionError):
    """An explainer asked to explain before ``fit``: a bug in the caller, hence 500."""

    code = "not_fitted"


class HttpError(ClarionError):
    """A request refused by HTTP handling itself (a body that cannot be parsed, say)."""

    status_code = 400
    code = "http_error"


class MethodNotAllowed(HttpError):
    status_code = 405
    code = "method_not_allowed"


class InvalidInput(ClarionError):
    status_code = 422
    code = "invalid_input"


class InvalidRequest(InvalidInput):
    """The request body is not what the wire schema describes (types, names, JSON)."""

    code = "invalid_request"


class TooManyRows(InvalidInput):
    """A table file with more rows than allowed; ``n`` says how many (callers that know
    which limit it broke catch it and say so)."""

    def __init__(self, what: str, n: int, limit: int, field: str) -> None:
        super().__init__(
            f"{what} has {n:,} rows; at most {limit:,} are allowed",
            details={"field": field, "problem": "too many rows"},
        )
        self.n = n


class Unauthorized(ClarionError):
    status_code = 401
    code = "unauthorized"

    @property
    def headers(self) -> Mapping[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(ClarionError):
    status_code = 403
    code = "forbidden"


class NotFound(ClarionError):
    status_code = 404
    code = "not_found"


class Conflict(ClarionError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(ClarionError):
    status_code = 413
    code = "payload_too_large"


class BundleRejected(ClarionError):
    status_code = 422
    code = "bundle_rejected"


class UnsupportedModel(ClarionError):
    """A graph an exact reader (tree_shap's) cannot serve; ``reason`` says why, for people."""

    status_code = 422
    code = "unsupported_model"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RateLimited(ClarionError):
    """Over the request rate; ``retry_after`` seconds until a request is admitted again."""

    status_code = 429
    code = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        retry_after: int,
        details: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ModelError(ClarionError):
    """The served model answered something no one may be told (NaN or infinity) for a
    valid request: the fault is the model's, as a gateway's upstream (hence 502), and
    retrying the same rows gives the same answer."""

    status_code = 502
    code = "model_error"


class Unavailable(ClarionError):
    status_code = 503
    code = "unavailable"


class ExplanationTimeout(Unavailable):
    """The explanation ran past the per-request time limit."""

    code = "explanation_timeout"


class SealError(Unavailable):
    """A sealed value cannot be opened: no key, another key, or a damaged blob."""


class Overloaded(Unavailable):
    """Every compute thread is busy and the queue in front of them is full: retry soon."""

    code = "overloaded"

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Retry-After": "1"}
