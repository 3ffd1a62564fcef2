"""The head: from tree scores to Clarion's raw space and to the graph's own output.

Clarion's raw space, per output column (what ``TreeSupport.predict_raw`` returns):
- regression: the value, or its log when the graph ends in ``Exp`` (link ``log``);
- binary LOGISTIC: the logit of each class, ``[-s, s]`` (link ``logit``); CatBoost's
  two opposite-weight columns are already that;
- SOFTMAX: centred margins ``s_k - mean_j s_j``, equal to centred log-probabilities
  (link ``log``);
- NONE classifiers (forests averaging probabilities): the output itself (link
  ``identity``); ORT's binary single-score layout writes ``[1-s, s]`` when every
  weight is non-negative and ``[-s, s]`` otherwise.

Every supported head is affine from the score space to the raw space:
``raw = scores @ matrix + offset``; so raw-space Shapley values are the
score-space ones times ``matrix``, and raw base values take the offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from service.errors import UnsupportedModel
from service.explain.trees.ensemble import Layout
from service.explain.trees.graph import GraphAnalysis

__all__ = ["Head", "Link", "make_head"]

Link = Literal["identity", "logit", "log"]


@dataclass(frozen=True, eq=False)
class Head:
    """matrix: (n_scores, n_outputs); offset: (n_outputs,)."""

    post_transform: str
    exp: bool
    link: Link
    binary_score: bool
    complement: bool  # binary single score under NONE with non-negative weights: [1-s, s]
    matrix: NDArray[np.float64]
    offset: NDArray[np.float64]
    exp_multiplier: float = 1.0  # c in c * exp(margin); log c is already in the tree scores

    @property
    def n_outputs(self) -> int:
        return int(self.matrix.shape[1])

    def raw(self, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        """(n, n_scores) tree scores -> (n, n_outputs) Clarion raw space."""
        return scores @ self.matrix + self.offset

    def output(self, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        """(n, n_scores) -> (n, n_outputs), what ONNX Runtime returns for the explained output."""
        if self.exp:
            return np.exp(scores)
        if self.binary_score:
            s = scores[:, 0]
            if self.post_transform == "LOGISTIC":
                return np.stack([_sigmoid(-s), _sigmoid(s)], axis=1)
            return np.stack([1.0 - s if self.complement else -s, s], axis=1)
        if self.post_transform == "LOGISTIC":
            return _sigmoid(scores)
        if self.post_transform == "SOFTMAX":
            z = scores - scores.max(axis=1, keepdims=True)
            e = np.exp(z)
            return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)
        return scores

    def raw_from_margin_graph(self, P: NDArray[np.float64]) -> NDArray[np.float64]:
        """(n, width) output of the margin graph (post_transform NONE, Exp cut) -> raw space.

        ORT writes ``[1-s, s]`` or ``[-s, s]`` for a binary single score under NONE; its
        second column is ``s`` either way.
        """
        if self.exp:
            margin = P.reshape(P.shape[0], -1)[:, :1] + np.log(self.exp_multiplier)
            return np.asarray(margin, dtype=np.float64)
        if self.binary_score:
            s = P[:, 1:2]
            return s @ self.matrix + self.offset
        if self.post_transform == "SOFTMAX":
            return np.asarray(P - P.mean(axis=1, keepdims=True), dtype=np.float64)
        return P


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)


def make_head(
    analysis: GraphAnalysis,
    layout: Layout,
    n_outputs: int,
    leaf_values: NDArray[np.float64],
    base: NDArray[np.float64],
) -> Head:
    """Decide the raw space for this graph, or refuse. ``n_outputs``: the card's output count."""
    post = analysis.post_transform
    exp = analysis.exp_input is not None
    if post not in ("NONE", "LOGISTIC", "SOFTMAX"):
        raise UnsupportedModel(f"post_transform {post} has no exact margin space in Clarion")
    if layout.width != n_outputs:
        raise UnsupportedModel(
            f"the trees write {layout.width} columns; the card expects {n_outputs}"
        )
    k = n_outputs
    if k == 1 and post != "NONE":
        raise UnsupportedModel(f"post_transform {post} on a single output column")
    if exp:
        if k != 1 or post != "NONE":
            raise UnsupportedModel("an Exp head over several columns or over a post_transform")
        # log c is already in the trees' base; the margin graph reads the tensor
        # entering Exp, which lacks it.
        return Head(
            post, True, "log", False, False, np.eye(1), np.zeros(1), analysis.exp_multiplier
        )
    if layout.binary_score:
        flip = np.asarray([[-1.0, 1.0]])
        if post == "LOGISTIC":
            return Head(post, False, "logit", True, False, flip, np.zeros(2))
        offset = np.asarray([1.0, 0.0]) if layout.nonnegative else np.zeros(2)
        return Head(post, False, "identity", True, layout.nonnegative, flip, offset)
    if post == "SOFTMAX":
        return Head(post, False, "log", False, False, np.eye(k) - 1.0 / k, np.zeros(k))
    if post == "LOGISTIC":
        opposite = (
            k == 2 and np.array_equal(leaf_values[:, 0], -leaf_values[:, 1]) and base[0] == -base[1]
        )
        if not opposite:
            raise UnsupportedModel(
                "per-class LOGISTIC over columns that are not one score and its opposite has no "
                "Clarion link"
            )
        return Head(post, False, "logit", False, False, np.eye(2), np.zeros(2))
    return Head(post, False, "identity", False, False, np.eye(k), np.zeros(k))
