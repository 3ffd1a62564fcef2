"""The Open Inference Protocol (v2) with Triton's own client against a real server
process, on german_credit (categorical BYTES inputs) and numeric models: the same
predictions as ``/v1/models/{name}/predict``, in JSON and in the binary-tensor extension."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from tests.helpers.server import serving
from tests.support import make_settings, regression_bundle

REPOSITORY = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def local(tiny_models_dir: Path) -> Iterator[TestClient]:
    """One in-process app for the module's protocol checks (no record is written)."""
    with TestClient(create_app(make_settings(tiny_models_dir))) as c:
        yield c


_CAST = {"BYTES": str, "INT64": int, "FP64": float}
_NUMPY = {"BYTES": np.object_, "INT64": np.int64, "FP64": np.float64}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("oip")
    models = root / "models"
    for name in ("german_credit", "breast_cancer"):
        shutil.copytree(REPOSITORY / "models" / name, models / name)
    regression_bundle(models)
    with serving(models, root, log=root / "server.log") as (url, _):
        yield url.removeprefix("http://")


def _rows(name: str, metadata: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """The first n background rows, typed as the metadata's datatypes say."""
    kinds = {i["name"]: i["datatype"] for i in metadata["inputs"]}
    path = REPOSITORY / "models" / name / "background.csv"
    if not path.exists():
        path = Path(metadata["_background"])
    with path.open() as f:
        rows = list(csv.DictReader(f))[:n]
    return [{k: _CAST[kinds[k]](float(v) if kinds[k] == "INT64" else v) for k, v in r.items()}
            for r in rows]  # fmt: skip


def _inputs(metadata: dict[str, Any], rows: list[dict[str, Any]], *, binary: bool) -> list[Any]:
    import tritonclient.http as triton

    inputs = []
    for spec in metadata["inputs"]:
        values: np.ndarray[Any, Any] = np.array(
            [r[spec["name"]] for r in rows], dtype=_NUMPY[spec["datatype"]]
        )
        if spec["datatype"] == "BYTES":
            values = np.array([v.encode() for v in values], dtype=np.object_)
        tensor = triton.InferInput(spec["name"], [len(rows)], spec["datatype"])
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    return inputs


@pytest.mark.parametrize("name", ["german_credit", "breast_cancer", "tiny_regression"])
def test_tritonclient_infers_the_same_predictions_as_v1_predict(server: str, name: str) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=server)
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready(name)
        metadata = client.get_model_metadata(name)
        assert metadata["platform"] == "onnxruntime_onnx"
        assert all(i["shape"] == [-1] for i in metadata["inputs"])
        if name == "german_credit":
            kinds = {i["name"]: i["datatype"] for i in metadata["inputs"]}
            assert kinds["checking_account"] == "BYTES"
            assert kinds["age"] == "INT64"
        if name == "tiny_regression":
            rows = [
                {"x0": 0.5, "x1": -1.25, "ignored": 3.0},
                {"x0": -2.0, "x1": 0.0, "ignored": 0.0},
            ]
        else:
            rows = _rows(name, metadata, 5)
        v1 = httpx.post(f"http://{server}/v1/models/{name}/predict", json={"instances": rows})
        assert v1.status_code == 200, v1.text
        expected = v1.json()["predictions"]
        answers = []
        # Triton's binary-tensor extension (the client's default), then plain JSON both ways.
        answers.append(client.infer(name, _inputs(metadata, rows, binary=True)))
        names = [o["name"] for o in metadata["outputs"]]
        wanted = [triton.InferRequestedOutput(o, binary_data=False) for o in names]
        answers.append(client.infer(name, _inputs(metadata, rows, binary=False), outputs=wanted))
        for answer in answers:
            if name == "tiny_regression":
                values = answer.as_numpy("value")
                assert values.tolist() == [p["value"] for p in expected]
                continue
            labels = [v.decode() if isinstance(v, bytes) else v for v in answer.as_numpy("label")]
            assert labels == [p["label"] for p in expected]
            probabilities = answer.as_numpy("probabilities")
            classes = list(expected[0]["probabilities"])
            assert probabilities.shape == (len(rows), len(classes))
            assert probabilities.tolist() == [
                [p["probabilities"][c] for c in classes] for p in expected
            ]
    finally:
        client.close()


