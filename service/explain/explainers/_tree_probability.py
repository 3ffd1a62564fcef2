"""Near-exact probability-space values for tree ensembles: exact raw values as a control variate.

The probability game is v(S) = mean_b link^-1(m(x_S, b)), m the model's raw outputs
(margins). The inverse link (sigmoid, softmax) is smooth, so it is close to linear over
the margins a row and its background span: with A a slope of the link (for elementwise
links the least-squares slope over the pairs (x, b), ``_least_squares_slope``; for softmax
its Jacobian at the midpoint of the row and the base), the linearised game A m has exact
Shapley values A phi_raw, and phi_raw is exact interventional TreeSHAP
(``service.explain.trees``). Only the residual game r(S) = v(S) - A v_raw(S), the
curvature, is sampled:

- each sample is a chain: a random permutation of the players and a background row b,
  walking from b to x one player at a time (M + 1 single-reference coalitions); a
  player's marginal contribution to r along the chain is an unbiased sample of its
  residual Shapley value (the interventional value is the mean over b of the
  single-reference values);
- chains come in antithetic pairs (a permutation and its reverse, the same b): a pair is
  exact for a single-reference game with interactions of order two at most; the
  background rows are drawn stratified (a shuffled pass over the background, repeated),
  so with whole passes (tree_shap's default number of pairs) every row is used equally
  often and the spread of the residual between background rows drops out of the error;
- chain rows are scored on the verified tree arrays by ``trees.predict_chains``, no ONNX
  run: each background row in use is walked once, and a step re-walks only the trees
  whose current leaf's path splits on the added player; margins and probabilities are
  head.raw and head.output of the same scores;
- the estimate is made efficient (values add up to the model's probability minus the
  base value, both through ONNX Runtime) by spreading the small remainder over the
  players in proportion to their estimated variance (Covert & Lee's constrained
  estimator), and ``sampling_error`` is the largest per-player standard error over the
  pairs, per row and output, as ``sampled_shap`` reports it. It treats the pairs as
  independent draws, so under whole passes, where the between-row spread has dropped out,
  it errs on the side of caution.

A per-reference control variate (each background row b's own secant of the link times
its exact single-reference raw values: efficient per reference) was measured and left
out: on german_credit it did not lower the residual's variance with a 2-row background
and halved its spread with the 100-row one, while its kernel (no pooled tables: the
weight depends on the row and b) cost about 9 times raw TreeSHAP on its own.

Shapes: X (n_samples, n_columns) -> values (n_samples, n_players, n_outputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from service.explain.game import Game
from service.explain.trees.head import Head
from service.explain.trees.predict import predict_chains, predict_scores
from service.explain.trees.support import TreeSupport

__all__ = ["ResidualEstimate", "linear_links", "residual_values"]

Array = NDArray[np.float64]

linear_links = ("identity",)
"""Links under which the probability is the raw output itself: raw values are exact."""

_BLOCK_ROWS = 400_000
"""Chain rows (times columns) per block: the block size, and so the order of the random
draws, is what it was when chains were materialised, so a seed gives the same values."""


@dataclass(frozen=True)
class ResidualEstimate:
    """values (n, M, k), sampling_error (n, k), evaluations per row (coalitions), and the
    model's outputs (n, k) through ONNX Runtime, which the values add up to (less the
    base value)."""

    values: Array
    sampling_error: Array
    evaluations: int
    outputs: Array


def jacobian(head_post_transform: str, raw: Array) -> Array:
    """(n, k) raw outputs -> (n, k, k) Jacobian of the inverse link at those points."""
    if head_post_transform == "SOFTMAX":
        z = raw - raw.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        jac: Array = p[:, :, None] * np.eye(raw.shape[1])[None] - p[:, :, None] * p[:, None, :]
        return jac
    s = 0.5 * (1.0 + np.tanh(0.5 * raw))  # elementwise sigmoid on [-s, s] or per-class logits
    return np.asarray((s * (1.0 - s))[:, :, None] * np.eye(raw.shape[1])[None], dtype=np.float64)


def _least_squares_slope(head: Head, scores_x: Array, scores_b: Array, fallback: Array) -> Array:
    """(n, k, k) diagonal slopes for an elementwise link: per row and output, the
    least-squares slope of the link's change against the raw change over the pairs
    (x, b), b the background rows, sum_b dp_b df_b / sum_b df_b^2; from the tree scores
    of the rows (n, n_scores) and of the background (n_background, n_scores).

    It weighs each background row's own secant dp_b / df_b by df_b^2, the size of that
    row's raw game, and so stands in for every row's own secant (which would need every
    row's raw values) in one constant. The secant from the base to the row, used before,
    divides by the gap between the row's margin and the background's mean margin: near
    zero it went wild, and on german_credit it was then several times worse.
    (bench/tree_probability_limits.py measures the error each slope leaves.) Where x
    meets every background row in raw space, the link's Jacobian stands in."""
    # With the background's means and (co)variances the sums over b take O(n + n_bg) memory:
    # sum_b dp df = n_bg ((p_x - mean p)(f_x - mean f) + cov(p, f)), and
    # sum_b df^2 = n_bg ((f_x - mean f)^2 + var f), centred once, so no cancellation.
    f_b, p_b = head.raw(scores_b), head.output(scores_b)  # (n_bg, k)
    f_c, p_c = f_b - f_b.mean(axis=0), p_b - p_b.mean(axis=0)
    cov, var = (p_c * f_c).mean(axis=0), (f_c * f_c).mean(axis=0)  # (k,)
    df = head.raw(scores_x) - f_b.mean(axis=0)  # (n, k)
    dp = head.output(scores_x) - p_b.mean(axis=0)
    run = df * df + var
    ok = run > 1e-18
    slope = np.where(
        ok, (dp * df + cov) / np.where(ok, run, 1.0), np.diagonal(fallback, axis1=1, axis2=2)
    )
    return np.asarray(slope[:, :, None] * np.eye(slope.shape[1])[None], dtype=np.float64)


def residual_values(
    game: Game,
    support: TreeSupport,
    X: Array,
    raw_values: Array,
    raw_base: Array,
    n_pairs: int,
    seed: int,
    *,
    outputs: Array | None = None,
) -> ResidualEstimate:
    """Probability-space values of rows X (n, n_columns) from exact raw values (n, M, k)
    and the raw base (k,): control variate plus sampled residual, made efficient.
    ``outputs``: the model's probabilities for X where the caller has them (else run)."""
    n, m, k = raw_values.shape
    rng = np.random.default_rng(seed)
    head, ensemble = support.head, support.ensemble
    scores_x = predict_scores(ensemble, X)
    raw_x = head.raw(scores_x)
    outputs, base = game.predict(X) if outputs is None else outputs, game.base_value()
    A = jacobian(head.post_transform, 0.5 * (raw_x + raw_base[None, :]))  # (n, k, k)
    if head.post_transform != "SOFTMAX":
        A = _least_squares_slope(head, scores_x, predict_scores(ensemble, game.background), A)
    control = np.einsum("nkj,nmj->nmk", A, raw_values)
    n_chains = 2 * n_pairs
    values = np.empty((n, m, k))
    error = np.empty((n, k))
    # efficiency target: the model's probability minus the base, through ONNX Runtime
    gaps = outputs - base[None, :]
    n_bg = game.n_background
    per_row = n_chains * (m + 1) * game.n_columns
    block = max(1, _BLOCK_ROWS * 8 // max(per_row, 1))
    for start in range(0, n, block):
        stop = min(n, start + block)
        b = stop - start
        perms = np.argsort(rng.random((b, n_pairs, m)), axis=2)
        perms = np.stack([perms, perms[:, :, ::-1]], axis=2).reshape(b, n_chains, m)
        picks = np.concatenate([rng.permutation(n_bg) for _ in range(-(-b * n_pairs // n_bg))])[
            : b * n_pairs
        ]
        bg_idx = np.repeat(picks.reshape(b, n_pairs), 2, axis=1)  # a pair shares its b
        scores = predict_chains(
            ensemble, game.players, X[start:stop], game.background, perms, bg_idx
        ).reshape(-1, ensemble.leaf_values.shape[1])
        raw = head.raw(scores).reshape(b, n_chains, m + 1, k)
        prob = head.output(scores).reshape(b, n_chains, m + 1, k)
        res = prob - np.einsum("bkj,bctj->bctk", A[start:stop], raw)
        delta = np.diff(res, axis=2)  # (b, c, M, k): contribution of the t-th player
        contrib = np.empty_like(delta)
        np.put_along_axis(contrib, perms[:, :, :, None], delta, axis=2)
        pairs = contrib.reshape(b, n_pairs, 2, m, k).mean(axis=2)
        mean = pairs.mean(axis=1)  # (b, M, k)
        se = pairs.std(axis=1, ddof=1) / np.sqrt(n_pairs) if n_pairs > 1 else np.zeros_like(mean)
        values[start:stop] = mean
        error[start:stop] = se.max(axis=1)
        var = se**2
        # efficiency: spread the remainder over players by their variance
        remainder = gaps[start:stop] - control[start:stop].sum(axis=1) - mean.sum(axis=1)  # (b, k)
        total = var.sum(axis=1, keepdims=True)
        share = np.where(total > 0, var / np.where(total > 0, total, 1.0), 1.0 / m)
        values[start:stop] += share * remainder[:, None, :]
    return ResidualEstimate(control + values, error, n_chains * (m + 1), outputs)
