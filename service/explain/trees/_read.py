"""Reading one tree operator's attributes into plain arrays (no normalisation yet).

Both encodings end in the same ``OpTrees``: nodes and leaves share one position
space; children are positions; leaves hold a weight per score column.
- TreeEnsembleClassifier / TreeEnsembleRegressor (ai.onnx.ml v1-v3): nodes keyed
  by (tree id, node id), children given as ids, string modes, leaf votes as
  (tree, node, class/target, weight) tuples, ``*_as_tensor`` doubles in v3.
- TreeEnsemble (v5): children are positions with leaf flags, uint8 modes,
  BRANCH_MEMBER sets concatenated in ``membership_values`` separated by NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import numpy_helper

from service.errors import UnsupportedModel

__all__ = ["LEAF", "MODES", "OpTrees", "read_operator"]

MODES = (
    "BRANCH_LEQ",
    "BRANCH_LT",
    "BRANCH_GTE",
    "BRANCH_GT",
    "BRANCH_EQ",
    "BRANCH_NEQ",
    "BRANCH_MEMBER",
)
LEAF = 7
"""Mode code of a leaf; codes 0..6 follow the order of ``MODES`` (the v5 numbering)."""


@dataclass
class OpTrees:
    """One operator's trees. Positions index every array of length n_nodes."""

    feature: NDArray[np.int64]  # (n_nodes,), -1 on leaves
    threshold: NDArray[np.float64]  # (n_nodes,) as stored (float32 or double values)
    mode: NDArray[np.uint8]  # (n_nodes,) codes 0..6, LEAF
    nan_true: NDArray[np.bool_]  # (n_nodes,)
    true_child: NDArray[np.int64]  # (n_nodes,), -1 on leaves
    false_child: NDArray[np.int64]
    leaf_values: NDArray[np.float64]  # (n_nodes, width), zero rows on internal nodes
    roots: NDArray[np.int64]  # (n_trees,)
    base: NDArray[np.float64]  # as written: (0,), (1,) or (width,)
    width: int
    average: bool
    n_labels: int | None  # classifiers: number of class labels
    class_ids: frozenset[int]  # columns that receive votes
    sets: dict[int, NDArray[np.float64]] = field(default_factory=dict)  # MEMBER position -> values


def read_operator(node: onnx.NodeProto) -> OpTrees:
    """Read a TreeEnsembleClassifier / TreeEnsembleRegressor / TreeEnsemble node."""
    attrs = {a.name: a for a in node.attribute}
    if node.op_type == "TreeEnsemble":
        return _read_v5(attrs)
    return _read_v1(node.op_type, attrs)


def _ints(attrs: dict[str, onnx.AttributeProto], name: str) -> NDArray[np.int64]:
    return (
        np.asarray(list(attrs[name].ints), dtype=np.int64)
        if name in attrs
        else np.zeros(0, np.int64)
    )


def _reals(attrs: dict[str, onnx.AttributeProto], name: str) -> NDArray[np.float64]:
    """A float list, or its double ``_as_tensor`` twin (v3), as float64."""
    if name + "_as_tensor" in attrs:
        return np.asarray(numpy_helper.to_array(attrs[name + "_as_tensor"].t), np.float64).ravel()
    if name in attrs:
        return np.asarray(list(attrs[name].floats), dtype=np.float32).astype(np.float64)
    return np.zeros(0, np.float64)


def _tensor(attrs: dict[str, onnx.AttributeProto], name: str) -> NDArray[Any]:
    return np.asarray(numpy_helper.to_array(attrs[name].t)).ravel()


