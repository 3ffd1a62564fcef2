"""The hot explain and predict routes (``service.api.hot``) answer exactly as the FastAPI
routes they stand in front of: the same statuses, errors, explanations and predictions,
for the requests they answer themselves and for those they hand on."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.api import hot
from service.api.app import create_app
from tests.support import make_settings

BOOTSTRAP = "bootstrap-admin-key-for-hot-route-tests"
CASE = {"income": 42.5, "debt": 30.0, "employment": "part_time", "has_guarantor": 1}
JSON = {"content-type": "application/json"}
URL = "/v1/models/tiny_credit/explain"


def _app(models: Path, *, with_hot_route: bool) -> FastAPI:
    app = create_app(make_settings(models, bootstrap_admin_key=BOOTSTRAP))
    if not with_hot_route:
        app.router.routes[:] = [r for r in app.router.routes if not isinstance(r, hot.HotRoute)]
    return app


@pytest.fixture
def pair(tiny_models_dir: Path) -> Iterator[dict[str, tuple[TestClient, dict[str, str]]]]:
    """Two services on the same models: one with the hot route, one with FastAPI's alone;
    each with its own app and reviewer keys."""
    with (
        TestClient(_app(tiny_models_dir, with_hot_route=True)) as fast,
        TestClient(_app(tiny_models_dir, with_hot_route=False)) as plain,
    ):
        out = {}
        for name, client in (("hot", fast), ("fastapi", plain)):
            keys = {}
            for role in ("app", "reviewer"):
                r = client.post(
                    "/v1/keys",
                    json={"role": role, "name": role},
                    headers={"authorization": f"Bearer {BOOTSTRAP}"},
                )
                keys[role] = r.json()["key"]
            out[name] = (client, keys)
        yield out


def _body(instance: Any = CASE, **fields: Any) -> bytes:
    """An explain body (exact_shap, which the tiny models take); predict gets it without
    ``method``."""
    return json.dumps({"instances": [instance], "method": "exact_shap", **fields}).encode()


def _for(route: str, body: bytes) -> bytes:
    """``body`` as sent to ``route``: predict's without the explain-only ``method``."""
    if route == "explain":
        return body
    try:
        data = json.loads(body)
    except ValueError:  # not JSON: sent as it is
        return body
    if isinstance(data, dict):
        data.pop("method", None)
        return json.dumps(data).encode()
    return body


# (what the case is, body, content type, key role: "app", "reviewer", "none" or "bogus")
CASES: list[tuple[str, bytes, str, str]] = [
    ("valid", _body(), "application/json", "app"),
    ("valid, json with a charset", _body(), "application/json; charset=utf-8", "app"),
    ("valid, sent as curl -d sends it", _body(), "application/x-www-form-urlencoded", "app"),
    ("invalid instance", _body({**CASE, "income": "lots"}), "application/json", "app"),
    ("unknown feature", _body({**CASE, "shoe_size": 44}), "application/json", "app"),
    ("unknown method", _body(method="nope"), "application/json", "app"),
    ("wrong option type", _body(options={"seed": "x"}), "application/json", "app"),
    ("unknown field", _body(colour="red"), "application/json", "app"),
    ("no instances", b'{"method": "exact_shap"}', "application/json", "app"),
    ("instances not a list", b'{"instances": 3}', "application/json", "app"),
    ("a JSON array", b"[1, 2]", "application/json", "app"),
    ("not JSON", b"{instances: oops", "application/json", "app"),
    ("NaN, which orjson refuses", b'{"instances": [{"income": NaN}]}', "application/json", "app"),
    ("empty body", b"", "application/json", "app"),
    ("plain text", _body(), "text/plain", "app"),
    ("no key", _body(), "application/json", "none"),
    ("unknown key", _body(), "application/json", "bogus"),
    ("reviewer key", _body(), "application/json", "reviewer"),
    ("invalid body and no key", b'{"instances": 3}', "application/json", "none"),
    # the key is checked before the body is read, and said after it, in FastAPI's order
    ("not JSON and no key", b"{instances: oops", "application/json", "none"),
    ("not JSON and an unknown key", b"{instances: oops", "application/json", "bogus"),
    ("a JSON array and no key", b"[1, 2]", "application/json", "none"),
    ("a JSON array and a reviewer key", b"[1, 2]", "application/json", "reviewer"),
    ("empty body and an unknown key", b"", "application/json", "bogus"),
]  # fmt: skip


