"""The normalised tree ensemble: one immutable struct of arrays, built once at load.

Whatever produced the graph, the trees end up here in one form:
- every node has a feature, a threshold in the graph's comparison dtype, a mode
  (LEQ, LT, GTE, GT, NEQ, MEMBER; EQ is stored as a one-value MEMBER set), a
  NaN flag and two children; leaves index rows of ``leaf_values``;
- chains of equality splits on one feature that share their true child (how
  LightGBM and XGBoost write categorical splits) are collapsed into one
  set-membership node, so a tree stays a tree and paths stay short;
- the affine glue found by graph analysis, AVERAGE aggregation and the base
  values are folded into ``leaf_values`` and ``base``;
- the score space has one column per output column of the operator, except the
  binary single-score layout, which keeps the one score ``s`` ORT synthesises
  its two columns from (see ``head.py``).

A row takes the true branch when ``x CMP threshold``, or when x is NaN and the
node's NaN flag is set (ORT's rule; NaN != t is true, so NEQ sends NaN true).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.errors import UnsupportedModel
from service.explain.trees._read import LEAF, OpTrees, read_operator
from service.explain.trees.graph import GraphAnalysis

__all__ = ["EQ", "MEMBER", "NEQ", "Layout", "TreeEnsemble", "build_ensemble"]

EQ, NEQ, MEMBER = 4, 5, 6
MAX_NODES = 5_000_000


@dataclass(frozen=True)
class Layout:
    """What the operators' output looks like around the score space."""

    classifier: bool
    binary_score: bool  # one score s; ORT writes two columns from it
    nonnegative: bool  # every leaf weight >= 0 (ORT then writes [1-s, s] under NONE)
    width: int  # columns the operator outputs


