"""Explainer test cases: tiny real ONNX models, their games, and an independent oracle.

Each case trains a small scikit-learn model, converts it with skl2onnx (no ZipMap),
serves it through ``service.models.runtime.OnnxModel`` with a synthetic card and builds the
``Game`` an explainer plays. The tree cases (``forest_case``, ``boosted_case``) are served
as the loader serves a tree model: their verified trees go to the game, whose raw space
is the trees' margin graph. ``brute_force_shapley`` computes Shapley values over all
coalitions with plain numpy loops, independently of ``service.explain.game``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from math import factorial
from typing import Any, Literal

import numpy as np
import onnx
from numpy.typing import NDArray

from service.explain.game import Game
from service.explain.trees import TreeSupport, prepare_tree_support
from service.models.card import Feature, ModelCard
from service.models.runtime import OnnxModel

Space = Literal["raw", "probability"]
Array = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Case:
    """A served model, its game and a few rows to explain (X: (n, n_columns))."""

    card: ModelCard
    model: OnnxModel
    game: Game
    X: Array
    background: Array
    estimator: Any  # the original scikit-learn model
    trees: TreeSupport | None = None

    def game_in(self, space: Space) -> Game:
        return make_game(self.model, self.card, self.background, space, self.trees)


def make_game(
    model: OnnxModel,
    card: ModelCard,
    background: Array,
    space: Space,
    trees: TreeSupport | None = None,
) -> Game:
    """The game the engine builds; with verified trees, raw space is their margin graph."""
    output_space = space if card.task == "classification" else "raw"
    players = card.players
    return Game(
        predict=(
            trees.predict_raw
            if trees is not None and output_space == "raw"
            else model.function(space)
        ),
        background=background,
        players=tuple(p.columns for p in players),
        player_names=tuple(p.name for p in players),
        output_names=card.output_names,
        output_space=output_space,
        column_types=tuple(f.type for f in card.features),
        trees=trees,
    )


def _onnx(estimator: Any, n_columns: int) -> onnx.ModelProto:
    from skl2onnx import to_onnx

    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "classes_") else None
    sample = np.zeros((1, n_columns), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skl2onnx's own deprecation chatter at conversion
        proto = to_onnx(estimator, sample, options=options, target_opset=17)
    assert isinstance(proto, onnx.ModelProto)
    return proto


def _card(
    names: Sequence[str],
    task: Literal["classification", "regression"],
    classes: Sequence[str] | None = None,
    types: dict[str, str] | None = None,
    groups: dict[str, str] | None = None,
) -> ModelCard:
    types, groups = types or {}, groups or {}
    features = []
    for name in names:
        kind = types.get(name, "numeric")
        categories = ("a", "b", "c") if kind == "categorical" else None
        features.append(
            Feature(name=name, type=kind, categories=categories, group=groups.get(name))
        )
    return ModelCard(
        name="test_model",
        version="1",
        task=task,
        features=tuple(features),
        classes=tuple(classes) if classes else None,
    )


def _case(
    estimator: Any,
    card: ModelCard,
    background: Array,
    X: Array,
    space: Space = "raw",
    *,
    with_trees: bool = False,
) -> Case:
    proto = _onnx(estimator, background.shape[1])
    model = OnnxModel(proto, card)
    trees = None
    if with_trees:
        support = prepare_tree_support(model, proto, card, background)
        assert isinstance(support, TreeSupport), support
        trees = support
    game = make_game(model, card, background, space, trees)
    return Case(card, model, game, X, background, estimator, trees)


def binary_case() -> Case:
    """Logistic regression on 4 features: x0 and x1 symmetric, x3 a dummy (weight 0)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    data = rng.normal(size=(200, 4))
    y = (data[:, 0] + data[:, 1] - 0.5 * data[:, 2] > 0).astype(int)
    lr = LogisticRegression().fit(data, y)
    lr.coef_ = np.array([[1.0, 1.0, -0.5, 0.0]])
    lr.intercept_ = np.array([0.25])
    half = rng.normal(size=(8, 4))
    background = np.concatenate([half, half[:, [1, 0, 2, 3]]])  # closed under swapping x0, x1
    X = rng.normal(size=(3, 4))
    X[:, 1] = X[:, 0]  # equal values for the symmetric pair
    card = _card(["x0", "x1", "x2", "x3"], "classification", ["no", "yes"])
    return _case(lr, card, background, X)


