"""Normalised arrays: v5 sets and NEQ, v3 doubles, EQ chains collapsed, NaN routed as ORT does."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from service.explain.trees import TreeUnsupported, predict_scores
from service.explain.trees.ensemble import MEMBER
from tests.service.explain.trees.cases import (
    ATOL,
    RTOL,
    Array,
    TreeCase,
    exact_values,
    make_card,
    serve,
)
from tests.service.explain.trees.handmade import TREE, graph, regressor

PLAYERS = ((0,), (1,), (2,))


def _categorical_rows(seed: int, n: int) -> Array:
    rng = np.random.default_rng(seed)
    X = np.stack(
        [
            rng.integers(0, 8, n).astype(float),
            rng.integers(-1, 2, n).astype(float),
            rng.normal(size=n),
        ],
        axis=1,
    )
    X[::4, 0] = np.nan
    X[1::5, 1] = np.nan
    X[2::6, 2] = np.nan
    return X


def _check_exact(case: TreeCase) -> None:
    values, base, _, _ = case.tree_support.interventional(case.X, case.background, PLAYERS)
    np.testing.assert_allclose(values, exact_values(case), atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(base + values.sum(axis=1), case.model.predict_raw(case.X), atol=ATOL)


def test_tree_ensemble_v5_with_member_neq_and_nan_parses_and_is_exact() -> None:
    node = helper.make_node(
        "TreeEnsemble",
        ["X"],
        ["Y"],
        domain="ai.onnx.ml",
        tree_roots=[0],
        nodes_featureids=[0, 1, 2],
        nodes_splits=numpy_helper.from_array(np.array([0.0, 0.0, 0.7], np.float32)),
        nodes_modes=numpy_helper.from_array(np.array([6, 5, 1], np.uint8)),  # MEMBER, NEQ, LT
        nodes_truenodeids=[1, 0, 2],
        nodes_trueleafs=[0, 1, 1],
        nodes_falsenodeids=[2, 1, 3],
        nodes_falseleafs=[0, 1, 1],
        nodes_missing_value_tracks_true=[1, 0, 0],
        membership_values=numpy_helper.from_array(np.array([1.0, 3.0, np.nan], np.float32)),
        leaf_targetids=[0, 0, 0, 0],
        leaf_weights=numpy_helper.from_array(np.array([1.0, -2.0, 0.5, 3.0], np.float32)),
        n_targets=1,
        aggregate_function=1,
        post_transform=0,
    )
    card = make_card(3, "regression", nullable=(0, 1, 2))
    case = serve(
        "v5",
        None,
        graph([node], ml_opset=5),
        card,
        _categorical_rows(1, 30),
        _categorical_rows(2, 8),
    )
    ensemble = case.tree_support.ensemble
    assert ensemble.mode[ensemble.roots[0]] == MEMBER
    # x0 in {1, 3}, then x1 is NaN: NEQ sends NaN to the true branch (leaf 1.0) in ORT.
    row = np.array([[3.0, np.nan, 0.0], [np.nan, 0.0, 5.0], [2.0, 0.0, 0.7]])
    np.testing.assert_allclose(predict_scores(ensemble, row)[:, 0], [1.0, -2.0, 3.0])
    np.testing.assert_allclose(case.model.run(row)[:, 0], [1.0, -2.0, 3.0])
    _check_exact(case)


def test_v3_double_attributes_compare_in_double() -> None:
    """A double threshold 0.7 in a double graph: 0.69999999 <= 0.7, though float32(0.7) < it."""
    doubles = {
        "nodes_values": None,
        "nodes_values_as_tensor": numpy_helper.from_array(
            np.array([0.7, -0.2, 1.0, 0, 0, 0, 0], np.float64)
        ),
        "target_weights": None,
        "target_weights_as_tensor": numpy_helper.from_array(
            np.array([1.5, -0.5, 2.0, 0.25], np.float64)
        ),
        "base_values_as_tensor": numpy_helper.from_array(np.array([0.125], np.float64)),
    }
    proto = graph(
        [regressor(**doubles), helper.make_node("Identity", ["T"], ["Y"])], elem=TensorProto.DOUBLE
    )
    rng = np.random.default_rng(3)
    background, X = rng.normal(size=(20, 3)), rng.normal(size=(4, 3))
    X[0, 0] = 0.69999999
    case = serve("v3", None, proto, make_card(3, "regression", nullable=(0, 1, 2)), background, X)
    ensemble = case.tree_support.ensemble
    assert ensemble.dtypes == (np.dtype(np.float64),)
    assert ensemble.threshold[ensemble.roots[0]] == 0.7
    assert predict_scores(ensemble, X[:1])[0, 0] == case.model.run(X[:1])[0, 0]
    _check_exact(case)


def test_equality_chains_sharing_a_child_collapse_into_one_set_node() -> None:
    """x0 == 1 | x0 == 4 | x0 == 6 -> node 3, as LightGBM and XGBoost write categorical splits."""
    chain = {
        "nodes_treeids": [0] * 7,
        "nodes_nodeids": list(range(7)),
        "nodes_featureids": [0, 0, 0, 1, 0, 0, 0],
        "nodes_values": [1.0, 4.0, 6.0, 0.0, 0.0, 0.0, 0.0],
        "nodes_modes": ["BRANCH_EQ"] * 3 + ["BRANCH_LEQ"] + ["LEAF"] * 3,
        "nodes_truenodeids": [3, 3, 3, 5, 0, 0, 0],
        "nodes_falsenodeids": [1, 2, 4, 6, 0, 0, 0],
        "nodes_missing_value_tracks_true": [1, 1, 1, 0, 0, 0, 0],
    }
    node = regressor(
        **chain,
        target_nodeids=[4, 5, 6],
        target_treeids=[0] * 3,
        target_ids=[0] * 3,
        target_weights=[1.0, -1.0, 2.5],
    )
    card = make_card(3, "regression", nullable=(0, 1, 2))
    proto = graph([node, helper.make_node("Identity", ["T"], ["Y"])], ml_opset=1)
    case = serve("chain", None, proto, card, _categorical_rows(4, 30), _categorical_rows(5, 8))
    assert case.model.run(np.array([[np.nan, 1.0, 0.0]]))[0, 0] == 2.5  # NaN -> node 3 -> x1 > 0
    ensemble = case.tree_support.ensemble
    root = ensemble.roots[0]
    assert ensemble.n_nodes == 5  # the two inner links of the chain are gone
    assert ensemble.mode[root] == MEMBER
    assert bool(ensemble.nan_true[root])
    lo, hi = ensemble.set_ptr[root], ensemble.set_ptr[root + 1]
    assert ensemble.set_values[lo:hi].tolist() == [1.0, 4.0, 6.0]
    _check_exact(case)


def test_an_equality_chain_with_inconsistent_nan_routing_is_refused() -> None:
    """ORT 1.32 routes NaN by the first node of a chain it merges, by every node otherwise."""
    node = regressor(
        nodes_modes=["BRANCH_EQ"] * 3 + ["LEAF"] * 4,
        nodes_featureids=[0] * 7,
        nodes_values=[1.0, 4.0, 6.0, 0, 0, 0, 0],
        nodes_truenodeids=[3, 3, 3, 0, 0, 0, 0],
        nodes_falsenodeids=[1, 2, 4, 0, 0, 0, 0],
        nodes_missing_value_tracks_true=[0, 1, 0, 0, 0, 0, 0],
    )
    proto = graph([node, helper.make_node("Identity", ["T"], ["Y"])])
    support = serve(
        "mixed",
        None,
        proto,
        make_card(3, "regression"),
        _categorical_rows(4, 9),
        _categorical_rows(5, 2),
    ).support
    assert isinstance(support, TreeUnsupported)
    assert "routes missing values inconsistently" in support.reason


def test_tree_with_a_single_leaf_only_shifts_the_base() -> None:
    attrs = {k: v[:1] for k, v in TREE.items()} | {"nodes_modes": ["LEAF"]}
    node = regressor(
        **attrs, target_treeids=[0], target_nodeids=[0], target_ids=[0], target_weights=[4.0]
    )
    proto = graph([node, helper.make_node("Identity", ["T"], ["Y"])])
    rng = np.random.default_rng(6)
    case = serve(
        "leaf",
        None,
        proto,
        make_card(3, "regression"),
        rng.normal(size=(5, 3)),
        rng.normal(size=(2, 3)),
    )
    values, base, _, _ = case.tree_support.interventional(case.X, case.background, PLAYERS)
    assert np.all(values == 0.0)
    assert base[0] == 4.0
