"""A model that answers NaN for some inputs (issue 12, item 9): a 502 ``model_error``,
never a 200 with nulls, never "The model's estimate: nan", never a record of a decision."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import onnx
import pytest
from fastapi.testclient import TestClient
from onnx import TensorProto, helper

from service.api.app import create_app
from tests.support import _csv, make_settings, write_bundle


def _sqrt_model() -> bytes:
    """y = sqrt(x0) + x1: NaN whenever x0 < 0, finite on the (positive) background."""
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])
    nodes = [
        helper.make_node("Sqrt", ["X"], ["R"]),
        helper.make_node("ReduceSum", ["R", "axes"], ["Y"], keepdims=1),
    ]
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    graph = helper.make_graph(nodes, "sqrt", [x], [y], initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    card = {
        "name": "sqrt_model",
        "version": "1",
        "task": "regression",
        "features": [{"name": "x0"}, {"name": "x1"}],
    }
    rows = [[float(i + 1), float(2 * i + 1)] for i in range(10)]
    write_bundle(tmp_path / "models" / "sqrt_model", _sqrt_model(), card, _csv(["x0", "x1"], rows))
    settings = make_settings(tmp_path / "models")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


BAD = {"x0": -4.0, "x1": 1.0}
GOOD = {"x0": 4.0, "x1": 1.0}


def test_a_finite_answer_is_served(client: TestClient) -> None:
    r = client.post("/v1/models/sqrt_model/predict", json={"instances": [GOOD]})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("route", "extra"),
    [
        ("predict", {}),
        ("explain", {}),
        ("explain", {"persona": "analyst"}),
        ("explain", {"persona": "end_user"}),
        ("explain", {"format": "html"}),
        ("explain", {"method": "kernel_shap"}),
    ],
)
def test_non_finite_output_is_a_502_model_error_and_no_record(
    client: TestClient, route: str, extra: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    r = client.post(f"/v1/models/sqrt_model/{route}", json={"instances": [GOOD, BAD], **extra})
    assert r.status_code == 502, r.text
    error = r.json()["error"]
    assert error["code"] == "model_error"
    assert "NaN or infinity" in error["message"]
    assert "nan" not in r.text.replace("NaN", "")
    assert client.get("/v1/explanations").json()["explanations"] == []
    logged = capsys.readouterr()
    assert "model.non_finite_output" in logged.out + logged.err