def _read_v1(op: str, attrs: dict[str, onnx.AttributeProto]) -> OpTrees:
    tree_ids, node_ids = _ints(attrs, "nodes_treeids"), _ints(attrs, "nodes_nodeids")
    n = tree_ids.shape[0]
    modes_text = (
        [m.decode() for m in attrs["nodes_modes"].strings] if "nodes_modes" in attrs else []
    )
    features = _ints(attrs, "nodes_featureids")
    values = _reals(attrs, "nodes_values")
    if len(modes_text) != n or node_ids.shape[0] != n or features.shape[0] != n:
        raise UnsupportedModel(f"{op}: the nodes_* attributes have different lengths")
    # Ids need not be contiguous nor restart per tree: key by the pair, as ORT does.
    position = {
        (int(t), int(i)): p for p, (t, i) in enumerate(zip(tree_ids, node_ids, strict=True))
    }
    if len(position) != n:
        raise UnsupportedModel(f"{op}: a (tree id, node id) pair is listed twice")
    mode = np.empty(n, np.uint8)
    for p, text in enumerate(modes_text):
        if text == "LEAF":
            mode[p] = LEAF
        elif text in MODES:
            mode[p] = MODES.index(text)
        else:
            raise UnsupportedModel(f"{op}: unknown node mode {text!r}")
    is_leaf = mode == LEAF
    tracks = _ints(attrs, "nodes_missing_value_tracks_true")
    nan_true = np.zeros(n, bool) if tracks.shape[0] == 0 else tracks.astype(bool)
    true_child = np.full(n, -1, np.int64)
    false_child = np.full(n, -1, np.int64)
    true_ids, false_ids = _ints(attrs, "nodes_truenodeids"), _ints(attrs, "nodes_falsenodeids")
    for pos in np.flatnonzero(~is_leaf):
        t = int(tree_ids[pos])
        try:
            true_child[pos] = position[(t, int(true_ids[pos]))]
            false_child[pos] = position[(t, int(false_ids[pos]))]
        except (KeyError, IndexError) as exc:
            raise UnsupportedModel(
                f"{op}: node {t}/{int(node_ids[pos])} points to a missing child"
            ) from exc
    # ORT starts a new tree (a root) wherever the listed tree id changes.
    roots = np.flatnonzero(np.r_[True, tree_ids[1:] != tree_ids[:-1]]).astype(np.int64)

    prefix = "class" if op == "TreeEnsembleClassifier" else "target"
    vote_trees, vote_nodes = _ints(attrs, f"{prefix}_treeids"), _ints(attrs, f"{prefix}_nodeids")
    vote_ids, vote_weights = _ints(attrs, f"{prefix}_ids"), _reals(attrs, f"{prefix}_weights")
    if op == "TreeEnsembleClassifier":
        labels = attrs.get("classlabels_int64s") or attrs.get("classlabels_strings")
        n_labels = len(labels.ints) + len(labels.strings) if labels is not None else 0
        width = n_labels
    else:
        n_labels = None
        width = int(attrs["n_targets"].i) if "n_targets" in attrs else 1
    if vote_ids.size and (vote_ids.min() < 0 or vote_ids.max() >= width):
        raise UnsupportedModel(f"{op}: a leaf votes for column {int(vote_ids.max())} of {width}")
    leaf_values = np.zeros((n, max(width, 1)), np.float64)
    for t, i, c, w in zip(vote_trees, vote_nodes, vote_ids, vote_weights, strict=True):
        leaf_pos = position.get((int(t), int(i)))
        if leaf_pos is None or not is_leaf[leaf_pos]:
            raise UnsupportedModel(
                f"{op}: a leaf weight refers to node {int(t)}/{int(i)}, not a leaf"
            )
        leaf_values[leaf_pos, c] += w
    aggregate = attrs["aggregate_function"].s.decode() if "aggregate_function" in attrs else "SUM"
    return OpTrees(
        feature=np.where(is_leaf, -1, features),
        threshold=np.where(is_leaf, 0.0, values if values.shape[0] == n else np.zeros(n)),
        mode=mode,
        nan_true=nan_true & ~is_leaf,
        true_child=true_child,
        false_child=false_child,
        leaf_values=leaf_values,
        roots=roots,
        base=_reals(attrs, "base_values"),
        width=width,
        average=aggregate == "AVERAGE",
        n_labels=n_labels,
        class_ids=frozenset(int(c) for c in vote_ids),
    )


