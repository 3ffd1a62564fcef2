"""Responses the hot path sends as bytes it built once: JSON through orjson, and the
``Server-Timing`` header that says where a request's time went."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi.responses import Response

__all__ = ["JSONBytes", "server_timing"]

# Stage names in the header, from the engine's timing keys.
_STAGES = (
    ("validate", "validate_ms"),
    ("compute", "compute_ms"),
    ("people", "people_ms"),
    ("audit", "audit_ms"),
    ("total", "total_ms"),
)


class JSONBytes(Response):
    """JSON serialised once by orjson: floats as the shortest text that reads back as the
    same float64, non-finite ones as null, no pydantic round trip."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def server_timing(timing: Mapping[str, float]) -> str:
    """``validate;dur=0.1, compute;dur=0.7, ...`` (W3C Server-Timing) for the stages timed."""
    return ", ".join(f"{name};dur={timing[key]:g}" for name, key in _STAGES if key in timing)
