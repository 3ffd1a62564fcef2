"""The load-time entry point: self-check, raw-space configuration, cache, public surface."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import service.explain.trees
from service.explain.trees import TreeSupport, TreeUnsupported, prepare_tree_support
from service.models.runtime import OnnxModel
from tests.service.explain.trees.cases import TreeCase, make_card, sklearn_case

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def gb_case() -> TreeCase:
    return sklearn_case("gb_binary")


def _corrupted(proto: onnx.ModelProto, attribute: str, index: int, delta: float) -> onnx.ModelProto:
    copy = onnx.ModelProto.FromString(proto.SerializeToString())
    node = next(n for n in copy.graph.node if n.op_type == "TreeEnsembleClassifier")
    attr = next(a for a in node.attribute if a.name == attribute)
    attr.floats[index] += delta
    return copy


@pytest.mark.parametrize(("attribute", "delta"), [("nodes_values", 0.75), ("class_weights", 0.05)])
def test_the_self_check_catches_a_corrupted_model(
    gb_case: TreeCase, attribute: str, delta: float
) -> None:
    """The session runs the deployed graph; the parser is handed a tampered copy."""
    model = OnnxModel(gb_case.proto, gb_case.card)
    link_before = model.link
    index = 0 if attribute == "nodes_values" else 3
    support = prepare_tree_support(
        model, _corrupted(gb_case.proto, attribute, index, delta), gb_case.card, gb_case.background
    )
    assert isinstance(support, TreeUnsupported)
    assert support.reason.startswith("self-check failed")
    assert support.describe() == {"available": False, "reason": support.reason}
    assert model.link == link_before


def test_success_configures_the_models_raw_space(gb_case: TreeCase) -> None:
    model = OnnxModel(gb_case.proto, gb_case.card)
    support = prepare_tree_support(model, gb_case.proto, gb_case.card, gb_case.background)
    assert isinstance(support, TreeSupport)
    assert model.link == "logit"
    margins = support.margins(gb_case.X)
    np.testing.assert_allclose(model.predict_raw(gb_case.X), margins, atol=1e-6)
    np.testing.assert_allclose(margins[:, 0], -margins[:, 1])
    described = support.describe()
    assert described["post_transform"] == "LOGISTIC"
    assert described["self_check"]["max_raw_diff"] < 1e-6


def test_a_card_whose_link_contradicts_the_graph_is_refused(gb_case: TreeCase) -> None:
    card = gb_case.card.model_copy(
        update={"output": gb_case.card.output.model_copy(update={"link": "identity"})}
    )
    model = OnnxModel(gb_case.proto, card)
    support = prepare_tree_support(model, gb_case.proto, card, gb_case.background)
    assert isinstance(support, TreeUnsupported)
    assert "link 'identity'" in support.reason


def test_a_model_without_trees_is_refused_with_a_reason() -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    X = np.random.default_rng(0).normal(size=(20, 3))
    proto = to_onnx(LinearRegression().fit(X, X[:, 0]), X[:1].astype(np.float32), target_opset=17)
    card = make_card(3, "regression")
    support = prepare_tree_support(OnnxModel(proto, card), proto, card, X)
    assert isinstance(support, TreeUnsupported)
    assert "LinearRegressor" in support.reason


def test_tables_are_cached_per_background_and_grouping(gb_case: TreeCase) -> None:
    support, players = gb_case.tree_support, tuple((j,) for j in range(5))
    first, _ = support.tables(gb_case.background[:7], players)
    again, cached = support.tables(gb_case.background[:7].copy(), players)
    assert cached
    assert again is first
    other, cached = support.tables(gb_case.background[:8], players)
    assert not cached
    assert other is not first


def test_public_surface_is_sorted_and_pinned() -> None:
    assert service.explain.trees.__all__ == sorted(service.explain.trees.__all__)
    assert {"TreeSupport", "TreeUnsupported", "prepare_tree_support"} <= set(
        service.explain.trees.__all__
    )


def test_importing_the_trees_package_loads_nothing_heavy() -> None:
    code = (
        "import sys, service.explain.trees, service.explain.explainers.tree_shap\n"
        "print(sorted({'numba', 'onnxruntime', 'shap', 'sklearn'} & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
