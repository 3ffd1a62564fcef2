"""Exact TreeSHAP read from the ONNX graph (no original model object needed).

The model's ``TreeSupport`` (parsed and self-checked at load, carried to the game
as ``Game.structure``) gives exact interventional Shapley values against the
game's background:
- ``output_space == "raw"``: per-path pattern tables (``service.explain.trees``), every
  output column, one-hot groups as single players; ``meta["algorithm"]`` is
  ``"interventional_path_tables"``.
- ``output_space == "probability"``: a probability is not additive over trees,
  so the exact answer is enumeration of every coalition through ONNX Runtime
  (``"exact_enumeration"``), offered up to ``max_players`` players. Beyond that
  the request is refused; shap's per-reference rescaling is an approximation and
  is deliberately not offered under this method's name.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from service.errors import InvalidInput
from service.explain.explainers._base import Explainer, Interval
from service.explain.explainers.exact_shap import MAX_PLAYERS, shapley_from_coalitions
from service.explain.explanation import Explanation
from service.explain.game import Game, all_masks

__all__ = ["TreeShap"]


class TreeShap(Explainer):
    """Exact interventional TreeSHAP on ONNX tree ensembles."""

    name: ClassVar[str] = "tree_shap"
    parameter_constraints: ClassVar[dict[str, Interval]] = {
        "seed": Interval(int, 0, 2**32 - 1),
        "max_players": Interval(int, 1, MAX_PLAYERS),
    }

    def __init__(self, *, seed: int = 0, max_players: int = 12) -> None:
        self.seed = seed
        self.max_players = max_players

    def check_game(self, game: Game) -> None:
        from service.explain.trees import TreeSupport, TreeUnsupported

        structure = game.structure
        if isinstance(structure, TreeUnsupported):
            raise InvalidInput(
                f"tree_shap is unavailable for this model: {structure.reason}",
                details={"field": "method", "problem": structure.reason},
            )
        if not isinstance(structure, TreeSupport):
            raise InvalidInput(
                "tree_shap is unavailable for this model: it is not a supported tree ensemble",
                details={"field": "method", "problem": "not a tree ensemble"},
            )
        if structure.ensemble.n_features != game.n_columns:
            raise InvalidInput(
                f"tree_shap: the trees read {structure.ensemble.n_features} columns; the game "
                f"has {game.n_columns}",
                details={"field": "method", "problem": "column count mismatch"},
            )
        if game.output_space == "probability" and game.n_players > self.max_players:
            raise InvalidInput(
                f"tree_shap gives exact probability-space values by enumerating all coalitions, "
                f"which allows at most {self.max_players} players; this model has "
                f"{game.n_players}. Ask for output 'raw' (exact and additive in margin space) "
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
        from service.explain.trees import TreeSupport

        support = game.structure
        assert isinstance(support, TreeSupport)  # guaranteed by check_game
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
