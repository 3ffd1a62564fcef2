"""Hostile and broken uploads are refused with a clear 4xx and leave no trace.

After each refusal the model store holds exactly what it held before and the
served models still answer.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import yaml
from fastapi.testclient import TestClient
from onnx import TensorProto, helper, numpy_helper

from service.api.app import create_app
from tests.support import credit_bundle, grouped_bundle, make_settings

Files = dict[str, tuple[str, bytes]]


@pytest.fixture
def store(tmp_path: Path, tiny_models_dir: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(tiny_models_dir, root)
    return root


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return credit_bundle(tmp_path / "src", name="candidate")


def _client(store: Path, tmp_path: Path, **limits: Any) -> TestClient:
    settings = make_settings(store, database_url=f"sqlite:///{tmp_path / 'audit.db'}", **limits)
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture
def client(store: Path, tmp_path: Path) -> Iterator[TestClient]:
    with _client(store, tmp_path) as c:
        yield c


def _files(folder: Path, **replace: bytes) -> Files:
    names = {"model": "model.onnx", "card": "card.yaml", "background": "background.csv"}
    return {
        field: (name, replace.get(field, (folder / name).read_bytes()))
        for field, name in names.items()
    }


def _snapshot(root: Path) -> list[tuple[str, bytes]]:
    return sorted(
        (str(p.relative_to(root)), p.read_bytes()) for p in root.rglob("*") if p.is_file()
    )


def _tiny_graph(
    extra_nodes: list[onnx.NodeProto] | None = None,
    initializers: list[onnx.TensorProto] | None = None,
    domain: str = "",
    opset_domains: dict[str, int] | None = None,
) -> onnx.ModelProto:
    """Y = X @ W as a 4-feature regressor, with whatever extras the test needs."""
    w = numpy_helper.from_array(np.ones((4, 1), dtype=np.float32), name="W")
    nodes = [helper.make_node("MatMul", ["X", "W"], ["Y"], domain=domain)]
    graph = helper.make_graph(
        (extra_nodes or []) + nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
        initializer=[w, *(initializers or [])],
    )
    opsets = [helper.make_opsetid("", 17)] + [
        helper.make_opsetid(d, v) for d, v in (opset_domains or {}).items()
    ]
    return helper.make_model(graph, opset_imports=opsets)


def _regression_card(folder: Path) -> bytes:
    card = yaml.safe_load((folder / "card.yaml").read_bytes())
    card = {k: v for k, v in card.items() if k not in ("classes", "positive_class", "output")}
    return yaml.safe_dump(dict(card, task="regression")).encode()


def _external(location: str) -> onnx.ModelProto:
    model = _tiny_graph()
    w = model.graph.initializer[0]
    w.ClearField("raw_data")
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    return model


def _huge_tensor() -> onnx.ModelProto:
    """A graph that asks ONNX Runtime for a 4 TB tensor at the test prediction."""
    shape = numpy_helper.from_array(np.array([100_000, 100_000, 100], dtype=np.int64), "shape")
    big = helper.make_node("ConstantOfShape", ["shape"], ["big"])
    reduce = helper.make_node("ReduceSum", ["big"], ["total"], keepdims=0)
    model = _tiny_graph([big, reduce], [shape])
    model.graph.output.append(helper.make_tensor_value_info("total", TensorProto.FLOAT, []))
    return model


HOSTILE: dict[str, Callable[[Path], Files]] = {
    "external data with ..": lambda f: _files(
        f, model=_external("../../etc/passwd").SerializeToString(), card=_regression_card(f)
    ),
    "external data absolute": lambda f: _files(
        f, model=_external("/etc/passwd").SerializeToString(), card=_regression_card(f)
    ),
    "external data not uploaded": lambda f: _files(
        f, model=_external("weights.bin").SerializeToString(), card=_regression_card(f)
    ),
    "foreign operator domain": lambda f: _files(
        f,
        model=_tiny_graph(domain="com.evil", opset_domains={"com.evil": 1}).SerializeToString(),
        card=_regression_card(f),
    ),
    "huge declared tensor": lambda f: _files(
        f, model=_huge_tensor().SerializeToString(), card=_regression_card(f)
    ),
    "not onnx": lambda f: _files(f, model=b"\x00\x01 definitely not protobuf \xff"),
    "truncated": lambda f: _files(f, model=(f / "model.onnx").read_bytes()[:100]),
    "card does not match graph": lambda f: _files(
        f, card=(f / "card.yaml").read_bytes().replace(b"name: has_guarantor", b"name: other")
    ),
    "background missing column": lambda f: _files(
        f, background=(f / "background.csv").read_bytes().replace(b",has_guarantor", b"", 1)
    ),
    "background extra column": lambda f: _files(
        f, background=(f / "background.csv").read_bytes().replace(b"\n", b",x\n", 1)
    ),
    "background non-numeric": lambda f: _files(
        f, background=b"income,debt,employment,has_guarantor\n1e999x,1,full_time,0\n"
    ),
    "name tries a path": lambda f: _files(
        f, card=(f / "card.yaml").read_bytes().replace(b"name: candidate", b"name: ../../x")
    ),
    "name not an identifier": lambda f: _files(
        f, card=(f / "card.yaml").read_bytes().replace(b"name: candidate", b"name: a b;rm")
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_upload_is_refused_without_side_effects(
    client: TestClient, store: Path, source: Path, case: str
) -> None:
    before = _snapshot(store)
    r = client.post("/v1/models", files=HOSTILE[case](source))
    assert 400 <= r.status_code < 500, (case, r.status_code, r.text)
    error = r.json()["error"]
    assert error["message"], case
    assert _snapshot(store) == before, case
    assert [m["name"] for m in client.get("/v1/models").json()["models"]] == [
        "tiny_credit",
        "tiny_grouped",
        "tiny_regression",
    ]
    ok = client.post("/v1/models/tiny_regression/predict", json={"instances": [[0, 1, 2]]})
    assert ok.status_code == 200


def test_external_data_is_named_in_the_error(client: TestClient, source: Path) -> None:
    r = client.post("/v1/models", files=HOSTILE["external data with .."](source))
    assert r.status_code == 422
    assert "external data" in r.json()["error"]["message"]


@pytest.fixture
def mlp_source(tmp_path: Path) -> Path:
    """An MLP: several nodes and a few kilobytes, unlike the one-node logistic regression."""
    return grouped_bundle(tmp_path / "mlp", name="candidate")


def test_graph_over_the_node_limit_is_refused(
    store: Path, tmp_path: Path, mlp_source: Path
) -> None:
    assert len(onnx.load(mlp_source / "model.onnx").graph.node) > 1
    with _client(store, tmp_path, max_model_nodes=1) as c:
        r = c.post("/v1/models", files=_files(mlp_source))
        assert r.status_code == 422
        assert "nodes" in r.json()["error"]["message"]
        assert not (store / "candidate").exists()


def test_model_over_the_size_limit_is_413(store: Path, tmp_path: Path, mlp_source: Path) -> None:
    assert (mlp_source / "model.onnx").stat().st_size > 1024
    with _client(store, tmp_path, max_upload_bytes=1024) as c:
        r = c.post("/v1/models", files=_files(mlp_source))
        assert r.status_code == 413
        assert not (store / "candidate").exists()


def test_background_over_the_row_limit_is_refused(
    store: Path, tmp_path: Path, source: Path
) -> None:
    with _client(store, tmp_path, max_background_rows=5) as c:
        r = c.post("/v1/models", files=_files(source))
        assert r.status_code == 422
        assert "more than 5 rows" in r.json()["error"]["message"]
