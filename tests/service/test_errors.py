"""One error tree: every error class is defined in ``service.errors`` and drawn in its
docstring, and the middleware's refusals are rendered from the same classes."""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

import service.errors
from service.api.middleware import send_error
from service.errors import (
    ClarionError,
    NotFitted,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
)

ROOT = Path(__file__).resolve().parents[2]


def _error_classes() -> list[type[ClarionError]]:
    return [
        cls
        for _, cls in inspect.getmembers(service.errors, inspect.isclass)
        if issubclass(cls, ClarionError) and cls.__module__ == "service.errors"
    ]


def test_every_class_is_exported_and_drawn_with_its_status_and_code() -> None:
    doc = service.errors.__doc__ or ""
    exported = set(service.errors.__all__)
    for cls in _error_classes():
        assert cls.__name__ in exported, cls
        assert f"{cls.__name__} ({cls.status_code}, {cls.code})" in doc, cls
    assert service.errors.__all__ == sorted(service.errors.__all__)


def test_no_other_module_defines_an_error_of_the_tree() -> None:
    tree_names = {cls.__name__ for cls in _error_classes()}
    found = []
    for path in sorted((ROOT / "service").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative == "service/errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
                if bases & tree_names:
                    found.append(f"{relative}: class {node.name}")
    assert not found, found


def test_not_fitted_is_a_programming_error() -> None:
    error = NotFitted("KernelShap is not fitted; call fit(game) first")
    assert (error.status_code, error.code) == (500, "not_fitted")


def test_headers_travel_with_the_error() -> None:
    assert Unauthorized("no key").headers == {"WWW-Authenticate": "Bearer"}
    assert RateLimited("slow down", retry_after=7).headers == {"Retry-After": "7"}
    assert ClarionError("boom").headers == {}


def _sent(error: ClarionError) -> tuple[int, dict[str, str], dict[str, Any]]:
    messages: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        messages.append(message)

    asyncio.run(send_error(send, error, "req-1"))
    start, body = messages
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert headers["content-length"] == str(len(body["body"]))
    return start["status"], headers, json.loads(body["body"])


def test_middleware_refusals_are_the_classes_own_answers() -> None:
    error = RateLimited(
        "too many requests", retry_after=3, details={"field": "authorization", "problem": "x"}
    )
    status, headers, body = _sent(error)
    assert status == 429
    assert headers["retry-after"] == "3"
    assert body == {"error": {**error.to_dict(), "request_id": "req-1"}}
    status, headers, body = _sent(PayloadTooLarge("the request body is over the limit"))
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"


def test_http_refusals_speak_the_same_voice(client: TestClient) -> None:
    r = client.delete("/v1/models")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"
    r = client.get("/v1/no-such-thing")
    assert r.status_code == 404
    assert set(r.json()["error"]) == {"code", "message", "details", "request_id"}
