"""Authentication and roles, as typed dependencies applied per route.

A key travels as ``Authorization: Bearer <key>``. No key (where keys are required),
an unknown or a revoked key: 401. A key whose role may not call the route: 403.
``admin`` may call everything. Health endpoints and the docs take no key.

Rate limits are counted here, where the caller is known (``service.api.ratelimit``):
by key once authenticated, by client address without a key, and failed
authentications by client address, checked before a presented key is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.api.ratelimit import RateLimiter
from service.audit import AuditTrail
from service.auth import ANONYMOUS, Principal, Role
from service.errors import ClarionError, Forbidden, Unauthorized

__all__ = [
    "AUTHENTICATED",
    "AdminCaller",
    "AnyCaller",
    "AppCaller",
    "ReviewerCaller",
    "admit",
    "allowed_roles",
    "authenticate",
    "bearer",
    "require_role",
]

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `POST /v1/keys` or `clarion keys create`.",
)


async def authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller behind the request's key; anonymous (admin) only where auth is open.

    On the event loop when nothing in it waits (a key seen within the last second, limits
    counted in memory: a product backend's every request), else on a worker thread, since
    the key store and Redis are network round trips. A thread hop costs a request about
    0.3 ms of wake-ups on an idle host (bench/hot_path.py)."""
    audit: AuditTrail = request.app.state.audit
    limiter: RateLimiter = request.app.state.limiter
    token = credentials.credentials if credentials is not None else None
    if token is not None and limiter.in_memory and audit.keys.answers_at_once(token):
        return _authenticate(request, audit, limiter, credentials)
    return await run_in_threadpool(_authenticate, request, audit, limiter, credentials)


def _authenticate(
    request: Request,
    audit: AuditTrail,
    limiter: RateLimiter,
    credentials: HTTPAuthorizationCredentials | None,
) -> Principal:
    keys = audit.keys
    address = limiter.client_address(request.scope)
    presented = request.headers.getlist("authorization")
    if keys.mode == "disabled" or not presented:
        limiter.admit_anonymous(address)
        if keys.mode == "disabled":
            return ANONYMOUS
        if keys.required():
            raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>'")
        return ANONYMOUS
    limiter.check_failures(address)
    if len(presented) > 1:
        limiter.record_failure(address)
        raise Unauthorized("send one Authorization header, not several")
    if credentials is None:
        limiter.record_failure(address)
        raise Unauthorized("the Authorization header must read 'Bearer <key>'")
    principal = keys.authenticate(credentials.credentials)
    if principal is None:
        limiter.record_failure(address)
        raise Unauthorized("the API key is unknown or revoked")
    limiter.admit_key(principal.key_id)
    return principal


def require_role(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting ``roles`` (and admin), answering 403 to the others.

    One dependency over the bearer scheme (which puts the key in the OpenAPI document),
    reading the audit trail and the limiter from the app's state rather than through
    dependencies of its own: FastAPI solves every dependency of a route anew on each
    request, about 12 us apiece, and this one guards nearly every route."""
    allowed = allowed_roles(*roles)

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        return await admit(request, credentials, allowed)

    return dependency


def allowed_roles(*roles: Role) -> list[str]:
    """``roles`` and admin, sorted: who may call a route that admits ``roles``."""
    return sorted({"admin", *roles})


AUTHENTICATED = "clarion.authenticated"
"""Scope key: the caller ``authenticate`` found for this request, or the error it raised,
when it ran before the route (``service.api.hot``); ``admit`` then uses it, so a request
is authenticated, and counted against the limits, once."""


async def admit(
    request: Request, credentials: HTTPAuthorizationCredentials | None, allowed: Sequence[str]
) -> Principal:
    """The caller, if its role is one of ``allowed`` (sorted, admin included): what every
    ``require_role`` dependency does, for a route that reads its key itself
    (``service.api.hot``, with ``bearer``)."""
    known: Principal | ClarionError | None = request.scope.get(AUTHENTICATED)
    if isinstance(known, ClarionError):
        raise known
    principal = known if known is not None else await authenticate(request, credentials)
    if principal.role not in allowed:
        raise Forbidden(
            f"this needs the {' or '.join(allowed)} role; key {principal.key_id} has the "
            f"{principal.role} role",
            details={"field": "authorization", "problem": "role not allowed"},
        )
    return principal


async def bearer(request: Request) -> HTTPAuthorizationCredentials | None:
    """The request's ``Bearer`` key as the routes' security scheme reads it (None without one)."""
    return await _bearer(request)


AppCaller = Annotated[Principal, Depends(require_role("app"))]
ReviewerCaller = Annotated[Principal, Depends(require_role("reviewer"))]
AdminCaller = Annotated[Principal, Depends(require_role())]
AnyCaller = Annotated[Principal, Depends(require_role("app", "reviewer"))]
