"""Exact Shapley values by enumerating every coalition of players.

For M players this plays 2**M coalitions against the whole background, so it is
the oracle for small models: available up to ``MAX_PLAYERS`` players, and what ``auto``
picks (when no tree method applies) up to the default ``max_players``.
"""

from __future__ import annotations

from math import factorial
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from service.errors import InvalidInput
from service.explain.capabilities import Capabilities
from service.explain.explainers._base import Explainer, Interval
from service.explain.explanation import Explanation
from service.explain.game import Game, all_masks

__all__ = ["DEFAULT_MAX_PLAYERS", "MAX_PLAYERS", "ExactShap", "shapley_from_coalitions"]

MAX_PLAYERS = 14
"""The most players exact enumeration takes (2**14 coalitions per row, each against the
whole background): the bound of the ``max_players`` option and of availability."""
DEFAULT_MAX_PLAYERS = 12
"""The default ``max_players``: how far a request without the option (and ``auto``)
enumerates; raise the option up to ``MAX_PLAYERS`` to go further."""


class ExactShap(Explainer):
    """Exact interventional Shapley values (all 2**M coalitions)."""

    name: ClassVar[str] = "exact_shap"
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
        if model.n_players > MAX_PLAYERS:
            return f"{model.n_players} players; exact enumeration allows {MAX_PLAYERS}"
        return None

    def check(self, model: Capabilities) -> None:
        if model.n_players > self.max_players:
            raise InvalidInput(
                f"exact_shap enumerates all coalitions and allows at most {self.max_players} "
                f"players; this model has {model.n_players}. Raise options.max_players (up "
                f"to {MAX_PLAYERS}), or use tree_shap, permutation_shap or kernel_shap.",
                details={"field": "method", "problem": "too many players for exact_shap"},
            )

    def model_rows(self, game: Game, n_samples: int) -> int:
        return n_samples * (1 << game.n_players) * game.n_background

    def _explain(self, X: NDArray[np.float64]) -> Explanation:
        game = self.game_
        masks = all_masks(game.n_players)
        v = game.values(X, masks)  # (n, 2**M, k)
        values = shapley_from_coalitions(v, game.n_players)
        full = v[:, -1, :]
        empty = v[:, 0, :]
        return self._explanation(values, empty, full, meta={"coalitions": int(masks.shape[0])})


def shapley_from_coalitions(v: NDArray[np.float64], n_players: int) -> NDArray[np.float64]:
    """Shapley values from the values of all coalitions.

    v: (n_samples, 2**n_players, n_outputs), coalition index = bitmask of players.
    Returns (n_samples, n_players, n_outputs).
    """
    idx = np.arange(2**n_players)
    sizes = np.array([bin(i).count("1") for i in idx])
    m = n_players
    weights = np.array(
        [factorial(s) * factorial(m - s - 1) / factorial(m) for s in range(m)], dtype=np.float64
    )
    out = np.empty((v.shape[0], m, v.shape[2]), dtype=np.float64)
    for j in range(m):
        without = idx[(idx >> j) & 1 == 0]
        with_j = without | (1 << j)
        w = weights[sizes[without]]
        out[:, j, :] = np.einsum("c,nck->nk", w, v[:, with_j, :] - v[:, without, :])
    return out