def _read_v5(attrs: dict[str, onnx.AttributeProto]) -> OpTrees:
    features = _ints(attrs, "nodes_featureids")
    n_int = features.shape[0]
    splits = _tensor(attrs, "nodes_splits").astype(np.float64)
    modes = _tensor(attrs, "nodes_modes").astype(np.uint8)
    if splits.shape[0] != n_int or modes.shape[0] != n_int or (modes > 6).any():
        raise UnsupportedModel("TreeEnsemble: nodes_splits / nodes_modes do not match the nodes")
    targets = _ints(attrs, "leaf_targetids")
    weights = _tensor(attrs, "leaf_weights").astype(np.float64)
    n_leaves = targets.shape[0]
    width = int(attrs["n_targets"].i) if "n_targets" in attrs else 1
    if weights.shape[0] != n_leaves or (n_leaves and (targets.min() < 0 or targets.max() >= width)):
        raise UnsupportedModel("TreeEnsemble: leaf_targetids / leaf_weights do not match")
    n = n_int + n_leaves

    def child(ids: str, leafs: str) -> NDArray[np.int64]:
        # The v5 spec's sentence for the false branch reads inverted; ORT and the
        # reference implementation both treat flag 1 as "this is a leaf index".
        idx, flag = _ints(attrs, ids), _ints(attrs, leafs).astype(bool)
        if idx.shape[0] != n_int or flag.shape[0] != n_int:
            raise UnsupportedModel("TreeEnsemble: child arrays do not match the nodes")
        out = np.where(flag, idx + n_int, idx)
        if out.size and (out.min() < 0 or out.max() >= n):
            raise UnsupportedModel("TreeEnsemble: a child index is out of range")
        return out

    true_child = np.concatenate(
        [child("nodes_truenodeids", "nodes_trueleafs"), np.full(n_leaves, -1)]
    )
    false_child = np.concatenate(
        [child("nodes_falsenodeids", "nodes_falseleafs"), np.full(n_leaves, -1)]
    )
    tracks = _ints(attrs, "nodes_missing_value_tracks_true")
    nan_true = np.zeros(n, bool)
    nan_true[: tracks.shape[0]] = tracks.astype(bool)
    sets: dict[int, NDArray[np.float64]] = {}
    member_nodes = np.flatnonzero(modes == 6)
    if member_nodes.size:
        if "membership_values" not in attrs:
            raise UnsupportedModel("TreeEnsemble: BRANCH_MEMBER nodes without membership_values")
        values = _tensor(attrs, "membership_values").astype(np.float64)
        groups = np.split(values, np.flatnonzero(np.isnan(values)))
        chunks = [g[~np.isnan(g)] for g in groups]
        chunks = chunks[: member_nodes.size] if len(chunks) >= member_nodes.size else chunks
        if len(chunks) < member_nodes.size:
            raise UnsupportedModel("TreeEnsemble: fewer membership sets than BRANCH_MEMBER nodes")
        sets = {int(p): c for p, c in zip(member_nodes, chunks, strict=False)}
    leaf_values = np.zeros((n, max(width, 1)), np.float64)
    np.add.at(leaf_values, (n_int + np.arange(n_leaves), targets), weights)
    aggregate = int(attrs["aggregate_function"].i) if "aggregate_function" in attrs else 1
    roots = _ints(attrs, "tree_roots")
    if roots.size == 0 or roots.min() < 0 or roots.max() >= n_int:
        raise UnsupportedModel("TreeEnsemble: tree_roots out of range")
    return OpTrees(
        feature=np.concatenate([features, np.full(n_leaves, -1)]),
        threshold=np.concatenate([splits, np.zeros(n_leaves)]),
        mode=np.concatenate([modes, np.full(n_leaves, LEAF, np.uint8)]),
        nan_true=nan_true,
        true_child=true_child,
        false_child=false_child,
        leaf_values=leaf_values,
        roots=roots,
        base=np.zeros(0),
        width=width,
        average=aggregate == 0,
        n_labels=None,
        class_ids=frozenset(int(t) for t in targets),
        sets=sets,
    )
