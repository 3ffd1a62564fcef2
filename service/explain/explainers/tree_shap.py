"""Exact TreeSHAP read from the ONNX graph (no original model object needed).

The model's ``TreeSupport`` (parsed and self-checked at load, the tree capability
the loader composes and hands to the game as ``Game.trees``) gives exact
interventional Shapley values against the game's background:
- ``output_space == "raw"``: per-path pattern tables (``service.explain.trees``), every
  output column, one-hot groups as single players; ``meta["algorithm"]`` is
  ``"interventional_path_tables"``.
- ``output_space == "probability"``: where the link is the identity (forests that
  average probabilities) the raw values are the probability values, exact. Otherwise a
  probability is not additive over trees: up to ``max_players`` players (the option goes
  up to exact_shap's ``MAX_PLAYERS``) the answer is enumeration of every coalition
  through ONNX Runtime (``"exact_enumeration"``); beyond that it is near exact, the
  exact raw values serving as a control variate for the probability game and only the
  small residual sampled (``"raw_control_variate"``, ``_tree_probability``), with
  ``residual_pairs`` antithetic pairs of chains per row (by default whole passes over the
  background, ``default_pairs``), seeded, its ``sampling_error`` reported.
  shap's per-reference rescaling is an approximation and is deliberately not offered.

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
from service.explain.explainers._tree_probability import linear_links, residual_values
from service.explain.explainers.exact_shap import (
    DEFAULT_MAX_PLAYERS,
    MAX_PLAYERS,
    shapley_from_coalitions,
)
from service.explain.explanation import Explanation
from service.explain.game import Game, all_masks
from service.explain.trees.support import TreeSupport

__all__ = ["MAX_DEFAULT_PAIRS", "MIN_DEFAULT_PAIRS", "TreeShap", "default_pairs"]

MIN_DEFAULT_PAIRS = 64
"""By default at least this many antithetic pairs of chains per row for the residual of
the probability game (see ``_tree_probability``)."""

MAX_DEFAULT_PAIRS = 256
"""By default at most this many: beyond it a background is sampled in one partial pass."""


def default_pairs(n_background: int) -> int:
    """Pairs per row when ``residual_pairs`` is 0: whole passes over the background (at
    least ``MIN_DEFAULT_PAIRS``), ``MAX_DEFAULT_PAIRS`` for a larger background.

    Each pair starts from one background row, drawn in shuffled passes. The residual's
    values differ from one background row to the next, and a whole pass averages over
    every row exactly once, so that part of the error vanishes and only the chains' own
    spread is left. On german_credit's 100-row background, 100 pairs (one pass) give a mean
    absolute error of about 7e-4 over 16 rows, where 64 pairs gave about 1.1e-3 (both with
    the least-squares slope of ``_tree_probability``)
    (``bench/tree_probability_limits.py`` measures both parts and predicts the error at
    any number of pairs; ``bench/tree_shap_bench.py`` prints the cost and the error).
    """
    if n_background > MAX_DEFAULT_PAIRS:
        return MAX_DEFAULT_PAIRS
    return n_background * -(-MIN_DEFAULT_PAIRS // n_background)


class TreeShap(Explainer):
    """Exact interventional TreeSHAP on ONNX tree ensembles."""

    name: ClassVar[str] = "tree_shap"
    auto: ClassVar[bool] = True
    parameter_constraints: ClassVar[dict[str, Interval]] = {
        "seed": Interval(int, 0, 2**32 - 1),
        "max_players": Interval(int, 1, MAX_PLAYERS),
        "residual_pairs": Interval(int, 0, 100_000),  # 0: default_pairs; 1 is refused
    }

    @classmethod
    def rows_independent(cls, output_space: str) -> bool:
        # Raw space: the path-table kernels write each row's values from that row alone.
        return output_space == "raw"

    def __init__(
        self,
        *,
        seed: int = 0,
        max_players: int = DEFAULT_MAX_PLAYERS,
        residual_pairs: int = 0,
    ) -> None:
        self.seed = seed
        self.max_players = max_players
        self.residual_pairs = residual_pairs

    def validate_params(self) -> None:
        super().validate_params()
        if self.residual_pairs == 1:  # one pair has no spread: no honest sampling_error
            raise InvalidInput(
                "the 'residual_pairs' parameter of TreeShap must be 0 (whole passes over the "
                "background, the default) or at least 2; got 1",
                details={"field": "options.residual_pairs", "problem": "0 or at least 2"},
            )

    def _pairs(self, game: Game) -> int:
        return self.residual_pairs or default_pairs(game.n_background)

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
        trees = model.trees
        if (
            model.output_space == "probability"
            and model.n_players > self.max_players
            and isinstance(trees, TreeSupport)
            and (trees.head.exp or trees.head.post_transform not in ("LOGISTIC", "SOFTMAX"))
            and trees.link not in linear_links
        ):
            raise InvalidInput(
                f"tree_shap gives exact probability-space values by enumerating all coalitions, "
                f"which allows at most {self.max_players} players; this model has "
                f"{model.n_players}. Ask for output 'raw' (exact and additive in margin space) "
                "or use permutation_shap for an approximation of probability values.",
                details={"field": "output", "problem": "too many players for exact probabilities"},
            )

    @staticmethod
    def on_tables(game: Game) -> bool:
        """Whether ``game`` is explained from the path tables alone (raw space, or a
        probability that is the raw output): exact, and row by row, so a row's values do not
        depend on the rows explained with it (``Engine.explain_batch`` stacks such requests)."""
        support = game.trees
        return game.output_space != "probability" or (
            support is not None and support.link in linear_links and not support.head.exp
        )

    def _mode(self, game: Game) -> str:
        if self.on_tables(game):
            return "tables"
        return "enumerate" if game.n_players <= self.max_players else "control_variate"

    def model_rows(self, game: Game, n_samples: int) -> int:
        mode = self._mode(game)
        if mode == "enumerate":  # exact enumeration through the model
            return n_samples * (1 << game.n_players) * game.n_background
        if mode == "control_variate":  # chains through the tree arrays, and x itself
            return n_samples * (2 * self._pairs(game) * (game.n_players + 1) + 1)
        return n_samples  # the path tables replace model evaluations

    def _explain(self, X: NDArray[np.float64]) -> Explanation:
        game = self.game_
        mode = self._mode(game)
        if mode == "enumerate":
            return self._enumerate(X)
        support = game.trees
        assert support is not None  # guaranteed by fit: unavailable without trees
        values, base, tables, cached = support.interventional(X, game.background, game.players)
        n = X.shape[0]
        meta = {
            "algorithm": "interventional_path_tables",
            "exact": True,
            "n_paths": tables.paths.n_paths,
            "n_dense_tables": tables.n_dense,
            "n_background": tables.n_background,
            "tables_cached": cached,
        }
        if mode == "tables":  # raw space, or a probability that is the raw output
            return self._explanation(
                values, np.repeat(base[None, :], n, axis=0), self._outputs(X), meta=meta
            )
        pairs = self._pairs(game)
        estimate = residual_values(
            game, support, X, values, base, pairs, self.seed, outputs=self._outputs(X)
        )
        return self._explanation(
            estimate.values,
            np.repeat(game.base_value()[None, :], n, axis=0),
            estimate.outputs,
            quality={
                "sampling_error": estimate.sampling_error,
                "evaluations": np.full((n, game.n_outputs), float(estimate.evaluations)),
            },
            meta={
                **meta,
                "algorithm": "raw_control_variate",
                "exact": False,
                "seed": self.seed,
                "residual_pairs": pairs,
                "control_variate": "exact raw TreeSHAP times the link's Jacobian",
                "stopped_by": ["max_evals"] * n,
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
