"""Tiny tree models from every producer, served as Clarion serves them, plus the two oracles.

Each builder trains a small model, converts it with its producer's exporter,
loads it through ``service.models.runtime.OnnxModel`` with a synthetic card and runs
``prepare_tree_support``. The oracles are shap's interventional TreeExplainer on
the original model (explicit masker, as research/onnx-treeshap.md §4 says) and
brute-force enumeration through ONNX Runtime (``ExactShap`` over a ``Game``).
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
from numpy.typing import NDArray

from service.explain.explainers.exact_shap import ExactShap
from service.explain.game import Game
from service.explain.trees import TreeSupport, TreeUnsupported, prepare_tree_support
from service.models.card import Feature, ModelCard
from service.models.runtime import OnnxModel

Array = NDArray[np.float64]
Space = Literal["raw", "probability"]
ATOL, RTOL = 1e-6, 1e-5


@dataclass(frozen=True, eq=False)
class TreeCase:
    """A served tree model; X (n, n_columns) rows to explain against ``background``."""

    name: str
    estimator: Any
    proto: onnx.ModelProto
    card: ModelCard
    model: OnnxModel
    support: TreeSupport | TreeUnsupported
    background: Array
    X: Array

    @property
    def tree_support(self) -> TreeSupport:
        assert isinstance(self.support, TreeSupport), getattr(self.support, "reason", "")
        return self.support

    def predict_raw(self, X: Array) -> Array:
        """The served model's raw space, as the loader composes it (the margin graph)."""
        return self.tree_support.predict_raw(X)

    def game(self, space: Space = "raw") -> Game:
        return make_game(self.model, self.card, self.background, space, self.support)


def make_card(
    n_features: int,
    task: Literal["classification", "regression"],
    n_classes: int = 2,
    nullable: Sequence[int] = (),
    groups: dict[int, str] | None = None,
    categorical: dict[int, int] | None = None,
) -> ModelCard:
    groups, categorical = groups or {}, categorical or {}
    features = []
    for j in range(n_features):
        if j in categorical:
            cats = tuple(f"k{i}" for i in range(categorical[j]))
            features.append(Feature(name=f"x{j}", type="categorical", categories=cats))
        else:
            features.append(
                Feature(
                    name=f"x{j}",
                    nullable=j in nullable,
                    group=groups.get(j),
                    type="binary" if j in groups else "numeric",
                )
            )
    classes = tuple(f"c{i}" for i in range(n_classes)) if task == "classification" else None
    return ModelCard(
        name="trees", version="1", task=task, features=tuple(features), classes=classes
    )


def make_game(
    model: OnnxModel,
    card: ModelCard,
    background: Array,
    space: Space,
    trees: TreeSupport | TreeUnsupported | None,
) -> Game:
    """The game the engine builds: with verified trees, raw space is their margin graph."""
    support = trees if isinstance(trees, TreeSupport) else None
    players = card.players
    return Game(
        predict=support.predict_raw if support and space == "raw" else model.function(space),
        background=background,
        players=tuple(p.columns for p in players),
        player_names=tuple(p.name for p in players),
        output_names=card.output_names,
        output_space=space,
        trees=support,
    )


def serve(
    name: str, estimator: Any, proto: onnx.ModelProto, card: ModelCard, background: Array, X: Array
) -> TreeCase:
    model = OnnxModel(proto, card)
    support = prepare_tree_support(model, proto, card, background)
    return TreeCase(name, estimator, proto, card, model, support, background, X)


def exact_values(case: TreeCase, space: Space = "raw") -> Array:
    """Brute force through ONNX Runtime: (n, n_players, n_outputs)."""
    return ExactShap(max_players=12).fit(case.game(space)).explain(case.X).values


