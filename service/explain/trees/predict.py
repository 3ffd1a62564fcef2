"""Evaluating the normalised arrays: the model's tree scores, for the self-check and base values.

``predict_scores`` walks any ensemble a row at a time. ``Walk`` lays out an ensemble
whose splits all compare one way (LEQ, LT, GTE or GT: scikit-learn's, XGBoost's) for
``predict_walk``, which advances blocks of rows level by level without branches; same
sums in the same order, so the same scores to the bit, a few times faster on many rows.
``predict_chains`` scores permutation chains (a background row turned into the explained
row one player at a time), re-walking at each step only the trees the step can move.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from service.explain.trees.ensemble import TreeEnsemble

__all__ = ["Walk", "predict_chains", "predict_scores", "predict_walk"]

_NUMERIC_MODES = (0, 1, 2, 3)  # LEQ, LT, GTE, GT (_kernels)


def predict_scores(ensemble: TreeEnsemble, X: NDArray[np.float64]) -> NDArray[np.float64]:
    """Tree scores for canonical rows: X (n_samples, n_features) -> (n_samples, n_scores).

    Splits compare in the graph's dtype (``ensemble.prepare``); sums run in float64.
    """
    from service.explain.trees._kernels import (
        predict_kernel,  # numba loads on first use, not at import
    )

    e = ensemble
    Z = e.prepare(X)
    out: NDArray[np.float64] = predict_kernel(Z, *e.scoring_arrays())
    return out


@dataclass(frozen=True, eq=False)
class Walk:
    """An ensemble laid out for ``predict_walk``.

    feature (n_nodes,): leaves read column 0; children (2 * n_nodes,): false then true
    child, a leaf its own; depth (n_trees,): the longest path of each tree; mode: the one
    comparison; nan: whether some node sends NaN to its true child.
    """

    ensemble: TreeEnsemble
    feature: NDArray[np.intp]
    children: NDArray[np.intp]
    depth: NDArray[np.intp]
    mode: int
    nan: bool

    @classmethod
    def of(cls, ensemble: TreeEnsemble) -> Walk | None:
        """The layout, or None when the splits compare in more than one way or by set."""
        e = ensemble
        inner = e.leaf < 0
        modes = np.unique(e.mode[inner])
        if modes.size > 1 or (modes.size == 1 and int(modes[0]) not in _NUMERIC_MODES):
            return None
        nodes = np.arange(e.n_nodes)
        children = np.empty(2 * e.n_nodes, dtype=np.intp)
        children[0::2] = np.where(inner, e.false_child, nodes)
        children[1::2] = np.where(inner, e.true_child, nodes)
        depth = np.zeros(e.n_trees, dtype=np.intp)
        frontier, tree = e.roots.astype(np.intp), np.arange(e.n_trees)
        level = 0
        while frontier.size:
            keep = inner[frontier]
            frontier, tree = frontier[keep], tree[keep]
            level += 1
            depth[tree] = level
            frontier = np.concatenate([e.true_child[frontier], e.false_child[frontier]])
            tree = np.concatenate([tree, tree])
        return cls(
            ensemble=e,
            feature=np.where(inner, e.feature, 0).astype(np.intp),
            children=children,
            depth=depth,
            mode=int(modes[0]) if modes.size else 0,
            nan=bool(e.nan_true[inner].any()),
        )


def predict_walk(walk: Walk, X: NDArray[np.float64]) -> NDArray[np.float64]:
    """``predict_scores(walk.ensemble, X)`` bit for bit, faster on many rows.

    X (n_samples, n_features) -> (n_samples, n_scores).
    """
    from service.explain.trees._kernels import walk_kernel  # numba loads on first use

    e = walk.ensemble
    out: NDArray[np.float64] = walk_kernel(
        e.prepare(X),
        walk.feature,
        e.threshold,
        e.nan_true,
        walk.children,
        walk.mode,
        walk.nan,
        e.roots,
        walk.depth,
        e.leaf,
        e.leaf_values,
        e.base,
    )
    return out


def predict_chains(
    ensemble: TreeEnsemble,
    players: tuple[tuple[int, ...], ...],
    X: NDArray[np.float64],
    background: NDArray[np.float64],
    perms: NDArray[np.int64],
    refs: NDArray[np.int64],
) -> NDArray[np.float64]:
    """Tree scores along permutation chains, from a background row to the explained row.

    X: (n, n_features); background: (n_background, n_features); perms: (n, c, n_players)
    player orders; refs: (n, c) the background row each chain starts from. Returns
    (n, c, n_players + 1, n_scores): coalition t holds the first t players of the chain.
    Each used background row is walked once; a step then re-walks only the trees whose
    current leaf's root path splits on the added player.
    """
    from service.explain.trees._kernels import chain_kernel, leaf_players_kernel
    from service.explain.trees.paths import player_of_columns

    e = ensemble
    owner = player_of_columns(players, e.n_features)
    n_leaves = e.leaf_values.shape[0]
    if len(players) < 63:  # players as int64 bits; beyond that every tree is re-walked
        leaf_players = leaf_players_kernel(
            e.roots, e.feature, e.true_child, e.false_child, e.leaf, owner, n_leaves
        )
    else:
        leaf_players = np.full(n_leaves, -1, np.int64)
    used, refs = np.unique(refs, return_inverse=True)  # walk each used reference once
    col_idx = np.asarray([c for cols in players for c in cols], dtype=np.int64)
    col_ptr = np.cumsum([0, *(len(cols) for cols in players)]).astype(np.int64)
    out: NDArray[np.float64] = chain_kernel(
        e.prepare(X),
        e.prepare(background[used]),
        np.ascontiguousarray(perms, dtype=np.int64),
        refs.reshape(perms.shape[:2]).astype(np.int64),
        col_ptr,
        col_idx,
        leaf_players,
        *e.scoring_arrays(),
    )
    return out
