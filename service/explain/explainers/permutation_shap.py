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

Budget (``_budget``): ``max_evals`` buys the permutations above; with ``max_error`` or
``time_budget_ms`` the permutations are walked in rounds that double (the first a quarter
of the budget), and a row stops at the first of the three reached. Those rounds draw in a
different order, so a budget with a target error or a time limit gives other numbers than
``max_evals`` alone. ``quality["evaluations"]`` counts the distinct coalitions a row
evaluated and ``meta["stopped_by"]`` says why each row stopped.

Shapes: ``explain(X)`` takes ``(n_samples, n_columns)`` and returns values
``(n_samples, n_players, n_outputs)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from service.explain.explainers._base import Explainer, Interval
from service.explain.explainers._budget import BUDGET_CONSTRAINTS, Clock
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
        **BUDGET_CONSTRAINTS,
    }

    def __init__(
        self,
        *,
        seed: int = 0,
        max_evals: int = 500,
        max_error: float = 0.0,
        time_budget_ms: float = 0.0,
    ) -> None:
        self.seed = seed
        self.max_evals = max_evals
        self.max_error = max_error
        self.time_budget_ms = time_budget_ms

    def model_rows(self, game: Game, n_samples: int) -> int:
        return n_samples * self.max_evals * game.n_background

    def _explain(self, X: NDArray[np.float64]) -> Explanation:
        if self.max_error > 0 or self.time_budget_ms > 0:
            return self._explain_in_rounds(X)
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
        distinct = np.empty(n)
        for start in range(0, n, block):
            stop = min(n, start + block)
            # rng.random fills doubles in order, so blocking does not change the draws
            order = np.argsort(rng.random((stop - start, p, m)), axis=-1)
            walk = _walk(game, X[start:stop], order)
            values[start:stop], error[start:stop] = walk.values, walk.error
            base_values[start:stop], outputs[start:stop] = walk.empty, walk.full
            evaluated += walk.evaluated
            distinct[start:stop] = walk.per_row
        return self._explanation(
            values,
            base_values,
            outputs,
            quality={"sampling_error": error, "evaluations": _per_output(distinct, k)},
            meta={
                "seed": self.seed,
                "permutations": p,
                "coalitions_evaluated": evaluated,
                "stopped_by": ["max_evals"] * n,
            },
        )

    def _explain_in_rounds(self, X: NDArray[np.float64]) -> Explanation:
        """Walk permutations in rounds until each row meets its target, its budget or the
        time limit (see the module docstring)."""
        clock = Clock(float(self.time_budget_ms))
        game = self.game_
        n, m, k = X.shape[0], game.n_players, game.n_outputs
        p_max = n_permutations(self.max_evals, m)
        rng = np.random.default_rng(self.seed)
        gains: list[list[NDArray[np.float64]]] = [[] for _ in range(n)]
        ends = np.empty((n, 2, k))
        evaluations = np.zeros(n)
        stopped = ["max_evals"] * n
        active = np.arange(n)
        batch = max(1, p_max // 4) if self.max_error > 0 else 1
        ms_per_perm = 0.0
        while active.size:
            done = sum(g.shape[0] for g in gains[active[0]])  # active rows move in step
            batch = min(batch, p_max - done)
            if clock.budget_ms > 0 and ms_per_perm > 0:
                batch = min(batch, int(clock.left_ms() / (ms_per_perm * active.size)))
            if batch < 1:
                for i in active:
                    stopped[i] = "time_budget"
                break
            started = clock.elapsed_ms()
            order = np.argsort(rng.random((active.size, batch, m)), axis=-1)
            walk = _walk(game, X[active], order)
            ms_per_perm = (clock.elapsed_ms() - started) / (batch * active.size)
            still = []
            for j, i in enumerate(active):
                gains[i].append(walk.per_perm[j])
                ends[i, 0], ends[i, 1] = walk.empty[j], walk.full[j]
                evaluations[i] += walk.per_row[j]
                _, se = _summary(gains[i])
                if done + batch >= p_max:
                    stopped[i] = "max_evals"
                elif self.max_error > 0 and done + batch > 1 and se.max() <= self.max_error:
                    stopped[i] = "max_error"
                elif clock.budget_ms > 0 and clock.left_ms() <= 0:
                    stopped[i] = "time_budget"
                else:
                    still.append(i)
            active = np.asarray(still, dtype=np.intp)
            batch *= 2
        values = np.empty((n, m, k))
        error = np.empty((n, k))
        for r in range(n):
            values[r], se = _summary(gains[r])
            error[r] = se.max(axis=0)
        return self._explanation(
            values,
            ends[:, 0],
            ends[:, 1],
            quality={"sampling_error": error, "evaluations": _per_output(evaluations, k)},
            meta={"seed": self.seed, "stopped_by": stopped},
        )


def _per_output(per_row: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    return np.repeat(np.asarray(per_row, dtype=np.float64)[:, None], k, axis=1)


def _summary(
    chunks: list[NDArray[np.float64]],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and standard error (m, k) of a row's per-permutation estimates (p, m, k)."""
    per_perm = np.concatenate(chunks)
    p = per_perm.shape[0]
    if p < 2:  # one permutation: no spread to read; the value's own size bounds the error
        return per_perm[0], np.abs(per_perm[0])
    return per_perm.mean(axis=0), per_perm.std(axis=0, ddof=1) / np.sqrt(p)


@dataclass(frozen=True)
class _Walk:
    """The estimates for one block of rows: values (b, m, k); error, empty, full (b, k)."""

    values: NDArray[np.float64]
    error: NDArray[np.float64]
    empty: NDArray[np.float64]
    full: NDArray[np.float64]
    evaluated: int
    per_perm: NDArray[np.float64]
    """(b, p, m, k): each permutation's estimate (the mean of its two walks)."""
    per_row: NDArray[np.float64]
    """(b,): distinct coalitions evaluated per row."""


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
    rows = np.repeat(np.arange(b), c)
    v, evaluated, first = _play_once(game, X, masks.reshape(-1, m), rows)
    per_row = np.bincount(rows[first], minlength=b).astype(np.float64) - 2  # not the ends
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
    return _Walk(values, se.max(axis=1), empty.copy(), full.copy(), evaluated, per_perm, per_row)


def _play_once(
    game: Game, X: NDArray[np.float64], masks: NDArray[np.bool_], rows: NDArray[np.intp]
) -> tuple[NDArray[np.float64], int, NDArray[np.intp]]:
    """Evaluate (row, coalition) pairs, each distinct pair once.

    masks: (n_pairs, m), rows: (n_pairs,). Returns ((n_pairs, n_outputs), n_distinct, the
    index of each distinct pair's first occurrence).
    One value per distinct coalition also keeps the telescoping exact.
    """
    packed = np.packbits(masks, axis=1)
    row_bytes = rows.astype(">u4").view(np.uint8).reshape(-1, 4)
    keys = np.ascontiguousarray(np.concatenate([row_bytes, packed], axis=1))
    keys_void = keys.view(np.dtype((np.void, keys.shape[1]))).ravel()
    _, first, inverse = np.unique(keys_void, return_index=True, return_inverse=True)
    v = game.values(X, masks[first], rows=rows[first])
    return v[inverse.ravel()], int(first.shape[0]), first
