"""Root-to-leaf paths compiled into player slots, for one grouping of columns into players.

A path is the list of splits from a root to one leaf. Its *slots* are the distinct
players whose columns those splits read (a one-hot group is one player, so its
columns share a slot: that is what makes grouped values exact rather than sums).
For a row z, slot j of path p is "ok" when z satisfies every split of that path
on that player's columns; the k bits form the row's *pattern* on the path.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from service.errors import UnsupportedModel
from service.explain.trees.ensemble import TreeEnsemble

__all__ = ["MAX_PATHS", "MAX_SLOTS", "Paths", "compile_paths"]

MAX_PATHS = 2_000_000
MAX_SLOTS = 62  # patterns are int64 bit masks
MAX_DEPTH = 256


@dataclass(frozen=True, eq=False)
class Paths:
    """Struct of arrays over P paths (paths without any split are left out).

    leaf: (P,) row of ``leaf_values``; k: (P,) number of slots
    cons_ptr: (P + 1,) offsets into cons_node / cons_true / cons_slot (one entry per split)
    slot_ptr: (P + 1,) offsets into slot_player (one entry per slot)
    prefix: (P,) how many leading splits path p shares with path p - 1 (paths are stored
        in depth-first order, so a row's pattern on p starts from its state on p - 1)
    """

    leaf: NDArray[np.int32]
    k: NDArray[np.int32]
    cons_ptr: NDArray[np.int64]
    cons_node: NDArray[np.int32]
    cons_true: NDArray[np.uint8]
    cons_slot: NDArray[np.int32]
    slot_ptr: NDArray[np.int64]
    slot_player: NDArray[np.int32]
    prefix: NDArray[np.int32]
    n_players: int

    @property
    def n_paths(self) -> int:
        return int(self.leaf.shape[0])

    @functools.cached_property
    def max_splits(self) -> int:
        """The most splits on one path (the kernel's scratch width): read per request."""
        return int(np.diff(self.cons_ptr).max(initial=0))


def player_of_columns(players: tuple[tuple[int, ...], ...], n_columns: int) -> NDArray[np.int32]:
    """(n_columns,) player id of each column."""
    owner = np.full(n_columns, -1, np.int32)
    for j, cols in enumerate(players):
        owner[list(cols)] = j
    if (owner < 0).any():
        raise ValueError("every column must belong to a player")
    return owner


def compile_paths(ensemble: TreeEnsemble, players: tuple[tuple[int, ...], ...]) -> Paths:
    """Enumerate every root-to-leaf path and map its splits to player slots."""
    owner = player_of_columns(players, ensemble.n_features)
    _check_path_count(ensemble)
    leaf_of = ensemble.leaf.tolist()
    true_child, false_child = ensemble.true_child.tolist(), ensemble.false_child.tolist()
    node_player = owner[ensemble.feature].tolist()
    leaves: list[int] = []
    ks: list[int] = []
    cons_ptr = [0]
    cons_node: list[int] = []
    cons_true: list[int] = []
    cons_slot: list[int] = []
    slot_ptr = [0]
    slot_player: list[int] = []
    prefix: list[int] = []
    previous: list[tuple[int, int]] = []
    for root in ensemble.roots.tolist():
        # Iterative DFS carrying the split list; trees are small, the totals are linear.
        stack: list[tuple[int, list[tuple[int, int]]]] = [(root, [])]
        while stack:
            node, splits = stack.pop()
            if leaf_of[node] >= 0:
                if not splits:
                    continue
                slots: dict[int, int] = {}
                for n, went in splits:
                    player = node_player[n]
                    slot = slots.setdefault(player, len(slots))
                    cons_node.append(n)
                    cons_true.append(went)
                    cons_slot.append(slot)
                if len(slots) > MAX_SLOTS:
                    raise UnsupportedModel(
                        f"a path reads {len(slots)} players; tree_shap allows {MAX_SLOTS}"
                    )
                shared = 0
                for a, b in zip(previous, splits, strict=False):
                    if a != b:
                        break
                    shared += 1
                prefix.append(shared)
                previous = splits
                leaves.append(leaf_of[node])
                ks.append(len(slots))
                cons_ptr.append(len(cons_node))
                slot_player.extend(slots)
                slot_ptr.append(len(slot_player))
                continue
            if len(splits) >= MAX_DEPTH:
                raise UnsupportedModel(f"a tree is deeper than {MAX_DEPTH} splits (or has a cycle)")
            stack.append((false_child[node], [*splits, (node, 0)]))
            stack.append((true_child[node], [*splits, (node, 1)]))
    return Paths(
        leaf=np.asarray(leaves, np.int32),
        k=np.asarray(ks, np.int32),
        cons_ptr=np.asarray(cons_ptr, np.int64),
        cons_node=np.asarray(cons_node, np.int32),
        cons_true=np.asarray(cons_true, np.uint8),
        cons_slot=np.asarray(cons_slot, np.int32),
        slot_ptr=np.asarray(slot_ptr, np.int64),
        slot_player=np.asarray(slot_player, np.int32),
        prefix=np.asarray(prefix, np.int32),
        n_players=len(players),
    )


def _check_path_count(ensemble: TreeEnsemble) -> None:
    """Count paths through the (possibly shared) nodes before enumerating them."""
    true_child, false_child = ensemble.true_child.tolist(), ensemble.false_child.tolist()
    count: list[float | None] = [1.0 if leaf >= 0 else None for leaf in ensemble.leaf.tolist()]
    for root in ensemble.roots.tolist():
        stack = [root]
        while stack:  # post-order with memo: a shared node is counted once
            node = stack[-1]
            if count[node] is not None:
                stack.pop()
                continue
            t, f = true_child[node], false_child[node]
            ct, cf = count[t], count[f]
            if ct is not None and cf is not None:
                count[node] = ct + cf
                stack.pop()
                continue
            if len(stack) > 2 * MAX_DEPTH:
                raise UnsupportedModel(f"a tree is deeper than {MAX_DEPTH} splits (or has a cycle)")
            stack.extend(c for c in (t, f) if count[c] is None)
    total = sum(count[r] or 0.0 for r in ensemble.roots.tolist())
    if total > MAX_PATHS:
        raise UnsupportedModel(
            f"the trees unfold into {total:.0f} root-to-leaf paths; tree_shap allows {MAX_PATHS}"
        )
