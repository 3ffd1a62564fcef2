"""Hand-built ONNX tree graphs (onnx.helper) for layouts no converter writes today."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from service.models.card import ModelCard
from tests.service.explain.trees.cases import Array, TreeCase, make_card, serve

# One tree over three columns: x0 <= 0.5 ? (x1 <= -0.2 ? 3 : 4) : (x2 <= 1.0 ? 5 : 6)
TREE: dict[str, list[Any]] = {
    "nodes_treeids": [0] * 7,
    "nodes_nodeids": list(range(7)),
    "nodes_featureids": [0, 1, 2, 0, 0, 0, 0],
    "nodes_values": [0.5, -0.2, 1.0, 0.0, 0.0, 0.0, 0.0],
    "nodes_modes": ["BRANCH_LEQ"] * 3 + ["LEAF"] * 4,
    "nodes_truenodeids": [1, 3, 5, 0, 0, 0, 0],
    "nodes_falsenodeids": [2, 4, 6, 0, 0, 0, 0],
    "nodes_missing_value_tracks_true": [1, 0, 0, 0, 0, 0, 0],
}
LEAVES = {3: 1.5, 4: -0.5, 5: 2.0, 6: 0.25}


def regressor(**overrides: Any) -> onnx.NodeProto:
    """A TreeEnsembleRegressor over TREE; ``overrides`` replace or add attributes."""
    attrs: dict[str, Any] = dict(TREE)
    attrs |= {
        "target_treeids": [0] * len(LEAVES),
        "target_nodeids": list(LEAVES),
        "target_ids": [0] * len(LEAVES),
        "target_weights": list(LEAVES.values()),
        "n_targets": 1,
    }
    attrs |= overrides
    attrs = {k: v for k, v in attrs.items() if v is not None}
    return helper.make_node("TreeEnsembleRegressor", ["X"], ["T"], domain="ai.onnx.ml", **attrs)


def classifier(class_ids: list[int], weights: list[float], **overrides: Any) -> onnx.NodeProto:
    """A two-label TreeEnsembleClassifier over TREE; one vote per (leaf, class id)."""
    leaves = list(LEAVES)
    per = len(class_ids)
    attrs: dict[str, Any] = dict(TREE)
    attrs |= {
        "class_treeids": [0] * (len(leaves) * per),
        "class_nodeids": [n for n in leaves for _ in range(per)],
        "class_ids": class_ids * len(leaves),
        "class_weights": weights,
        "classlabels_int64s": [0, 1],
        "post_transform": "NONE",
    }
    attrs |= overrides
    return helper.make_node(
        "TreeEnsembleClassifier", ["X"], ["L", "T"], domain="ai.onnx.ml", **attrs
    )


def graph(
    nodes: list[onnx.NodeProto],
    output: str = "Y",
    *,
    ml_opset: int = 3,
    elem: int = TensorProto.FLOAT,
    out_elem: int = TensorProto.FLOAT,
    width: int = 1,
    initializers: dict[str, float] | None = None,
) -> onnx.ModelProto:
    inits = [
        numpy_helper.from_array(np.asarray(v, np.float32), k)
        for k, v in (initializers or {}).items()
    ]
    g = helper.make_graph(
        nodes,
        "handmade",
        [helper.make_tensor_value_info("X", elem, [None, 3])],
        [helper.make_tensor_value_info(output, out_elem, [None, width])],
        initializer=inits,
    )
    model = helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", ml_opset)]
    )
    model.ir_version = 10 if ml_opset >= 5 else 8
    return model


def rows(seed: int, n: int, nan: bool = True) -> Array:
    """Rows around the splits, with NaN and exact threshold values mixed in."""
    rng = np.random.default_rng(seed)
    X = rng.normal(scale=1.5, size=(n, 3))
    X[::5, 0] = 0.5
    X[1::7, 1] = -0.2
    if nan:
        X[2::6, 0] = np.nan
        X[3::8, 2] = np.nan
    return X


def served(
    proto: onnx.ModelProto, card: ModelCard | None = None, name: str = "handmade"
) -> TreeCase:
    card = card or make_card(3, "regression", nullable=(0, 1, 2))
    return serve(name, None, proto, card, rows(1, 24), rows(2, 5))
