"""POST /v1/models/{name}/explain through HTTP, checked against an independent oracle."""

from __future__ import annotations

import itertools
import json
from concurrent.futures import ThreadPoolExecutor
from math import factorial
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient

CASE = {"income": 42.5, "debt": 30.0, "employment": "part_time", "has_guarantor": 1}
EMPLOYMENT = ["unemployed", "part_time", "full_time"]


def _read_background(path: Path) -> np.ndarray:
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
    return np.array([[float(r[0]), float(r[1]), EMPLOYMENT.index(r[2]), float(r[3])] for r in rows])


def _oracle(
    model_path: Path, bg: np.ndarray, x: np.ndarray, column: int, logit: bool
) -> list[float]:
    """Brute-force interventional Shapley values straight through ONNX Runtime."""
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    out = session.get_outputs()[1].name

    def f(Z: np.ndarray) -> np.ndarray:
        p = np.asarray(session.run([out], {"X": Z.astype(np.float32)})[0], dtype=np.float64)
        result = np.log(p[:, 1]) - np.log(p[:, 0]) if logit else p[:, column]
        return np.asarray(result)

    m = len(x)

    def v(coalition: tuple[int, ...]) -> float:
        Z = bg.copy()
        Z[:, list(coalition)] = x[list(coalition)]
        return float(f(Z).mean())

    phi = []
    for i in range(m):
        others = [j for j in range(m) if j != i]
        total = 0.0
        for size in range(m):
            w = factorial(size) * factorial(m - size - 1) / factorial(m)
            for s in itertools.combinations(others, size):
                total += w * (v((*s, i)) - v(s))
        phi.append(total)
    return phi


@pytest.mark.parametrize("output", ["probability", "raw"])
def test_exact_explanation_matches_brute_force(
    client: TestClient, tiny_models_dir: Path, output: str
) -> None:
    r = client.post(
        "/v1/models/tiny_credit/explain",
        json={"instances": [CASE], "method": "exact_shap", "output": output},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "exact_shap"
    assert body["output"] == output
    (e,) = body["explanations"]
    assert e["target"] == "approved"
    assert [a["feature"] for a in e["attributions"]] == [
        "income",
        "debt",
        "employment",
        "has_guarantor",
    ]
    assert e["attributions"][2]["value"] == "part_time"
    folder = tiny_models_dir / "tiny_credit"
    x = np.array([42.5, 30.0, 1.0, 1.0])
    expected = _oracle(
        folder / "model.onnx", _read_background(folder / "background.csv"), x, 1, output == "raw"
    )
    got = [a["attribution"] for a in e["attributions"]]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    total = e["base_value"] + sum(got)
    assert abs(total - e["output_value"]) < 1e-9
    assert e["quality"]["additivity_residual"] < 1e-9
    if output == "probability":
        assert abs(e["output_value"] - e["prediction"]["probabilities"]["approved"]) < 1e-12


def test_auto_picks_exact_for_few_players(client: TestClient) -> None:
    r = client.post("/v1/models/tiny_credit/explain", json={"instances": [CASE]})
    assert r.status_code == 200, r.text
    assert r.json()["method"] == "exact_shap"
    assert r.json()["output"] == "probability"  # the card's default


def test_target_defaults_and_explicit_target(client: TestClient) -> None:
    body = {"instances": [CASE], "method": "exact_shap", "target": "declined"}
    r = client.post("/v1/models/tiny_credit/explain", json=body)
    assert r.status_code == 200, r.text
    declined = r.json()["explanations"][0]
    approved = client.post(
        "/v1/models/tiny_credit/explain", json={**body, "target": "approved"}
    ).json()["explanations"][0]
    assert declined["target"] == "declined"
    # ORT returns float32 probabilities, so p(declined) = 1 - p(approved) to float32 precision.
    for a, b in zip(declined["attributions"], approved["attributions"], strict=True):
        assert abs(a["attribution"] + b["attribution"]) < 1e-6


def test_group_players_are_one_attribution(client: TestClient) -> None:
    case = {"a": 0.3, "b": -1.2, "colour_red": 0, "colour_green": 1, "colour_blue": 0}
    r = client.post("/v1/models/tiny_grouped/explain", json={"instances": [case]})
    assert r.status_code == 200, r.text
    e = r.json()["explanations"][0]
    assert [a["feature"] for a in e["attributions"]] == ["a", "b", "colour"]
    assert e["attributions"][2]["label"] == "Colour"
    assert e["attributions"][2]["value"] == {"colour_red": 0, "colour_green": 1, "colour_blue": 0}
    assert (
        abs(e["base_value"] + sum(a["attribution"] for a in e["attributions"]) - e["output_value"])
        < 1e-9
    )


def test_regression_dummy_feature_gets_zero(client: TestClient) -> None:
    r = client.post(
        "/v1/models/tiny_regression/explain",
        json={"instances": [[0.5, -0.25, 3.0], {"x0": 1, "x1": 2, "ignored": -7}]},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    for e in body["explanations"]:
        assert e["target"] == "value"
        assert e["attributions"][2]["attribution"] == 0.0
        assert e["prediction"]["value"] is not None
        assert e["prediction"]["label"] is None


def _strip_volatile(body: dict[str, Any]) -> str:
    body = dict(body)
    body.pop("id")
    body.pop("timing")
    return json.dumps(body, sort_keys=True)


@pytest.mark.parametrize("method", ["kernel_shap", "permutation_shap", "lime"])
def test_same_seed_gives_identical_responses_under_concurrency(
    client: TestClient, method: str
) -> None:
    def call(seed: int) -> str:
        r = client.post(
            "/v1/models/tiny_credit/explain",
            json={"instances": [CASE], "method": method, "options": {"seed": seed}},
        )
        assert r.status_code == 200, r.text
        return _strip_volatile(r.json())

    seeds = [5, 6] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(call, seeds))
    assert len(set(results[0::2])) == 1
    assert len(set(results[1::2])) == 1
    assert results[0] != results[1]
    assert json.loads(results[0])["provenance"]["seed"] == 5


def test_provenance_records_what_is_needed_to_replay(client: TestClient) -> None:
    r = client.post(
        "/v1/models/tiny_credit/explain",
        json={"instances": [CASE], "method": "kernel_shap", "options": {"seed": 3, "nsamples": 64}},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    prov = body["provenance"]
    assert prov["seed"] == 3
    assert prov["parameters"]["nsamples"] == 64
    assert len(prov["background_sha256"]) == 64
    assert prov["provider"] == "CPUExecutionProvider"
    assert set(prov["versions"]) >= {"onnxruntime", "shap", "lime", "numpy", "clarion"}
    assert len(body["model"]["sha256"]) == 64
