"""Exact TreeSHAP read from the ONNX graph (no original model object needed).

The model's ``TreeSupport`` (parsed and self-checked at load, the tree capability
the loader composes and hands to the game as ``Game.trees``) gives exact
interventional Shapley values against the game's background:
- ``output_space == "raw"``: per-path pattern tables (``service.explain.trees``), every
  output column, one-hot groups as single players; ``meta["algorithm"]`` is
  ``"interventional_path_tables"``.
- ``output_space == "probability"``: a probability is not additive over trees,
  so the exact answer is enumeration of every coalition through ONNX Runtime
  (``"exact_enumeration"``), offered up to ``max_players`` players (the option goes
  up to exact_shap's ``MAX_PLAYERS``). Beyond that the request is refused; shap's
  per-reference rescaling is an approximation and is deliberately not offered
  under this method's name.

Available for a model whose trees were verified at load; otherwise the loader's reason
is the answer to why not.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from service.errors import InvalidInput
from service.explain.capabilities import Capabilities
from service.explain.explainers._base import Explainer, Interval
from service.explain.explainers.exact_shap import (
    DEFAULT_MAX_PLAYERS,
    MAX_PLAYERS,
    shapley_from_coalitions,
)
from service.explain.explanation import Explanation
from service.explain.game import Game, all_masks
from service.explain.trees.support import TreeSupport

__all__ = ["TreeShap"]


class TreeShap(Explainer):
    """Exact interventional TreeSHAP on ONNX tree ensembles."""

    name: ClassVar[str] = "tree_shap"
    auto: ClassVar[bool] = True
    parameter_constraints: ClassVar[dict[str, Interval]] = {
        "seed": Interval(int, 0, 2**32 - 1),
        "max_players": Interval(int, 1, MAX_PLAYERS),
    }

    def __init__(self, *, seed: int = 0, max_players: int = DEFAULT_MAX_PLAYERS) -> None:
        self.seed = seed
        self.max_players = max_players

    @classmethod
    def unavailable(cls, model: Capabilities) -> str | None:
        trees = model.trees
        if not isinstance(trees, TreeSupport):
            return trees.reason
        if model.n_columns is not None and trees.ensemble.n_features != model.n_columns:
            return (
                f"the trees read {trees.ensemble.n_features} columns; "
                f"the model has {model.n_columns}"
            )
        return None

    def check(self, model: Capabilities) -> None:
        if model.output_space == "probability" and model.n_players > self.max_players:
            raise InvalidInput(
                f"tree_shap gives exact probability-space values by enumerating all coalitions, "
                f"which allows at most {self.max_players} players; this model has "
                f"{model.n_players}. Ask for output 'raw' (exact and additive in margin space) "
                "or use permutation_shap for an approximation of probability values.",
                details={"field": "output", "problem": "too many players for exact probabilities"},
            )

    def model_rows(self, game: Game, n_samples: int) -> int:
        if game.output_space == "probability":  # exact enumeration through the model
            return n_samples * (1 << game.n_players) * game.n_background
        return n_samples  # the path tables replace model evaluations

    def _explain(self, X: NDArray[np.float64]) -> Explanation:
        game = self.game_
        if game.output_space == "probability":
            return self._enumerate(X)
        support = game.trees
        assert support is not None  # guaranteed by fit: unavailable without trees
        values, base, tables, cached = support.interventional(X, game.background, game.players)
        n = X.shape[0]
        return self._explanation(
            values,
            np.repeat(base[None, :], n, axis=0),
            game.predict(X),
            meta={
                "algorithm": "interventional_path_tables",
                "exact": True,
                "n_paths": tables.paths.n_paths,
                "n_dense_tables": tables.n_dense,
                "n_background": tables.n_background,
                "tables_cached": cached,
            },
        )

    def _enumerate(self, X: NDArray[np.float64]) -> Explanation:
        game = self.game_
        masks = all_masks(game.n_players)
        v = game.values(X, masks)  # (n, 2**M, n_outputs)
        return self._explanation(
            shapley_from_coalitions(v, game.n_players),
            v[:, 0, :],
            v[:, -1, :],
            meta={
                "algorithm": "exact_enumeration",
                "exact": True,
                "coalitions": int(masks.shape[0]),
            },
        )
