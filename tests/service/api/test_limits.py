"""Limits that protect the service, safe headers, and logs that keep secrets out."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from service.api.app import create_app
from tests.support import make_settings

CASE = {"income": 173.1379, "debt": 30.0, "employment": "part_time", "has_guarantor": 1}


def _client(models_dir: Path, **overrides: Any) -> TestClient:
    return TestClient(create_app(make_settings(models_dir, **overrides)))


def test_explanation_budget_is_a_422_naming_the_limit(tiny_models_dir: Path) -> None:
    with _client(tiny_models_dir, max_explanation_rows=10_000) as c:
        body = {"instances": [CASE], "method": "kernel_shap", "options": {"nsamples": 2048}}
        r = c.post("/v1/models/tiny_credit/explain", json=body)
        assert r.status_code == 422
        error = r.json()["error"]
        assert "CLARION_MAX_EXPLANATION_ROWS" in error["message"]
        assert error["details"][0]["field"] == "options"
        small = {"instances": [CASE], "method": "kernel_shap", "options": {"nsamples": 64}}
        assert c.post("/v1/models/tiny_credit/explain", json=small).status_code == 200


def test_explanation_timeout_is_a_503_and_leaves_no_record(tiny_models_dir: Path) -> None:
    with _client(tiny_models_dir, explain_timeout_s=1e-9) as c:
        r = c.post(
            "/v1/models/tiny_credit/explain", json={"instances": [CASE], "method": "kernel_shap"}
        )
        assert r.status_code == 503
        error = r.json()["error"]
        assert error["code"] == "explanation_timeout"
        assert "CLARION_EXPLAIN_TIMEOUT_S" in error["message"]
        assert c.get("/v1/explanations").json()["explanations"] == []
        # prediction is not an explanation: no time limit applies
        assert c.post("/v1/models/tiny_credit/predict", json={"instances": [CASE]}).is_success


def test_security_headers_and_cors_off_by_default(client: TestClient) -> None:
    r = client.get("/v1/models", headers={"origin": "https://evil.example"})
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in r.headers
    html = client.post(
        "/v1/models/tiny_credit/explain", json={"instances": [CASE], "format": "html"}
    )
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    csp = html.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert html.headers["x-content-type-options"] == "nosniff"


def test_cors_only_for_configured_origins(tiny_models_dir: Path) -> None:
    with _client(tiny_models_dir, cors_origins=("https://app.example",)) as c:
        ok = c.get("/v1/models", headers={"origin": "https://app.example"})
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        other = c.get("/v1/models", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


@pytest.fixture
def sensitive_models(tmp_path: Path, tiny_models_dir: Path) -> Path:
    root = tmp_path / "models"
    shutil.copytree(tiny_models_dir / "tiny_credit", root / "tiny_credit")
    card_path = root / "tiny_credit" / "card.yaml"
    card = yaml.safe_load(card_path.read_text())
    card["features"][0]["sensitive"] = True
    card_path.write_text(yaml.safe_dump(card, sort_keys=False))
    return root


def test_logs_never_hold_sensitive_values_or_keys(
    sensitive_models: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    admin = "bootstrap-admin-key-7f3c1d9e2b"
    with _client(
        sensitive_models, bootstrap_admin_key=admin, log_level="debug", auth="required"
    ) as c:
        headers = {"authorization": f"Bearer {admin}"}
        created = c.post("/v1/keys", json={"role": "app"}, headers=headers)
        assert created.status_code in (200, 201), created.text
        app_key = created.json()["key"]
        app_headers = {"authorization": f"Bearer {app_key}"}
        for path in ("predict", "explain"):
            r = c.post(
                f"/v1/models/tiny_credit/{path}", json={"instances": [CASE]}, headers=app_headers
            )
            assert r.status_code == 200, r.text
        bad = c.post(
            "/v1/models/tiny_credit/explain",
            json={"instances": [dict(CASE, income="173.1379x")]},
            headers=app_headers,
        )
        assert bad.status_code == 422
        assert c.get("/v1/models", headers={"authorization": "Bearer wrong-key-123"}).status_code
    logs = capfd.readouterr()
    text = logs.out + logs.err
    assert "explanation.completed" in text  # the logs were captured at all
    for secret in (admin, app_key, "wrong-key-123", "173.1379"):
        assert secret not in text, f"{secret!r} leaked into the logs"


def test_explanation_memory_budget_is_a_422_naming_the_limit(tiny_models_dir: Path) -> None:
    """kernel_shap holds nsamples x background rows x columns x 8 bytes per row at once
    (issue 12, item 5): over CLARION_MAX_EXPLANATION_BYTES, refused before any work."""
    with _client(tiny_models_dir, max_explanation_bytes=1_048_576) as c:
        body = {"instances": [CASE], "method": "kernel_shap", "options": {"nsamples": 100_000}}
        r = c.post("/v1/models/tiny_credit/explain", json=body)
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert "CLARION_MAX_EXPLANATION_BYTES" in error["message"]
        assert error["details"][0]["problem"] == "over the explanation memory budget"
        small = {"instances": [CASE], "method": "kernel_shap", "options": {"nsamples": 64}}
        assert c.post("/v1/models/tiny_credit/explain", json=small).status_code == 200