def _ask(
    client: TestClient,
    keys: dict[str, str],
    body: bytes,
    kind: str,
    role: str,
    route: str = "explain",
) -> Any:
    headers = {"content-type": kind}
    if role in keys:
        headers["authorization"] = f"Bearer {keys[role]}"
    elif role == "bogus":
        headers["authorization"] = "Bearer clarion_not_a_key"
    return client.post(
        f"/v1/models/tiny_credit/{route}", content=_for(route, body), headers=headers
    )


def _comparable(response: Any) -> Any:
    """What must match between the two services: status, key headers, body without the
    per-request id, record id and timings."""
    body = response.json()
    if "error" in body:
        body["error"].pop("request_id")
        # each service made its own keys: "key 4760c79bcb7f045d has the reviewer role"
        body["error"]["message"] = re.sub(r"key [0-9a-f]{16}", "key <id>", body["error"]["message"])
    else:
        for key in ("id", "timing"):
            body.pop(key, None)
    return response.status_code, response.headers.get("www-authenticate"), body


@pytest.mark.parametrize("route", ["explain", "predict"])
@pytest.mark.parametrize(("case", "body", "kind", "role"), CASES, ids=[c[0] for c in CASES])
def test_the_hot_route_answers_as_the_fastapi_route(
    pair: dict[str, tuple[TestClient, dict[str, str]]],
    route: str,
    case: str,
    body: bytes,
    kind: str,
    role: str,
) -> None:
    hot_answer = _ask(*pair["hot"], body, kind, role, route)
    fastapi_answer = _ask(*pair["fastapi"], body, kind, role, route)
    assert _comparable(hot_answer) == _comparable(fastapi_answer), case
    assert hot_answer.headers["content-type"] == fastapi_answer.headers["content-type"]
    if route == "predict" and hot_answer.status_code == 200:  # the same bytes on the wire
        assert hot_answer.content == fastapi_answer.content
    if route == "explain" and hot_answer.status_code == 200:
        assert hot_answer.headers["server-timing"].startswith("validate;dur=")


def test_it_answers_json_objects_itself_and_hands_on_the_rest(
    pair: dict[str, tuple[TestClient, dict[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    handed_on: list[str] = []
    original = hot._hand_on

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        handed_on.append(scope["path"])
        await original(scope, receive, send)

    monkeypatch.setattr(hot, "_hand_on", counted)
    client, keys = pair["hot"]
    for body, kind, role in [
        (_body(), "application/json", "app"),
        (_body({**CASE, "income": "lots"}), "application/json", "app"),
        (_body(), "application/json", "none"),
        (_body(), "application/x-www-form-urlencoded", "app"),  # read as JSON (middleware)
    ]:
        _ask(client, keys, body, kind, role)
    assert handed_on == []
    for body, kind in [
        (b"[1]", "application/json"),
        (b"", "application/json"),
        (_body(), "text/plain"),
    ]:
        _ask(client, keys, body, kind, "app")
    assert handed_on == [URL] * 3
    # a method the route does not take never reaches it: the FastAPI route's own 405
    r = client.get(URL, headers={"authorization": f"Bearer {keys['app']}"})
    assert r.status_code == 405
    assert len(handed_on) == 3


def test_each_answered_explanation_has_its_record(
    pair: dict[str, tuple[TestClient, dict[str, str]]],
) -> None:
    client, keys = pair["hot"]
    ids = [_ask(client, keys, _body(), "application/json", "app").json()["id"] for _ in range(3)]
    auth = {"authorization": f"Bearer {BOOTSTRAP}"}
    for record_id in ids:
        r = client.get(f"/v1/explanations/{record_id}", headers=auth)
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("body", "role"),
    [(_body(), "app"), (_body(), "bogus"), (b"[1]", "app"), (b"[1]", "bogus"), (b"", "none")],
)
def test_a_request_is_authenticated_once_whoever_answers_it(
    pair: dict[str, tuple[TestClient, dict[str, str]]],
    monkeypatch: pytest.MonkeyPatch,
    body: bytes,
    role: str,
) -> None:
    """The hot route checks the key while the body arrives; a request it hands on carries
    what the check found to the FastAPI route, so its key is looked up, and counted
    against the rate limits, once."""
    from service.api.routes import auth

    checks: list[str] = []
    original = auth._authenticate

    def counted(*args: Any) -> Any:
        checks.append("checked")
        return original(*args)

    monkeypatch.setattr(auth, "_authenticate", counted)
    client, keys = pair["hot"]
    _ask(client, keys, body, "application/json", role)
    assert checks == ["checked"]
