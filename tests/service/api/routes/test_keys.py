"""API keys and roles through HTTP, on SQLite and PostgreSQL: the role matrix, 401/403,
the bootstrap key, and the auth modes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from tests.helpers.audit import audit_settings, bearer

BOOTSTRAP = "bootstrap-admin-key-for-tests"
CASE = {"income": 42.5, "debt": 30.0, "employment": "part_time", "has_guarantor": 1}
EXPLAIN = {"instances": [CASE], "method": "exact_shap"}


@pytest.fixture
def secured(audit_models_dir: Path, database_url: str) -> Iterator[TestClient]:
    settings = audit_settings(audit_models_dir, database_url, bootstrap_admin_key=BOOTSTRAP)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _key(client: TestClient, role: str, auth: str = BOOTSTRAP) -> str:
    r = client.post("/v1/keys", json={"role": role, "name": f"{role} key"}, headers=bearer(auth))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["role"] == role
    assert body["key"].startswith("clarion_")
    return str(body["key"])


def _calls(record_id: str, annotation_id: str) -> list[tuple[str, str, dict[str, Any], set[str]]]:
    """(method, path, json, roles allowed besides admin)."""
    base = f"/v1/explanations/{record_id}"
    return [
        ("GET", "/v1/models", {}, {"app", "reviewer"}),
        ("GET", "/v1/models/tiny_credit", {}, {"app", "reviewer"}),
        ("POST", "/v1/models/tiny_credit/predict", {"instances": [CASE]}, {"app"}),
        ("POST", "/v1/models/tiny_credit/explain", EXPLAIN, {"app"}),
        ("POST", "/v1/models", {}, set()),
        ("PUT", "/v1/models/tiny_credit/default", {"version": "9.9"}, set()),
        ("DELETE", "/v1/models/tiny_credit/versions/9.9", {}, set()),
        ("GET", "/v1/explanations", {}, {"reviewer"}),
        ("GET", base, {}, {"reviewer"}),
        ("POST", f"{base}/replay", {}, {"reviewer"}),
        ("GET", f"{base}/case", {}, {"reviewer"}),
        ("POST", "/v1/samples", {"size": 1, "seed": 1}, {"reviewer"}),
        ("POST", f"{base}/annotations", {"verdict": "ok"}, {"reviewer"}),
        ("GET", f"{base}/annotations", {}, {"reviewer"}),
        ("POST", f"{base}/annotations/{annotation_id}/signoff", {}, {"reviewer"}),
        ("POST", "/v1/exports", {"filters": {}, "format": "csv"}, {"reviewer"}),
        ("GET", "/v1/models/tiny_credit/report", {}, {"reviewer"}),
        ("POST", f"{base}/hold", {"reason": "case 1"}, {"reviewer"}),
        ("GET", "/v1/holds", {}, {"reviewer"}),
        ("GET", "/v1/keys", {}, set()),
        ("POST", "/v1/keys", {"role": "app"}, set()),
    ]


def test_the_role_matrix(secured: TestClient) -> None:
    keys = {role: _key(secured, role) for role in ("app", "reviewer", "admin")}
    record_id = secured.post(
        "/v1/models/tiny_credit/explain", json=EXPLAIN, headers=bearer(keys["app"])
    ).json()["id"]
    annotation_id = secured.post(
        f"/v1/explanations/{record_id}/annotations",
        json={"verdict": "ok"},
        headers=bearer(keys["reviewer"]),
    ).json()["id"]
    for method, path, body, allowed in _calls(record_id, annotation_id):
        kwargs: dict[str, Any] = {"json": body} if method in ("POST", "PUT") else {}
        anonymous = secured.request(method, path, **kwargs)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        assert anonymous.headers["www-authenticate"] == "Bearer"
        assert anonymous.json()["error"]["code"] == "unauthorized"
        for role, key in keys.items():
            r = secured.request(method, path, headers=bearer(key), **kwargs)
            if role == "admin" or role in allowed:
                assert r.status_code not in (401, 403), (role, method, path, r.text)
            else:
                assert r.status_code == 403, (role, method, path, r.text)
                assert r.json()["error"]["code"] == "forbidden"


def test_open_endpoints_take_no_key(secured: TestClient) -> None:
    for path in ("/health/live", "/health/ready", "/docs", "/openapi.json"):
        assert secured.get(path).status_code == 200, path


def test_bad_unknown_and_revoked_keys_are_401(secured: TestClient) -> None:
    app_key = _key(secured, "app")
    ok = secured.post("/v1/models/tiny_credit/explain", json=EXPLAIN, headers=bearer(app_key))
    assert ok.status_code == 200
    for headers in (
        {"Authorization": f"Basic {app_key}"},
        bearer("clarion_" + "x" * 43),
        bearer("not-a-key"),
    ):
        r = secured.post("/v1/models/tiny_credit/explain", json=EXPLAIN, headers=headers)
        assert r.status_code == 401, headers
    listed = secured.get("/v1/keys", headers=bearer(BOOTSTRAP)).json()["keys"]
    (row,) = [k for k in listed if k["role"] == "app"]
    assert "key" not in row
    revoked = secured.delete(f"/v1/keys/{row['id']}", headers=bearer(BOOTSTRAP))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    r = secured.post("/v1/models/tiny_credit/explain", json=EXPLAIN, headers=bearer(app_key))
    assert r.status_code == 401


def test_records_name_the_callers_key_id(secured: TestClient) -> None:
    r = secured.post("/v1/keys", json={"role": "app"}, headers=bearer(BOOTSTRAP))
    app_id, app_key = r.json()["id"], r.json()["key"]
    record_id = secured.post(
        "/v1/models/tiny_credit/explain", json=EXPLAIN, headers=bearer(app_key)
    ).json()["id"]
    record = secured.get(f"/v1/explanations/{record_id}", headers=bearer(BOOTSTRAP)).json()
    assert record["caller"] == app_id
    assert app_key not in str(record)
    by_caller = secured.get(
        "/v1/explanations", params={"caller": app_id}, headers=bearer(BOOTSTRAP)
    ).json()
    assert [e["id"] for e in by_caller["explanations"]] == [record_id]


def test_keys_are_stored_only_as_hashes(secured: TestClient, database_url: str) -> None:
    from sqlalchemy import create_engine, text

    key = _key(secured, "reviewer")
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = [tuple(r) for r in connection.execute(text("SELECT * FROM api_keys"))]
    finally:
        engine.dispose()
    assert rows
    assert key not in str(rows)


def test_auto_mode_is_open_on_loopback_until_the_first_key(audit_client: TestClient) -> None:
    assert audit_client.post("/v1/models/tiny_credit/explain", json=EXPLAIN).status_code == 200
    created = audit_client.post("/v1/keys", json={"role": "admin"})
    assert created.status_code == 201
    assert audit_client.post("/v1/models/tiny_credit/explain", json=EXPLAIN).status_code == 401
    key = created.json()["key"]
    assert audit_client.get("/v1/keys", headers=bearer(key)).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"host": "0.0.0.0"}, 401),  # auto, no key, but reachable from the network: closed
        ({"auth": "required"}, 401),
        ({"auth": "disabled", "bootstrap_admin_key": BOOTSTRAP}, 200),
    ],
)
def test_auth_modes(
    audit_models_dir: Path, database_url: str, overrides: dict[str, Any], status: int
) -> None:
    settings = audit_settings(audit_models_dir, database_url, **overrides)
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/models/tiny_credit/explain", json=EXPLAIN)
        assert r.status_code == status, r.text


def test_a_short_bootstrap_key_is_refused_at_start_up(audit_models_dir: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="at least 16"):
        audit_settings(audit_models_dir, "sqlite://", bootstrap_admin_key="short")


def test_a_key_seen_within_a_second_is_checked_on_the_event_loop(secured: TestClient) -> None:
    # The hot path's key check answers from memory, with no hop to a worker thread; a
    # key not seen yet (or revoked through this process) is read from the store there.
    keys = secured.app.state.audit.keys  # type: ignore[attr-defined]
    token = _key(secured, "app")
    assert not keys.answers_at_once(token)  # created, not yet presented
    headers = {"authorization": f"Bearer {token}"}
    assert secured.get("/v1/models", headers=headers).status_code == 200
    assert keys.answers_at_once(token)
    assert keys.answers_at_once(BOOTSTRAP)
    assert keys.answers_at_once("not-a-clarion-key")  # refused without a lookup
    listed = secured.get("/v1/keys", headers=bearer(BOOTSTRAP)).json()["keys"]
    row = next(k for k in listed if k["name"] == "app key")
    assert secured.delete(f"/v1/keys/{row['id']}", headers=bearer(BOOTSTRAP)).status_code == 200
    assert not keys.answers_at_once(token)
    assert secured.get("/v1/models", headers=headers).status_code == 401