def import_shap() -> Any:
    """Import shap with its one known import-time warning (matplotlib colormap API) ignored."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r"The set_(bad|over|under) function will be deprecated",
            category=PendingDeprecationWarning,
        )
        import shap
    return shap


def shap_values(case: TreeCase) -> Array:
    """shap's interventional raw values in Clarion's raw space: (n, n_features, n_outputs)."""
    shap = import_shap()
    masker = shap.maskers.Independent(case.background, max_samples=len(case.background))
    explainer = shap.TreeExplainer(
        case.estimator, masker, feature_perturbation="interventional", model_output="raw"
    )
    sv = np.asarray(explainer.shap_values(case.X, check_additivity=False), dtype=np.float64)
    head = case.tree_support.head
    if sv.ndim == 2:  # one margin s: binary [-s, s] or a regression value
        return np.stack([-sv, sv], axis=2) if head.n_outputs == 2 else sv[:, :, None]
    if head.post_transform == "SOFTMAX":
        return np.asarray(sv - sv.mean(axis=2, keepdims=True), dtype=np.float64)
    return sv


# -- data ------------------------------------------------------------------------------------
def classification_data(
    n: int, n_features: int, n_classes: int, seed: int, nan_columns: Sequence[int] = ()
) -> tuple[Array, NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    score = X[:, 0] + X[:, 1] * X[:, 2] - 0.5 * X[:, 3]
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1]))
    for j in nan_columns:
        X[rng.random(n) < 0.15, j] = np.nan
    return X, y.astype(np.int64)


def regression_data(n: int, n_features: int, seed: int) -> tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    return X, 3.0 * X[:, 0] + np.sin(2 * X[:, 1]) + X[:, 2] * X[:, 3]


def split(X: Array) -> tuple[Array, Array]:
    """Background (first 30 rows) and rows to explain (next 6)."""
    return X[:30].copy(), X[30:36].copy()


# -- producers -------------------------------------------------------------------------------
def sklearn_case(kind: str) -> TreeCase:
    from skl2onnx import to_onnx
    from sklearn.ensemble import (
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
    )

    n_classes = 3 if kind.endswith("multiclass") else 2
    estimator: Any
    if kind in ("extra_trees_regression", "gb_regression"):
        X, yr = regression_data(300, 5, seed=11)
        estimator = (
            ExtraTreesRegressor(n_estimators=8, max_depth=4, random_state=0)
            if kind == "extra_trees_regression"
            else GradientBoostingRegressor(n_estimators=15, max_depth=3, random_state=0)
        ).fit(X, yr)
        card = make_card(5, "regression")
    else:
        X, y = classification_data(300, 5, n_classes, seed=12)
        estimator = (
            RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0)
            if kind.startswith("rf")
            else GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0)
        ).fit(X, y)
        card = make_card(5, "classification", n_classes)
    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "classes_") else None
    proto = to_onnx(estimator, X[:1].astype(np.float32), options=options, target_opset=17)
    return serve(kind, estimator, proto, card, *split(X))


def xgboost_case(kind: str) -> TreeCase:
    import xgboost as xgb
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    estimator: Any
    nullable: tuple[int, ...] = (2,)
    if kind == "regression":
        X, yr = regression_data(300, 5, seed=21)
        X[np.random.default_rng(0).random(300) < 0.15, 2] = np.nan
        estimator = xgb.XGBRegressor(n_estimators=10, max_depth=3, n_jobs=1).fit(X, yr)
        card = make_card(5, "regression", nullable=nullable)
    elif kind == "poisson":
        X, yr = regression_data(300, 5, seed=22)
        counts = np.random.default_rng(1).poisson(np.exp(0.3 * yr.clip(-3, 3)))
        estimator = xgb.XGBRegressor(
            n_estimators=10, max_depth=3, n_jobs=1, objective="count:poisson"
        ).fit(X, counts)
        card, nullable = make_card(5, "regression"), ()
    else:
        n_classes = 3 if kind == "multiclass" else 2
        X, y = classification_data(300, 5, n_classes, seed=23, nan_columns=nullable)
        estimator = xgb.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1).fit(X, y)
        card = make_card(5, "classification", n_classes, nullable=nullable)
    proto = convert_xgboost(estimator, initial_types=[("input", FloatTensorType([None, 5]))])
    return serve(f"xgboost_{kind}", estimator, proto, card, *split(X))


def lightgbm_case(kind: str) -> TreeCase:
    import lightgbm as lgb
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    common: dict[str, Any] = dict(
        n_estimators=10, num_leaves=8, min_child_samples=5, verbose=-1, n_jobs=1
    )
    estimator: Any
    types = [("input", FloatTensorType([None, 5]))]
    if kind == "regression_split":
        X, yr = regression_data(300, 5, seed=31)
        estimator = lgb.LGBMRegressor(**common).fit(X, yr)
        proto = convert_lightgbm(estimator, initial_types=types, split=3)
        return serve(f"lightgbm_{kind}", estimator, proto, make_card(5, "regression"), *split(X))
    n_classes = 3 if kind == "multiclass" else 2
    X, y = classification_data(300, 5, n_classes, seed=32, nan_columns=(2,))
    categorical: dict[int, int] = {}
    fit_args: dict[str, Any] = {}
    if kind == "categorical":
        X[:, 0] = np.random.default_rng(2).integers(0, 8, size=300)
        y = ((X[:, 0] % 3 == 0) ^ (X[:, 1] > 0.3)).astype(np.int64)
        categorical = {0: 8}
        fit_args = {"categorical_feature": [0]}
        common |= dict(min_data_per_group=5, cat_smooth=1.0, max_cat_to_onehot=2)
    estimator = lgb.LGBMClassifier(**common).fit(X, y, **fit_args)
    proto = convert_lightgbm(estimator, initial_types=types, zipmap=False)
    card = make_card(5, "classification", n_classes, nullable=(2,), categorical=categorical)
    return serve(f"lightgbm_{kind}", estimator, proto, card, *split(X))


def catboost_case(kind: str) -> TreeCase:
    import catboost as cb

    common: dict[str, Any] = dict(
        iterations=10, depth=3, verbose=0, thread_count=1, allow_writing_files=False
    )
    estimator: Any
    if kind == "regression":
        X, yr = regression_data(300, 5, seed=41)
        estimator = cb.CatBoostRegressor(**common).fit(X, yr)
        card = make_card(5, "regression")
    else:
        n_classes = 3 if kind == "multiclass" else 2
        X, y = classification_data(300, 5, n_classes, seed=42)
        loss = "MultiClass" if n_classes == 3 else "Logloss"
        estimator = cb.CatBoostClassifier(loss_function=loss, **common).fit(X, y)
        card = make_card(5, "classification", n_classes)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        estimator.save_model(str(path), format="onnx")
        proto = onnx.load(str(path))
    return serve(f"catboost_{kind}", estimator, proto, card, *split(X))
