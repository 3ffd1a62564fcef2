"""Path tables: one-hot groups as single players, dense tables and the table-less path agree."""

from __future__ import annotations

import numpy as np
import pytest

from service.explain.trees import build_tables, compile_paths, shapley_values
from tests.service.explain.trees.cases import (
    ATOL,
    RTOL,
    TreeCase,
    exact_values,
    make_card,
    serve,
    shap_values,
)


@pytest.fixture(scope="module")
def grouped_case() -> TreeCase:
    """XGBoost on two numeric columns and a three-column one-hot group."""
    import xgboost as xgb
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    rng = np.random.default_rng(7)
    onehot = np.eye(3)[rng.integers(0, 3, size=300)]
    X = np.concatenate([rng.normal(size=(300, 2)), onehot], axis=1)
    y = (((X[:, 2] > 0.5) & (X[:, 0] > 0)) | ((X[:, 3] > 0.5) & (X[:, 1] > 0))).astype(int)
    model = xgb.XGBClassifier(n_estimators=12, max_depth=4, n_jobs=1).fit(X, y)
    proto = convert_xgboost(model, initial_types=[("input", FloatTensorType([None, 5]))])
    card = make_card(5, "classification", groups={2: "colour", 3: "colour", 4: "colour"})
    return serve("grouped", model, proto, card, X[:25], X[25:31])


@pytest.fixture(scope="module")
def deep_case() -> TreeCase:
    """LightGBM leaf-wise trees on 12 columns: paths read more players than a dense table holds."""
    import lightgbm as lgb
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    rng = np.random.default_rng(8)
    X = rng.normal(size=(1500, 12))
    y = np.sin(X[:, 0] * X[:, 1]) + X[:, 2:].sum(axis=1) * X[:, 3]
    model = lgb.LGBMRegressor(
        n_estimators=3, num_leaves=256, min_child_samples=2, verbose=-1, n_jobs=1
    ).fit(X, y)
    proto = convert_lightgbm(model, initial_types=[("input", FloatTensorType([None, 12]))])
    return serve("deep", model, proto, make_card(12, "regression"), X[:12], X[12:14])


def test_a_one_hot_group_is_one_player_computed_exactly(grouped_case: TreeCase) -> None:
    players = tuple(p.columns for p in grouped_case.card.players)
    assert players == ((0,), (1,), (2, 3, 4))
    support = grouped_case.tree_support
    values, _, _, _ = support.interventional(grouped_case.X, grouped_case.background, players)
    np.testing.assert_allclose(values, exact_values(grouped_case), atol=ATOL, rtol=RTOL)
    # Not the same as summing per-column values: the group's interaction is shared inside it.
    single = tuple((j,) for j in range(5))
    per_column, _, _, _ = support.interventional(grouped_case.X, grouped_case.background, single)
    assert np.abs(per_column[:, 2:].sum(axis=1) - values[:, 2]).max() > 1e-3


def test_table_less_paths_agree_with_dense_tables(grouped_case: TreeCase) -> None:
    ensemble = grouped_case.tree_support.ensemble
    paths = compile_paths(ensemble, tuple((j,) for j in range(5)))
    dense = build_tables(ensemble, paths, grouped_case.background)
    sparse = build_tables(ensemble, paths, grouped_case.background, max_dense_slots=0)
    assert dense.n_dense == paths.n_paths
    assert sparse.n_dense == 0
    np.testing.assert_allclose(
        shapley_values(ensemble, sparse, grouped_case.X),
        shapley_values(ensemble, dense, grouped_case.X),
        atol=1e-12,
    )


def test_deep_paths_are_exact(deep_case: TreeCase) -> None:
    support = deep_case.tree_support
    players = tuple((j,) for j in range(12))
    values, base, tables, _ = support.interventional(deep_case.X, deep_case.background, players)
    assert int(tables.paths.k.max()) > 8
    assert tables.n_dense < tables.paths.n_paths
    np.testing.assert_allclose(values, exact_values(deep_case), atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(
        base + values.sum(axis=1), deep_case.predict_raw(deep_case.X), atol=ATOL, rtol=RTOL
    )


@pytest.fixture(scope="module")
def deep_forest_case() -> TreeCase:
    """A depth-12 random forest and 150 background rows: long paths, and more than 64
    distinct background patterns per path (several words of slot bit sets)."""
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(9)
    X = rng.normal(size=(2000, 14))
    y = ((X[:, 0] * X[:, 1] + X[:, 2:].sum(axis=1) * X[:, 3]) > 0).astype(int)
    model = RandomForestClassifier(n_estimators=6, max_depth=12, random_state=0).fit(X, y)
    proto = to_onnx(model, X[:1].astype(np.float32), options={"zipmap": False}, target_opset=17)
    card = make_card(14, "classification")
    return serve("deep_forest", model, proto, card, X[:150], X[150:156])


def test_long_paths_in_a_deep_forest_match_shap_and_dense_tables(
    deep_forest_case: TreeCase,
) -> None:
    case = deep_forest_case
    support = case.tree_support
    players = tuple((j,) for j in range(14))
    values, base, tables, _ = support.interventional(case.X, case.background, players)
    assert int(tables.paths.k.max()) > 8
    assert tables.n_dense < tables.paths.n_paths
    assert int(np.diff(tables.sparse_ptr).max()) > 64  # several bit-set words on some path
    np.testing.assert_allclose(values, shap_values(case), atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(
        base + values.sum(axis=1), case.predict_raw(case.X), atol=ATOL, rtol=RTOL
    )
    ensemble = support.ensemble
    paths = compile_paths(ensemble, players)
    sparse = build_tables(ensemble, paths, case.background, max_dense_slots=0)
    dense = build_tables(ensemble, paths, case.background.repeat(2, axis=0))  # 2^8 <= rows
    assert sparse.n_dense == 0
    assert dense.n_dense > tables.n_dense
    np.testing.assert_allclose(
        shapley_values(ensemble, sparse, case.X),
        shapley_values(ensemble, dense, case.X),
        atol=1e-12,
    )