def test_tritonclient_reads_protocol_errors(server: str) -> None:
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    client = triton.InferenceServerClient(url=server)
    try:
        with pytest.raises(InferenceServerException) as unknown:
            client.get_model_metadata("no_such_model")
        assert unknown.value.status() == "404"
        assert "no_such_model" in str(unknown.value.message())
        metadata = client.get_model_metadata("german_credit")
        rows = _rows("german_credit", metadata, 1)
        rows[0]["checking_account"] = "a sack of gold"
        with pytest.raises(InferenceServerException) as invalid:
            client.infer("german_credit", _inputs(metadata, rows, binary=True))
        assert invalid.value.status() == "400"
        assert "checking_account" in str(invalid.value.message())
        assert "unknown category" in str(invalid.value.message())
    finally:
        client.close()


JSON_REQUEST = {
    "id": "r-1",
    "inputs": [
        {"name": "x0", "datatype": "FP64", "shape": [2], "data": [0.5, -2.0]},
        {"name": "x1", "datatype": "FP32", "shape": [2, 1], "data": [[-1.25], [0.0]]},
        {"name": "ignored", "datatype": "FP64", "shape": [2], "data": [3.0, 0.0]},
    ],
}


def test_the_core_json_protocol_answers_with_the_predictions(local: TestClient) -> None:
    r = local.post("/v2/models/tiny_regression/infer", json=JSON_REQUEST)
    assert r.status_code == 200, r.text
    assert "inference-header-content-length" not in r.headers
    body = r.json()
    assert body["id"] == "r-1"
    assert body["model_name"] == "tiny_regression"
    assert body["model_version"] == "2.1"
    instances = [{"x0": 0.5, "x1": -1.25, "ignored": 3.0}, {"x0": -2.0, "x1": 0.0, "ignored": 0.0}]
    v1 = local.post("/v1/models/tiny_regression/predict", json={"instances": instances}).json()
    [value] = body["outputs"]
    assert value == {
        "name": "value",
        "datatype": "FP64",
        "shape": [2],
        "data": [p["value"] for p in v1["predictions"]],
    }
    versioned = local.post("/v2/models/tiny_regression/versions/2.1/infer", json=JSON_REQUEST)
    assert versioned.json()["outputs"] == body["outputs"]


def test_metadata_names_one_input_per_feature(local: TestClient) -> None:
    r = local.get("/v2/models/tiny_credit")
    assert r.status_code == 200
    body = r.json()
    assert body["versions"] == ["1.0"]
    assert [(i["name"], i["datatype"]) for i in body["inputs"]] == [
        ("income", "FP64"),
        ("debt", "FP64"),
        ("employment", "BYTES"),
        ("has_guarantor", "INT64"),
    ]
    assert body["outputs"] == [
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP64", "shape": [-1, 2]},
    ]
    assert local.get("/v2").json()["extensions"] == ["binary_tensor_data"]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/v2/models/nope/infer", JSON_REQUEST, 404, "nope"),
        ("/v2/models/tiny_regression/versions/9.9/infer", JSON_REQUEST, 404, "9.9"),
        (
            "/v2/models/tiny_regression/infer",
            {"inputs": JSON_REQUEST["inputs"][:2]},
            400,
            "ignored",
        ),
        ("/v2/models/tiny_regression/infer", {"inputs": "x"}, 400, "list of inputs"),
        (
            "/v2/models/tiny_regression/infer",
            {"inputs": [{**JSON_REQUEST["inputs"][0], "shape": [3]}]},  # type: ignore[dict-item]
            400,
            "needs 3 values",
        ),
    ],
)
def test_errors_have_the_protocols_shape(
    local: TestClient, path: str, body: dict[str, Any], status: int, words: str
) -> None:
    r = local.post(path, json=body)
    assert r.status_code == status
    assert set(r.json()) == {"error"}
    assert isinstance(r.json()["error"], str)
    assert words in r.json()["error"]


def test_a_binary_body_that_lies_about_its_size_is_refused(local: TestClient) -> None:
    head = b'{"inputs": [{"name": "x0", "datatype": "FP64", "shape": [1], '
    head += b'"parameters": {"binary_data_size": 16}}]}'
    r = local.post(
        "/v2/models/tiny_regression/infer",
        content=head + b"\x00" * 8,
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
    assert r.status_code == 400
    assert "overruns" in r.json()["error"]


def test_the_schema_documents_only_the_errors_the_service_sends(local: TestClient) -> None:
    schema = local.get("/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert "ValidationError" not in schema["components"]["schemas"]
    infer = schema["paths"]["/v2/models/{name}/infer"]["post"]["responses"]
    assert "422" not in infer
    assert "400" in infer
    explain = schema["paths"]["/v1/models/{name}/explain"]["post"]["responses"]
    assert explain["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse"
    )


def test_every_component_schema_is_described(local: TestClient) -> None:
    schemas = local.get("/openapi.json").json()["components"]["schemas"]
    undescribed = sorted(name for name, body in schemas.items() if not body.get("description"))
    assert undescribed == []
