"""Fixtures for the tree tests: each producer's tiny model, built once per session."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.service.explain.trees.cases import (
    TreeCase,
    catboost_case,
    lightgbm_case,
    sklearn_case,
    xgboost_case,
)

BUILDERS: dict[str, Callable[[], TreeCase]] = {
    "sklearn_rf_binary": lambda: sklearn_case("rf_binary"),
    "sklearn_rf_multiclass": lambda: sklearn_case("rf_multiclass"),
    "sklearn_extra_trees_regression": lambda: sklearn_case("extra_trees_regression"),
    "sklearn_gb_binary": lambda: sklearn_case("gb_binary"),
    "sklearn_gb_multiclass": lambda: sklearn_case("gb_multiclass"),
    "sklearn_gb_regression": lambda: sklearn_case("gb_regression"),
    "xgboost_binary_nan": lambda: xgboost_case("binary"),
    "xgboost_multiclass_nan": lambda: xgboost_case("multiclass"),
    "xgboost_regression_nan": lambda: xgboost_case("regression"),
    "xgboost_poisson_exp_head": lambda: xgboost_case("poisson"),
    "lightgbm_binary_nan": lambda: lightgbm_case("binary"),
    "lightgbm_multiclass_nan": lambda: lightgbm_case("multiclass"),
    "lightgbm_categorical": lambda: lightgbm_case("categorical"),
    "lightgbm_regression_split": lambda: lightgbm_case("regression_split"),
    "catboost_binary": lambda: catboost_case("binary"),
    "catboost_multiclass": lambda: catboost_case("multiclass"),
    "catboost_regression": lambda: catboost_case("regression"),
}

SHAP_CANNOT = {
    "sklearn_gb_multiclass": "shap refuses multiclass GradientBoostingClassifier",
    "lightgbm_categorical": "shap treats categorical splits as thresholds",
    "catboost_multiclass": "shap 0.51 segfaults on CatBoost multiclass (interventional)",
}

_built: dict[str, TreeCase] = {}


@pytest.fixture(scope="session")
def tree_case(request: pytest.FixtureRequest) -> TreeCase:
    """The case named by indirect parametrisation, trained and served once per session."""
    name = str(request.param)
    if name not in _built:
        _built[name] = BUILDERS[name]()
    return _built[name]
