"""Typed dependencies: the lifespan's objects, handed to handlers."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from service.engine import Engine
from service.registry import ModelRegistry
from service.settings import Settings

__all__ = ["EngineDep", "RegistryDep", "SettingsDep"]


def _engine(request: Request) -> Engine:
    return cast(Engine, request.app.state.engine)


def _registry(request: Request) -> ModelRegistry:
    return cast(ModelRegistry, request.app.state.registry)


def _settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


EngineDep = Annotated[Engine, Depends(_engine)]
RegistryDep = Annotated[ModelRegistry, Depends(_registry)]
SettingsDep = Annotated[Settings, Depends(_settings)]