@dataclass(frozen=True, eq=False)
class TreeEnsemble:
    """Trees as flat arrays; nodes of all trees share one position space.

    feature, threshold, mode, nan_true, true_child, false_child, leaf: (n_nodes,)
    set_ptr: (n_nodes + 1,) CSR offsets into set_values (MEMBER nodes only)
    roots: (n_trees,)
    leaf_values: (n_leaves, n_scores) float64, glue folded in
    base: (n_scores,) float64
    dtypes: the graph input's dtype and each Cast before the trees; splits compare in the last
    """

    feature: NDArray[np.int32]
    threshold: NDArray[np.float64]
    mode: NDArray[np.uint8]
    nan_true: NDArray[np.bool_]
    true_child: NDArray[np.int32]
    false_child: NDArray[np.int32]
    leaf: NDArray[np.int32]
    set_ptr: NDArray[np.int64]
    set_values: NDArray[np.float64]
    roots: NDArray[np.int32]
    leaf_values: NDArray[np.float64]
    base: NDArray[np.float64]
    n_features: int
    dtypes: tuple[np.dtype[np.floating], ...]

    @property
    def n_nodes(self) -> int:
        return int(self.feature.shape[0])

    @property
    def n_trees(self) -> int:
        return int(self.roots.shape[0])

    @property
    def n_scores(self) -> int:
        return int(self.leaf_values.shape[1])

    def scoring_arrays(self) -> tuple[NDArray[Any], ...]:
        """The arrays the scoring kernels take after their own arguments, in their order:
        feature, threshold, mode, nan_true, true_child, false_child, leaf, set_ptr,
        set_values, roots, leaf_values, base (``_kernels.predict_kernel``)."""
        return (
            self.feature,
            self.threshold,
            self.mode,
            self.nan_true,
            self.true_child,
            self.false_child,
            self.leaf,
            self.set_ptr,
            self.set_values,
            self.roots,
            self.leaf_values,
            self.base,
        )

    def prepare(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """(n, n_features) canonical rows -> the values the trees compare, as float64."""
        Z = np.asarray(X, dtype=np.float64)
        for dtype in self.dtypes:
            Z = Z.astype(dtype)
        return np.ascontiguousarray(Z, dtype=np.float64)


def build_ensemble(analysis: GraphAnalysis, n_features: int) -> tuple[TreeEnsemble, Layout]:
    """Read every tree operator of the analysis and normalise them into one ensemble."""
    ops = [read_operator(t.node) for t in analysis.terms]
    layouts = {
        _layout(t.node.op_type, op, analysis.post_transform)
        for t, op in zip(analysis.terms, ops, strict=True)
    }
    if len(layouts) != 1:
        raise UnsupportedModel("the summed tree operators have different output layouts")
    layout = layouts.pop()
    if layout.binary_score and len(ops) > 1:
        raise UnsupportedModel(
            "several binary single-score classifiers are summed; ORT's synthesised "
            "second columns do not add up"
        )
    compare = analysis.dtypes[-1]
    n_scores = 1 if layout.binary_score else layout.width
    bias = np.broadcast_to(analysis.bias, (layout.width,)).astype(np.float64)
    base = np.zeros(n_scores)
    parts: list[OpTrees] = []
    for term, op in zip(analysis.terms, ops, strict=True):
        scale = np.broadcast_to(term.scale, (layout.width,)).astype(np.float64)
        values = op.leaf_values
        if compare == np.float32:  # ORT keeps weights in the comparison type
            values = values.astype(np.float32).astype(np.float64)
        if op.average:
            values = values / op.roots.shape[0]
        op_base = op.base.astype(compare).astype(np.float64)
        if layout.binary_score:
            if not (np.all(scale == 1.0) and np.all(bias == 0.0)):
                raise UnsupportedModel("glue rescales a binary single-score classifier's columns")
            values = values[:, :1]
            base += op_base[:1].sum()
        else:
            if op_base.shape[0] not in (0, layout.width):
                raise UnsupportedModel(
                    f"base_values has {op_base.shape[0]} entries for {layout.width} columns"
                )
            values = values * scale
            if op_base.shape[0]:
                base += op_base * scale
        parts.append(_with_values(op, values))
    if not layout.binary_score:
        base += bias
    merged = _concatenate(parts)
    _collapse_eq_chains(merged)
    return _compact(merged, base, n_features, analysis.dtypes), layout


def _layout(op_type: str, op: OpTrees, post: str) -> Layout:
    nonneg = bool(np.all(op.leaf_values >= 0))
    if op_type != "TreeEnsembleClassifier":
        return Layout(classifier=False, binary_score=False, nonnegative=nonneg, width=op.width)
    if op.n_labels == 2 and len(op.class_ids) == 1:
        # ORT's binary case: one score s, two columns synthesised from it. Only the
        # variants measured against ORT are accepted (TRAPS / research §1.1).
        if (
            op.class_ids != frozenset({0})
            or op.base.shape[0] > 1
            or post not in ("NONE", "LOGISTIC")
        ):
            raise UnsupportedModel(
                "an unusual binary classifier layout (one voting class id "
                f"{sorted(op.class_ids)}, {op.base.shape[0]} base values, {post}) whose output "
                "ONNX Runtime synthesises in ways tree_shap does not reproduce"
            )
        return Layout(classifier=True, binary_score=True, nonnegative=nonneg, width=2)
    return Layout(classifier=True, binary_score=False, nonnegative=nonneg, width=op.width)


def _with_values(op: OpTrees, values: NDArray[np.float64]) -> OpTrees:
    return OpTrees(
        op.feature,
        op.threshold,
        op.mode,
        op.nan_true,
        op.true_child,
        op.false_child,
        values,
        op.roots,
        op.base,
        op.width,
        op.average,
        op.n_labels,
        op.class_ids,
        op.sets,
    )


def _concatenate(parts: list[OpTrees]) -> OpTrees:
    offsets = np.cumsum([0] + [p.feature.shape[0] for p in parts])
    if offsets[-1] > MAX_NODES:
        raise UnsupportedModel(
            f"the ensemble has {offsets[-1]} nodes; tree_shap allows {MAX_NODES}"
        )

    def shift(a: NDArray[np.int64], off: int) -> NDArray[np.int64]:
        return np.where(a >= 0, a + off, -1)

    sets = {
        int(k) + int(off): v
        for p, off in zip(parts, offsets, strict=False)
        for k, v in p.sets.items()
    }
    return OpTrees(
        feature=np.concatenate([p.feature for p in parts]),
        threshold=np.concatenate([p.threshold for p in parts]),
        mode=np.concatenate([p.mode for p in parts]),
        nan_true=np.concatenate([p.nan_true for p in parts]),
        true_child=np.concatenate(
            [shift(p.true_child, int(o)) for p, o in zip(parts, offsets, strict=False)]
        ),
        false_child=np.concatenate(
            [shift(p.false_child, int(o)) for p, o in zip(parts, offsets, strict=False)]
        ),
        leaf_values=np.concatenate([p.leaf_values for p in parts]),
        roots=np.concatenate([p.roots + o for p, o in zip(parts, offsets, strict=False)]),
        base=np.zeros(0),
        width=parts[0].width,
        average=False,
        n_labels=parts[0].n_labels,
        class_ids=parts[0].class_ids,
        sets=sets,
    )


def _members(op: OpTrees, node: int) -> list[float]:
    return (
        [float(v) for v in op.sets[node]]
        if op.mode[node] == MEMBER
        else [float(op.threshold[node])]
    )


def _collapse_eq_chains(op: OpTrees) -> None:
    """Rewrite ``x==a ? T : (x==b ? T : F)`` chains into one ``x in {a, b} ? T : F`` node.

    Converters write categorical splits as such chains whose true branches share one
    child; unfolding that DAG would copy the child's subtree once per category. A NaN
    fails every equality, so the chain's nodes must agree on where NaN goes (see below).
    The skipped nodes become unreachable and are dropped later.
    """
    for node in np.flatnonzero((op.mode == EQ) | (op.mode == MEMBER)):
        feature, target = op.feature[node], op.true_child[node]
        members, nan_true = _members(op, int(node)), bool(op.nan_true[node])
        nxt = int(op.false_child[node])
        for _ in range(op.feature.shape[0]):  # bounded: a malformed graph may loop
            if not (
                op.mode[nxt] in (EQ, MEMBER)
                and op.feature[nxt] == feature
                and op.true_child[nxt] == target
                and nxt != node
            ):
                break
            if bool(op.nan_true[nxt]) != nan_true:
                # ORT merges some such chains itself and then routes NaN by the first
                # node's flag only (measured on 1.32; which chains depends on the values):
                # a version-specific rule we refuse rather than guess.
                raise UnsupportedModel(
                    "an equality chain on one column routes missing values inconsistently; "
                    "ONNX Runtime's own handling of such chains is version-specific"
                )
            members += _members(op, nxt)
            nxt = int(op.false_child[nxt])
        op.sets[int(node)] = np.unique(np.asarray(members, dtype=np.float64))
        op.mode[node] = MEMBER
        op.nan_true[node] = nan_true
        op.false_child[node] = nxt


def _compact(
    op: OpTrees,
    base: NDArray[np.float64],
    n_features: int,
    dtypes: tuple[np.dtype[np.floating], ...],
) -> TreeEnsemble:
    """Keep the nodes reachable from the roots, renumbered; round splits to the compare dtype."""
    order: list[int] = []
    index = np.full(op.feature.shape[0], -1, np.int64)
    stack = list(op.roots[::-1])
    while stack:
        node = int(stack.pop())
        if index[node] >= 0:
            continue
        index[node] = len(order)
        order.append(node)
        if op.mode[node] != LEAF:
            stack.extend((int(op.false_child[node]), int(op.true_child[node])))
    keep = np.asarray(order, dtype=np.int64)
    mode = op.mode[keep]
    internal = mode != LEAF
    feature = op.feature[keep]
    if internal.any() and (feature[internal].min() < 0 or feature[internal].max() >= n_features):
        raise UnsupportedModel(
            f"a split reads column {int(feature[internal].max())}; the model has {n_features}"
        )
    compare = dtypes[-1]
    leaf = np.full(keep.shape[0], -1, np.int32)
    leaf[~internal] = np.arange(int((~internal).sum()), dtype=np.int32)
    sizes = np.zeros(keep.shape[0], np.int64)
    chunks = []
    for new, old in enumerate(keep):
        if mode[new] == MEMBER:
            values = np.unique(op.sets[int(old)].astype(compare).astype(np.float64))
            sizes[new] = values.shape[0]
            chunks.append(values)
    set_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return TreeEnsemble(
        feature=np.where(internal, feature, 0).astype(np.int32),
        threshold=np.where(internal, op.threshold[keep], 0.0).astype(compare).astype(np.float64),
        mode=mode,
        nan_true=op.nan_true[keep] & internal,
        true_child=np.where(internal, index[op.true_child[keep]], -1).astype(np.int32),
        false_child=np.where(internal, index[op.false_child[keep]], -1).astype(np.int32),
        leaf=leaf,
        set_ptr=set_ptr,
        set_values=np.concatenate(chunks) if chunks else np.zeros(0),
        roots=index[op.roots].astype(np.int32),
        leaf_values=np.ascontiguousarray(op.leaf_values[keep[~internal]], dtype=np.float64),
        base=np.asarray(base, dtype=np.float64),
        n_features=n_features,
        dtypes=dtypes,
    )
