"""The one Shapley game every explainer plays.

Interventional SHAP: for a row ``x`` and a coalition ``S`` of players,

    v_x(S) = mean over background rows b of f(x_S, b_rest)

where a player is a feature, or all one-hot columns of one raw feature. Tree and
model-agnostic explainers play this same game, so their answers are comparable
and brute-force enumeration is an oracle for all of them.

The game evaluates many coalitions at once: it materialises (row, coalition,
background row) triples in large chunks and calls the model once per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from service.explain.trees.support import TreeSupport

__all__ = ["Game", "PredictFn", "all_masks"]

PredictFn = Callable[[NDArray[Any]], NDArray[np.float64]]
"""(n_rows, n_columns) canonical float matrix (float64, or the model's own input dtype)
-> (n_rows, n_outputs) float64 in the explained space."""


@dataclass(frozen=True, eq=False)
class Game:
    """The value function of the interventional game over a fixed background.

    predict: the model in the explained output space
    background: (n_background, n_columns)
    players: for each player, the column indices it owns
    """

    predict: PredictFn
    background: NDArray[np.float64]
    players: tuple[tuple[int, ...], ...]
    player_names: tuple[str, ...]
    output_names: tuple[str, ...]
    output_space: str
    chunk_rows: int = 131_072
    input_dtype: Any = np.float64
    """The dtype the model reads. Coalition rows are built in it: the runtime would cast
    them to it anyway (so results are identical), and float32 halves the bytes moved."""
    trees: TreeSupport | None = None
    """The model's verified tree structure (a white-box ``predict``), for exact tree methods."""
    column_types: tuple[str, ...] | None = None
    """Per column, the card's feature type (numeric, integer, binary, categorical); None reads
    as all numeric. Sampling explainers (lime) draw categorical and binary columns as categories."""

    def __post_init__(self) -> None:
        if self.background.ndim != 2 or self.background.shape[0] == 0:
            raise ValueError("the background must be a non-empty 2-d array")
        columns = sorted(c for p in self.players for c in p)
        if columns != list(range(self.n_columns)):
            raise ValueError("players must partition the columns exactly once")
        if len(self.player_names) != len(self.players):
            raise ValueError("one name per player is required")
        if self.column_types is not None and len(self.column_types) != self.n_columns:
            raise ValueError("column_types needs one type per column")

    @cached_property
    def _work_background(self) -> NDArray[Any]:
        return self.background.astype(self.input_dtype)

    @property
    def n_players(self) -> int:
        return len(self.players)

    @property
    def n_columns(self) -> int:
        return int(self.background.shape[1])

    @property
    def n_outputs(self) -> int:
        return len(self.output_names)

    @property
    def n_background(self) -> int:
        return int(self.background.shape[0])

    def column_masks(self, masks: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """(n_masks, n_players) player coalitions -> (n_masks, n_columns) column masks."""
        out = np.zeros((masks.shape[0], self.n_columns), dtype=bool)
        for j, cols in enumerate(self.players):
            out[:, list(cols)] = masks[:, [j]]
        return out

    def base_value(self) -> NDArray[np.float64]:
        """v(empty set) = mean_b f(b), shape (n_outputs,); the model runs over the
        background once per game."""
        return self._base_value.copy()

    @cached_property
    def _base_value(self) -> NDArray[np.float64]:
        return np.asarray(self.predict(self.background).mean(axis=0), dtype=np.float64)

    def values(
        self,
        X: NDArray[np.float64],
        masks: NDArray[np.bool_],
        rows: Sequence[int] | NDArray[np.intp] | None = None,
    ) -> NDArray[np.float64]:
        """Evaluate coalitions.

        X: (n_samples, n_columns)
        masks: (n_pairs, n_players); with ``rows`` (n_pairs,) each mask is played for
            ``X[rows[i]]``, otherwise every mask is played for every row.
        Returns (n_pairs, n_outputs) with ``rows``, else (n_samples, n_masks, n_outputs).
        """
        colmasks = self.column_masks(np.asarray(masks, dtype=bool))
        if rows is None:
            n, m = X.shape[0], colmasks.shape[0]
            row_idx = np.repeat(np.arange(n), m)
            mask_idx = np.tile(np.arange(m), n)
            flat = self._evaluate(X, colmasks, row_idx, mask_idx)
            return flat.reshape(n, m, -1)
        row_idx = np.asarray(rows, dtype=np.intp)
        return self._evaluate(X, colmasks, row_idx, np.arange(colmasks.shape[0]))

    def _evaluate(
        self,
        X: NDArray[np.float64],
        colmasks: NDArray[np.bool_],
        row_idx: NDArray[np.intp],
        mask_idx: NDArray[np.intp],
    ) -> NDArray[np.float64]:
        n_bg = self.n_background
        n_pairs = row_idx.shape[0]
        out = np.empty((n_pairs, self.n_outputs), dtype=np.float64)
        step = max(1, self.chunk_rows // n_bg)
        bg = self._work_background[None, :, :]
        X = X.astype(self.input_dtype, copy=False)
        for start in range(0, n_pairs, step):
            stop = min(n_pairs, start + step)
            m = colmasks[mask_idx[start:stop]][:, None, :]
            x = X[row_idx[start:stop]][:, None, :]
            Z = np.where(m, x, bg).reshape(-1, self.n_columns)
            y = self.predict(Z).reshape(stop - start, n_bg, -1)
            out[start:stop] = y.mean(axis=1)
        return out


def all_masks(n_players: int) -> NDArray[np.bool_]:
    """All 2**n_players coalitions; row i has bit j set when player j is in the coalition."""
    idx = np.arange(2**n_players, dtype=np.int64)[:, None]
    return ((idx >> np.arange(n_players, dtype=np.int64)) & 1).astype(bool)
