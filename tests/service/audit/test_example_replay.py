"""Every example model's explanations, with every method it offers, replay bit for bit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from tests.helpers.audit import audit_settings

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
