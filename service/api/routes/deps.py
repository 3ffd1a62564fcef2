"""Typed dependencies: the lifespan's objects, handed to handlers.

They are ``async`` because they only read ``app.state``: FastAPI runs a plain ``def``
dependency on a worker thread, a hop per dependency per request on the hot path.

FastAPI (0.165) also solves every dependency of a route anew on each request, about 12 us
apiece, so the routes that predict or explain take what they need as one ``ServingDep``
and the request id from ``request_id``, a plain call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, Request

from service.api.coalesce import Coalescer
from service.api.pool import ComputePool
from service.api.ratelimit import RateLimiter
from service.audit import AuditTrail
from service.engine import Engine
from service.models.registry import ModelRegistry
from service.settings import Settings

__all__ = [
    "AuditDep",
    "EngineDep",
    "LimiterDep",
    "PoolDep",
    "RegistryDep",
    "RequestIdDep",
    "Serving",
    "ServingDep",
    "SettingsDep",
    "request_id",
]


@dataclass(frozen=True, slots=True)
class Serving:
    """What a route that predicts or explains needs: the engine, the compute pool, and the
    coalescer that explains through it."""

    engine: Engine
    pool: ComputePool
    coalescer: Coalescer


async def _serving(request: Request) -> Serving:
    state = request.app.state
    return Serving(engine=state.engine, pool=state.pool, coalescer=state.coalescer)


def request_id(request: Request) -> str | None:
    """The request's id (``RequestIdMiddleware``), as ``RequestIdDep`` gives it."""
    state: dict[str, Any] = request.scope.get("state", {})
    return state.get("request_id")


async def _engine(request: Request) -> Engine:
    return cast(Engine, request.app.state.engine)


async def _pool(request: Request) -> ComputePool:
    return cast(ComputePool, request.app.state.pool)


async def _registry(request: Request) -> ModelRegistry:
    return cast(ModelRegistry, request.app.state.registry)


async def _settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def _audit(request: Request) -> AuditTrail:
    return cast(AuditTrail, request.app.state.audit)


async def _limiter(request: Request) -> RateLimiter:
    return cast(RateLimiter, request.app.state.limiter)


async def _request_id(request: Request) -> str | None:
    return request_id(request)


AuditDep = Annotated[AuditTrail, Depends(_audit)]
LimiterDep = Annotated[RateLimiter, Depends(_limiter)]
RequestIdDep = Annotated[str | None, Depends(_request_id)]
EngineDep = Annotated[Engine, Depends(_engine)]
PoolDep = Annotated[ComputePool, Depends(_pool)]
RegistryDep = Annotated[ModelRegistry, Depends(_registry)]
SettingsDep = Annotated[Settings, Depends(_settings)]
ServingDep = Annotated[Serving, Depends(_serving)]
