"""Antithetic permutation sampling of Shapley values, batched over rows and permutations.

This module owns Clarion's permutation estimator. It is the estimator of shap's
``PermutationExplainer`` (with an ``Independent`` masker over the same background):
each random permutation of the players is walked forwards (adding players one by
one, from the empty coalition to the full one) and backwards (removing them in the
same order), and a player's value is the mean of its marginal contributions over
both walks of every permutation. A budget of ``max_evals`` buys
``max_evals // (2 * n_players + 1)`` permutations per row, at least one, which is
shap's own accounting.

Why not call shap: shap's explainer plays the same game but one row at a time, with
per-row Python overhead, and its first call in a process spends 8-9 s compiling
with numba (TRAPS.md). Here every coalition of every row and permutation is built
up front as a mask, duplicates are played once, and ``Game.values`` evaluates them
in a few large chunks, one model call per chunk. Randomness comes from a per-call
``np.random.default_rng(seed)``: no global state, safe under threads. The rows of
one call draw their permutations in turn from that generator, so the same rows and
seed give the same bytes, while a row's draws depend on its place in the batch.

Additive by construction: each walk telescopes from v(empty) to v(full), and both
are the very numbers returned as ``base_values`` and ``outputs``.

Quality: ``sampling_error`` (n_samples, n_outputs) is the largest, over players, of
the standard error of a player's value, estimated from the spread of the
per-permutation estimates (each the mean of one antithetic pair). The maximum,
not an RMS, so that it bounds every player's error bar. With a single permutation
the two half-walks stand in for the samples (a conservative estimate, since
antithetic walks are negatively correlated).

Shapes: ``explain(X)`` takes ``(n_samples, n_columns)`` and returns values
``(n_samples, n_players, n_outputs)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from service.explain.explainers._base import Explainer, Interval
from service.explain.explanation import Explanation
from service.explain.game import Game

__all__ = ["PermutationShap", "n_permutations"]

_MASK_CELLS = 4_000_000
"""Rows are processed in blocks of at most this many mask cells (coalitions x players)."""


def n_permutations(max_evals: int, n_players: int) -> int:
    """Permutations per row for a budget of ``max_evals`` evaluations (shap's accounting)."""
    return max(1, max_evals // (2 * n_players + 1))


class PermutationShap(Explainer):
    """Antithetic permutation estimates of interventional Shapley values."""

    name: ClassVar[str] = "permutation_shap"
    deterministic: ClassVar[bool] = False
    auto: ClassVar[bool] = True
    parameter_constraints: ClassVar[dict[str, Interval]] = {
        "seed": Interval(int, 0, 2**32 - 1),
        "max_evals": Interval(int, 10, 1_000_000),
    }

    def __init__(self, *, seed: int = 0, max_evals: int = 500) -> None:
        self.seed = seed
        self.max_evals = max_evals

    def model_rows(self, game: Game, n_samples: int) -> int:
        return n_samples * self.max_evals * game.n_background

    def _explain(self, X: NDArray[np.float64]) -> Explanation:
        game = self.game_
        n, m, k = X.shape[0], game.n_players, game.n_outputs
        p = n_permutations(self.max_evals, m)
        rng = np.random.default_rng(self.seed)
        values = np.empty((n, m, k), dtype=np.float64)
        error = np.empty((n, k), dtype=np.float64)
        base_values = np.empty((n, k), dtype=np.float64)
        outputs = np.empty((n, k), dtype=np.float64)
        per_row = 2 + 2 * p * (m - 1)
        block = max(1, _MASK_CELLS // (per_row * m))
        evaluated = 0
        for start in range(0, n, block):
            stop = min(n, start + block)
            # rng.random fills doubles in order, so blocking does not change the draws
            order = np.argsort(rng.random((stop - start, p, m)), axis=-1)
            walk = _walk(game, X[start:stop], order)
            values[start:stop], error[start:stop] = walk.values, walk.error
            base_values[start:stop], outputs[start:stop] = walk.empty, walk.full
            evaluated += walk.evaluated
        return self._explanation(
            values,
            base_values,
            outputs,
            quality={"sampling_error": error},
            meta={"seed": self.seed, "permutations": p, "coalitions_evaluated": evaluated},
        )


@dataclass(frozen=True)
class _Walk:
    """The estimates for one block of rows: values (b, m, k); error, empty, full (b, k)."""

    values: NDArray[np.float64]
    error: NDArray[np.float64]
    empty: NDArray[np.float64]
    full: NDArray[np.float64]
    evaluated: int


def _walk(game: Game, X: NDArray[np.float64], order: NDArray[np.intp]) -> _Walk:
    """Walk every permutation of every row forwards and backwards.

    X: (b, n_columns); order: (b, p, m), order[r, q, t] = the player at position t.
    """
    b, p, m = order.shape
    rank = np.argsort(order, axis=-1)  # rank[r, q, j] = position of player j
    sizes = np.arange(1, m)[:, None]  # interior coalition sizes, (m - 1, 1)
    prefixes = rank[:, :, None, :] < sizes  # (b, p, m - 1, m): the first t players
    suffixes = rank[:, :, None, :] >= sizes  # the players from position t on
    ends = np.zeros((b, 2, m), dtype=bool)
    ends[:, 1] = True  # coalition 0 is empty, coalition 1 is full
    masks = np.concatenate(
        [ends, prefixes.reshape(b, -1, m), suffixes.reshape(b, -1, m)], axis=1
    )  # (b, c, m)
    c = masks.shape[1]
    v, evaluated = _play_once(game, X, masks.reshape(-1, m), np.repeat(np.arange(b), c))
    v = v.reshape(b, c, -1)
    k = v.shape[-1]
    empty, full = v[:, 0], v[:, 1]
    interior = p * (m - 1)
    pre = v[:, 2 : 2 + interior].reshape(b, p, m - 1, k)
    suf = v[:, 2 + interior :].reshape(b, p, m - 1, k)
    e = np.broadcast_to(empty[:, None, None, :], (b, p, 1, k))
    f = np.broadcast_to(full[:, None, None, :], (b, p, 1, k))
    forward = np.concatenate([e, pre, f], axis=2)  # value after t players joined
    backward = np.concatenate([f, suf, e], axis=2)  # value after t players left
    gain_fwd = np.diff(forward, axis=2)  # (b, p, m, k), by position
    gain_bwd = -np.diff(backward, axis=2)
    # back from positions to players
    gain_fwd = np.take_along_axis(gain_fwd, rank[..., None], axis=2)
    gain_bwd = np.take_along_axis(gain_bwd, rank[..., None], axis=2)
    per_perm = (gain_fwd + gain_bwd) / 2.0
    values = per_perm.mean(axis=1)
    if p > 1:
        se = per_perm.std(axis=1, ddof=1) / np.sqrt(p)
    else:
        se = np.abs(gain_fwd - gain_bwd)[:, 0] / 2.0
    return _Walk(values, se.max(axis=1), empty.copy(), full.copy(), evaluated)


def _play_once(
    game: Game, X: NDArray[np.float64], masks: NDArray[np.bool_], rows: NDArray[np.intp]
) -> tuple[NDArray[np.float64], int]:
    """Evaluate (row, coalition) pairs, each distinct pair once.

    masks: (n_pairs, m), rows: (n_pairs,). Returns ((n_pairs, n_outputs), n_distinct).
    One value per distinct coalition also keeps the telescoping exact.
    """
    packed = np.packbits(masks, axis=1)
    row_bytes = rows.astype(">u4").view(np.uint8).reshape(-1, 4)
    keys = np.ascontiguousarray(np.concatenate([row_bytes, packed], axis=1))
    keys_void = keys.view(np.dtype((np.void, keys.shape[1]))).ravel()
    _, first, inverse = np.unique(keys_void, return_index=True, return_inverse=True)
    v = game.values(X, masks[first], rows=rows[first])
    return v[inverse.ravel()], int(first.shape[0])
