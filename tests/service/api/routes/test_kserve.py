"""KServe's v1 data plane (``:predict``, ``:explain``) with the documented payloads through
httpx (KServe's own client pins what Clarion cannot install beside its pins)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from tests.support import make_settings

ROW = [173.1379, 30.0, "part_time", 1]
CASE = {"income": 173.1379, "debt": 30.0, "employment": "part_time", "has_guarantor": 1}


@pytest.fixture(scope="module")
def local(tiny_models_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tiny_models_dir))) as c:
        yield c


def test_predict_answers_kserve_predictions_as_v1_predict_does(local: TestClient) -> None:
    r = local.post("/v1/models/tiny_credit:predict", json={"instances": [ROW, CASE]})
    assert r.status_code == 200, r.text
    v1 = local.post("/v1/models/tiny_credit/predict", json={"instances": [CASE, CASE]}).json()
    assert r.json() == {"predictions": [p["label"] for p in v1["predictions"]]}
    values = local.post("/v1/models/tiny_regression:predict", json={"instances": [[1, 2, 3]]})
    v1 = local.post("/v1/models/tiny_regression/predict", json={"instances": [[1, 2, 3]]}).json()
    assert values.json() == {"predictions": [v1["predictions"][0]["value"]]}


def test_explain_carries_the_same_attributions_as_explain_and_is_recorded(
    local: TestClient,
) -> None:
    r = local.post("/v1/models/tiny_credit:explain", json={"instances": [ROW]})
    assert r.status_code == 200, r.text
    body = r.json()
    v1 = local.post("/v1/models/tiny_credit/explain", json={"instances": [CASE]}).json()
    assert body["method"] == v1["method"]
    assert body["predictions"] == [v1["explanations"][0]["prediction"]["label"]]
    ours = body["explanations"][0]["attributions"]
    theirs = v1["explanations"][0]["attributions"]
    assert [(a["feature"], a["value"]) for a in ours] == [
        (a["feature"], a["value"]) for a in theirs
    ]
    record = local.get(f"/v1/explanations/{body['id']}")
    assert record.status_code == 200, record.text
    assert record.json()["channel"] == "kserve"


def test_errors_read_as_kserve_errors(local: TestClient) -> None:
    unknown = local.post("/v1/models/nope:explain", json={"instances": [ROW]})
    assert unknown.status_code == 404
    assert "nope" in unknown.json()["error"]
    bad = local.post("/v1/models/tiny_credit:predict", json={"instances": [[1, 2]]})
    assert bad.status_code == 400
    assert set(bad.json()) == {"error"}
    assert "4 values" in bad.json()["error"] or "has 2 values" in bad.json()["error"]
    empty = local.post("/v1/models/tiny_credit:predict", json={"rows": []})
    assert empty.status_code == 400
    assert "instances" in empty.json()["error"]
