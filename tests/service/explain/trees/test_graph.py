"""Graph analysis: glue folded into leaves, heads recorded, the rest refused with a reason."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from service.explain.trees import TreeUnsupported, analyse_graph
from tests.service.explain.trees.cases import ATOL, RTOL, exact_values, make_card
from tests.service.explain.trees.handmade import LEAVES, TREE, classifier, graph, regressor, served


def _reason(nodes: list[onnx.NodeProto]) -> str:
    support = served(graph(nodes)).support
    assert isinstance(support, TreeUnsupported)
    return support.reason


def test_affine_glue_is_folded_into_leaves_and_base() -> None:
    nodes = [
        regressor(),
        helper.make_node("Mul", ["T", "two"], ["a"]),
        helper.make_node("Add", ["a", "half"], ["b"]),
        helper.make_node("Sub", ["half", "b"], ["c"]),  # constant minus trees: scale -1
        helper.make_node("Div", ["c", "four"], ["d"]),
        helper.make_node("Cast", ["d"], ["Y"], to=1),
    ]
    proto = graph(nodes, initializers={"two": 2.0, "half": 0.5, "four": 4.0})
    analysis = analyse_graph(proto, "Y")
    assert float(analysis.terms[0].scale) == pytest.approx(-0.5)
    assert float(analysis.bias) == pytest.approx(0.0)
    case = served(proto)
    values, base, _, _ = case.tree_support.interventional(
        case.X, case.background, ((0,), (1,), (2,))
    )
    np.testing.assert_allclose(values, exact_values(case), atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(base + values.sum(axis=1), case.model.predict_raw(case.X), atol=ATOL)


def test_average_aggregation_divides_by_the_tree_count() -> None:
    """Two copies of the tree (ids 0 and 1, the second with other weights), averaged, base 100."""
    attrs = {k: v + v for k, v in TREE.items()}
    attrs["nodes_treeids"] = [0] * 7 + [1] * 7
    leaves = list(LEAVES)
    node = regressor(
        **attrs,
        target_treeids=[0] * 4 + [1] * 4,
        target_nodeids=leaves + leaves,
        target_ids=[0] * 8,
        target_weights=[*LEAVES.values(), 4.0, 3.0, -2.0, 1.0],
        aggregate_function="AVERAGE",
        base_values=[100.0],
    )
    case = served(graph([node, helper.make_node("Identity", ["T"], ["Y"])]))
    assert case.tree_support.ensemble.n_trees == 2
    values, base, _, _ = case.tree_support.interventional(
        case.X, case.background, ((0,), (1,), (2,))
    )
    np.testing.assert_allclose(values, exact_values(case), atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(base + values.sum(axis=1), case.model.predict_raw(case.X), atol=1e-5)


@pytest.mark.parametrize("aggregate", ["MIN", "MAX"])
def test_min_and_max_aggregation_are_refused(aggregate: str) -> None:
    reason = _reason(
        [regressor(aggregate_function=aggregate), helper.make_node("Identity", ["T"], ["Y"])]
    )
    assert f"aggregate_function {aggregate}" in reason


def test_arbitrary_glue_is_refused_with_the_operator_named() -> None:
    reason = _reason([regressor(), helper.make_node("Abs", ["T"], ["Y"])])
    assert "Abs" in reason
    assert "not affine" in reason


def test_a_product_of_tree_outputs_is_refused() -> None:
    nodes = [
        regressor(),
        helper.make_node("Mul", ["T", "T"], ["Y"]),
    ]
    assert "not affine" in _reason(nodes)


def test_preprocessing_before_the_trees_is_refused() -> None:
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    pipe = make_pipeline(StandardScaler(), GradientBoostingRegressor(n_estimators=3, max_depth=2))
    pipe.fit(X, X[:, 0] - X[:, 1])
    proto = to_onnx(pipe, X[:1].astype(np.float32), target_opset=17)
    support = served(proto, make_card(3, "regression")).support
    assert isinstance(support, TreeUnsupported)
    assert "preprocessed input" in support.reason


def test_post_transform_followed_by_scaling_is_refused() -> None:
    nodes = [
        classifier([0], [0.2, 0.7, 0.1, 0.9], post_transform="LOGISTIC"),
        helper.make_node("Mul", ["T", "two"], ["Y"]),
    ]
    proto = graph(nodes, width=2, initializers={"two": 2.0})
    support = served(proto, make_card(3, "classification", nullable=(0,))).support
    assert isinstance(support, TreeUnsupported)
    assert "post_transform LOGISTIC is followed by glue" in support.reason


def test_an_unusual_binary_layout_is_refused() -> None:
    """One voting class id that is not 0: ORT drops the base and writes 0.5 / 0 columns."""
    proto = graph([classifier([1], [0.2, 0.7, 0.1, 0.9], post_transform="LOGISTIC")], "T", width=2)
    support = served(proto, make_card(3, "classification", nullable=(0,))).support
    assert isinstance(support, TreeUnsupported)
    assert "unusual binary classifier layout" in support.reason


def test_mixed_sign_binary_scores_under_none_are_explained_as_is() -> None:
    """ORT writes [-s, s] when some weight is negative; the raw space is that output."""
    proto = graph([classifier([0], [0.2, -0.7, 0.1, 0.9])], "T", width=2)
    case = served(proto, make_card(3, "classification", nullable=(0, 1, 2)))
    head = case.tree_support.head
    assert head.link == "identity"
    assert not head.complement
    out = case.model.run(case.X)
    np.testing.assert_allclose(out[:, 0], -out[:, 1], atol=1e-7)
    values, _, _, _ = case.tree_support.interventional(case.X, case.background, ((0,), (1,), (2,)))
    np.testing.assert_allclose(values, exact_values(case), atol=ATOL, rtol=RTOL)