def multiclass_case() -> Case:
    """A small MLP with three classes on 5 features; x4 is a dummy (zero input weights)."""
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(2)
    data = rng.normal(size=(300, 5))
    y = np.digitize(data[:, 0] * data[:, 1] + data[:, 2] - 0.3 * data[:, 3], [-0.5, 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of a deliberately tiny fit
        mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=200, random_state=0).fit(data, y)
    mlp.coefs_[0][4, :] = 0.0
    card = _card([f"x{i}" for i in range(5)], "classification", ["low", "mid", "high"])
    return _case(mlp, card, rng.normal(size=(12, 5)), rng.normal(size=(3, 5)))


def regression_case() -> Case:
    """A small random forest regressor on 4 features."""
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(3)
    data = rng.normal(size=(200, 4))
    y = data[:, 0] * 2 + np.sin(data[:, 1] * 2) + data[:, 2] * data[:, 3]
    forest = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(data, y)
    card = _card([f"x{i}" for i in range(4)], "regression")
    return _case(forest, card, rng.normal(size=(12, 4)), rng.normal(size=(3, 4)))


def forest_case() -> Case:
    """A random forest regressor on 4 features served with its verified trees."""
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(7)
    data = rng.normal(size=(200, 4))
    y = data[:, 0] - np.cos(data[:, 1] * 2) + data[:, 2] * data[:, 3]
    forest = RandomForestRegressor(n_estimators=4, max_depth=4, random_state=0).fit(data, y)
    card = _card([f"x{i}" for i in range(4)], "regression")
    return _case(forest, card, rng.normal(size=(12, 4)), rng.normal(size=(3, 4)), with_trees=True)


def boosted_case() -> Case:
    """Gradient boosting, binary, on 5 features, served with its verified trees (raw space)."""
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(8)
    data = rng.normal(size=(300, 5))
    y = (data[:, 0] * data[:, 1] + data[:, 2] - 0.5 * data[:, 4] > 0).astype(int)
    gb = GradientBoostingClassifier(n_estimators=6, max_depth=3, random_state=0).fit(data, y)
    card = _card([f"x{i}" for i in range(5)], "classification", ["no", "yes"])
    return _case(gb, card, rng.normal(size=(10, 5)), rng.normal(size=(3, 5)), with_trees=True)


def group_case() -> Case:
    """Logistic regression over two numeric columns and a 3-column one-hot group 'colour'."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(4)

    def rows(n: int) -> Array:
        onehot = np.eye(3)[rng.integers(0, 3, size=n)]
        return np.concatenate([rng.normal(size=(n, 2)), onehot], axis=1)

    data = rows(300)
    y = (data[:, 0] - data[:, 1] + 1.5 * data[:, 2] - data[:, 4] > 0).astype(int)
    lr = LogisticRegression().fit(data, y)
    names = ["age", "income", "colour_red", "colour_green", "colour_blue"]
    groups = {n: "colour" for n in names[2:]}
    types = {n: "binary" for n in names[2:]}
    card = _card(names, "classification", ["no", "yes"], types=types, groups=groups)
    return _case(lr, card, rows(16), rows(3))


def wide_case() -> Case:
    """An MLP with 8 features and interactions, in raw (margin) space; x7 is a dummy."""
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(5)
    data = rng.normal(size=(400, 8))
    y = data[:, 0] * data[:, 1] + data[:, 2] - data[:, 3] * data[:, 4] + 0.5 * data[:, 5] > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0)
        mlp.fit(data, y.astype(int))
    mlp.coefs_[0][7, :] = 0.0
    card = _card([f"x{i}" for i in range(8)], "classification", ["no", "yes"])
    return _case(mlp, card, rng.normal(size=(16, 8)), rng.normal(size=(2, 8)))


def lime_case() -> Case:
    """An MLP on three numeric features and one categorical feature (category indices 0-2)."""
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(6)

    def rows(n: int) -> Array:
        return np.concatenate(
            [rng.normal(size=(n, 3)), rng.integers(0, 3, size=(n, 1)).astype(float)], axis=1
        )

    data = rows(400)
    y = (data[:, 0] + data[:, 1] * data[:, 2] - (data[:, 3] == 1) > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0).fit(data, y)
    card = _card(
        ["x0", "x1", "x2", "kind"], "classification", ["no", "yes"], {"kind": "categorical"}
    )
    return _case(mlp, card, rows(60), rows(3), space="probability")


def brute_force_shapley(
    f: Callable[[Array], Array],
    x: Array,
    background: Array,
    players: Sequence[Sequence[int]],
) -> Array:
    """Interventional Shapley values of one row x (n_columns,) by enumerating coalitions.

    v(S) = mean over background rows b of f(b with the columns of S taken from x).
    Returns (n_players, n_outputs).
    """
    m = len(players)
    cache: dict[frozenset[int], Array] = {}

    def v(coalition: frozenset[int]) -> Array:
        if coalition not in cache:
            z = background.copy()
            for p in coalition:
                for column in players[p]:
                    z[:, column] = x[column]
            cache[coalition] = f(z).mean(axis=0)
        return cache[coalition]

    phi = np.zeros((m, f(background[:1]).shape[1]))
    for j in range(m):
        others = [i for i in range(m) if i != j]
        for size in range(m):
            weight = factorial(size) * factorial(m - size - 1) / factorial(m)
            for subset in combinations(others, size):
                s = frozenset(subset)
                phi[j] += weight * (v(s | {j}) - v(s))
    return phi


def shapley_oracle(case: Case, space: Space = "raw") -> Array:
    """Brute-force Shapley values of a case's rows: (n, n_players, n_outputs)."""
    f = case.model.function(space)
    players = [p.columns for p in case.card.players]
    return np.stack([brute_force_shapley(f, x, case.background, players) for x in case.X])
