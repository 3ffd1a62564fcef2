"""Typed settings, read once (from ``CLARION_*`` variables) and injected.

Tests build ``Settings(...)`` explicitly; nothing reads the environment at import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]

_KNOWN_PROVIDERS = {"CPUExecutionProvider", "CUDAExecutionProvider"}


def _default_models_dir() -> Path:
    """The repository's ``models/`` when running from a checkout, else ``./models``."""
    checkout = Path(__file__).resolve().parent.parent / "models"
    return checkout if checkout.is_dir() else Path("models")


class Settings(BaseSettings):
    """Everything the service can be told, with safe defaults."""

    model_config = SettingsConfigDict(env_prefix="CLARION_", extra="forbid")

    models_dir: Path = Field(default_factory=_default_models_dir)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = False

    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    """ONNX Runtime execution providers in order of preference; the one in use is reported."""
    ort_intra_op_threads: int = Field(default=1, ge=0, le=64)
    """Threads per ONNX Runtime session; 1 avoids oversubscribing cores under concurrent load."""
    predict_chunk_rows: int = Field(default=65_536, ge=1_024)

    max_body_bytes: int = Field(default=1_048_576, ge=1_024)
    max_upload_bytes: int = Field(default=32 * 1_048_576, ge=1_024)
    max_instances: int = Field(default=100, ge=1)
    max_background_rows: int = Field(default=5_000, ge=1)
    max_model_nodes: int = Field(default=200_000, ge=1)
    default_seed: int = Field(default=0, ge=0)

    @field_validator("providers")
    @classmethod
    def _check_providers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [p for p in value if p not in _KNOWN_PROVIDERS]
        if unknown or not value:
            raise ValueError(
                f"providers must be a non-empty list of {sorted(_KNOWN_PROVIDERS)}; "
                f"got {list(value)}"
            )
        return value
