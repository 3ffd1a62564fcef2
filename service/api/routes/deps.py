"""Typed dependencies: the lifespan's objects, handed to handlers."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import Depends, Request

from service.api.ratelimit import RateLimiter
from service.audit import AuditTrail
from service.engine import Engine
from service.models.registry import ModelRegistry
from service.settings import Settings

__all__ = ["AuditDep", "EngineDep", "LimiterDep", "RegistryDep", "RequestIdDep", "SettingsDep"]


def _engine(request: Request) -> Engine:
    return cast(Engine, request.app.state.engine)


def _registry(request: Request) -> ModelRegistry:
    return cast(ModelRegistry, request.app.state.registry)


def _settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def _audit(request: Request) -> AuditTrail:
    return cast(AuditTrail, request.app.state.audit)


def _limiter(request: Request) -> RateLimiter:
    return cast(RateLimiter, request.app.state.limiter)


def _request_id(request: Request) -> str | None:
    state: dict[str, Any] = request.scope.get("state", {})
    return state.get("request_id")


AuditDep = Annotated[AuditTrail, Depends(_audit)]
LimiterDep = Annotated[RateLimiter, Depends(_limiter)]
RequestIdDep = Annotated[str | None, Depends(_request_id)]
EngineDep = Annotated[Engine, Depends(_engine)]
RegistryDep = Annotated[ModelRegistry, Depends(_registry)]
SettingsDep = Annotated[Settings, Depends(_settings)]
