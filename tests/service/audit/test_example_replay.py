"""Every example model's explanations, with every method it offers, replay bit for bit."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from tests.helpers.audit import audit_settings
from tests.support import make_settings

MODELS = Path(__file__).resolve().parents[3] / "models"
EXAMPLES = ["breast_cancer", "diabetes_progression", "german_credit", "hiring_screen"]
# Small budgets keep the test fast; what matters is that the seed fixes every draw.
OPTIONS: dict[str, dict[str, Any]] = {
    "kernel_shap": {"nsamples": 128},
    "permutation_shap": {"max_evals": 200},
    "lime": {"num_samples": 300},
}


@pytest.fixture
def examples(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(audit_settings(MODELS, database_url))) as client:
        yield client


def test_every_example_explanation_replays_identically(examples: TestClient) -> None:
    served = [m["name"] for m in examples.get("/v1/models").json()["models"]]
    assert served == EXAMPLES
    replayed = 0
    for name in EXAMPLES:
        detail = examples.get(f"/v1/models/{name}").json()
        cases = examples.get(f"/v1/models/{name}/samples", params={"limit": 2}).json()
        methods = ["auto"] + [m for m, s in detail["explainers"].items() if s == "available"]
        for method in methods:
            body = {
                "instances": cases["instances"],
                "method": method,
                "output": "raw" if method == "tree_shap" else None,
                "options": {"seed": 5, **OPTIONS.get(method, {})},
            }
            r = examples.post(f"/v1/models/{name}/explain", json=body)
            assert r.status_code == 200, (name, method, r.text)
            result = examples.post(f"/v1/explanations/{r.json()['id']}/replay").json()
            assert result["identical"], (name, method, result["differences"][:3])
            replayed += 1
    assert replayed >= len(EXAMPLES) * 2


def test_a_fresh_install_without_a_key_replays_and_shows_what_people_read(
    database_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    settings = make_settings(MODELS, database_url=database_url, data_dir=data_dir)
    assert settings.audit_encryption_key is None
    with TestClient(create_app(settings)) as client:
        key = data_dir / "audit-encryption.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        for name in EXAMPLES:
            cases = client.get(f"/v1/models/{name}/samples", params={"limit": 1}).json()
            body = {"instances": cases["instances"], "reference": f"APP-{name}", "format": "html"}
            r = client.post(f"/v1/models/{name}/explain", json=body)
            assert r.status_code == 200, (name, r.text)
            record_id = r.headers["x-clarion-record-id"]
            result = client.post(f"/v1/explanations/{record_id}/replay").json()
            assert result["identical"], (name, result["differences"][:3])
            record = client.get(f"/v1/explanations/{record_id}").json()
            assert record["sealed"] in ("clear", "opened"), name
            assert record["reference"] == f"APP-{name}"
            assert record["shown"]["page"] == r.text
            assert all(x["narrative"] for x in record["response"]["explanations"]), name
    # A restart finds the same key: what was sealed stays readable.
    with TestClient(create_app(settings)) as client:
        listed = client.get("/v1/explanations", params={"reference": "APP-hiring_screen"}).json()
        (summary,) = listed["explanations"]
        replayed = client.post(f"/v1/explanations/{summary['id']}/replay").json()
        assert replayed["identical"]
