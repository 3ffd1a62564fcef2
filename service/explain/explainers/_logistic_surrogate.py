"""The logistic surrogate of ``sampled_shap``: per background group, s(c + sum of b_i over S).

In probability space the game is a mean over background rows b of f(x_S, b_rest), and each
of those games is, for a model with a sigmoid or softmax head, close to a logistic function
of an additive score. A logistic surrogate fitted per group of background rows (at most
``GROUPS`` groups, so the cost does not grow with the background) is a much better control
variate than a single function of the mean game (on ``bench/estimators_bench.py``'s MLPs);
its Shapley values are exact (to rounding) by Owen's formula.

This module owns the three pieces: evaluating coalitions per background group
(``grouped_values``), fitting many logistic surrogates at once (``fit_logistic``) and their
Shapley values (``logistic_shapley``).

Shapes: masks (c, n_players); grouped values (c, n_groups, n_outputs); a batch of B
surrogates is theta (B, 1 + n_players), the intercept first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from service.explain.game import Game

__all__ = [
    "GROUPS",
    "fit_logistic",
    "group_weights",
    "grouped_values",
    "logistic_shapley",
    "logistic_values",
    "n_groups",
]

GROUPS = 8
"""At most this many background groups, each with its own surrogate per output."""

_CLIP = 1e-4
"""Probabilities are clipped into [_CLIP, 1 - _CLIP] for the starting logit fit only."""

_ITERATIONS = 30
"""Levenberg-Marquardt iterations at most."""

_TOLERANCE = 1e-4
"""A fit has converged when a step gains less than this share of its loss: the surrogate
is a control variate, a closer fit only lowers the estimate's variance a little more."""


def n_groups(game: Game) -> int:
    """How many background groups: one per background row, at most ``GROUPS``."""
    return min(GROUPS, game.n_background)


def grouped_values(
    game: Game,
    X: NDArray[np.float64],
    masks: NDArray[np.bool_],
    rows: Sequence[int] | NDArray[np.intp],
) -> NDArray[np.float64]:
    """The game per background group: mask i played for row ``X[rows[i]]``, the model's
    outputs averaged within each of ``n_groups(game)`` contiguous groups of background
    rows. Returns (n_masks, n_groups, n_outputs); the mean over groups weighted by their
    sizes is ``game.values(X, masks, rows)``."""
    colmasks = game.column_masks(np.asarray(masks, dtype=bool))
    row_idx = np.asarray(rows, dtype=np.intp)
    n_bg, g = game.n_background, n_groups(game)
    group = np.arange(n_bg) * g // n_bg
    # (n_bg, g): row b's weight in its group's mean
    average = (group[:, None] == np.arange(g)[None, :]) / np.bincount(group, minlength=g)
    bg = game.background.astype(game.input_dtype)[None, :, :]
    Xw = X.astype(game.input_dtype, copy=False)
    out = np.empty((row_idx.shape[0], g, game.n_outputs), dtype=np.float64)
    step = max(1, game.chunk_rows // n_bg)
    for start in range(0, row_idx.shape[0], step):
        stop = min(row_idx.shape[0], start + step)
        Z = np.where(colmasks[start:stop, None, :], Xw[row_idx[start:stop]][:, None, :], bg)
        y = game.predict(Z.reshape(-1, game.n_columns)).reshape(stop - start, n_bg, -1)
        out[start:stop] = np.einsum("nbk,bg->ngk", y, average)
    return out


def group_weights(game: Game) -> NDArray[np.float64]:
    """Each group's share of the background: (n_groups,)."""
    g = n_groups(game)
    count = np.bincount(np.arange(game.n_background) * g // game.n_background, minlength=g)
    return np.asarray(count / game.n_background, dtype=np.float64)


def _expit(t: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * t)))


def fit_logistic(
    Z: NDArray[np.float64],
    w: NDArray[np.float64],
    P: NDArray[np.float64],
    start: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Weighted least squares of B logistic surrogates at once: P[:, b] ~ s(theta_b0 +
    Z @ theta_b[1:]), Z (c, m), w (c,), P (c, B) in [0, 1]. Levenberg-Marquardt from
    ``start`` (B, 1 + m), or else from the weighted least-squares fit of the clipped
    logits, until every fit gains less than ``_TOLERANCE`` of its loss in a step.
    Returns theta (B, 1 + m)."""
    c, m = Z.shape
    X1 = np.concatenate([np.ones((c, 1)), Z], axis=1)  # (c, p)
    p = m + 1
    if start is None:
        Pc = np.clip(P, _CLIP, 1.0 - _CLIP)
        XtW = (X1 * w[:, None]).T
        ridge = 1e-9 * np.trace(XtW @ X1) / p * np.eye(p)
        theta = np.linalg.solve(XtW @ X1 + ridge, XtW @ np.log(Pc / (1.0 - Pc))).T  # (B, p)
    else:
        theta = start.copy()

    def loss(th: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray((w[:, None] * (_expit(X1 @ th.T) - P) ** 2).sum(axis=0))

    current = loss(theta)
    damping = np.full(P.shape[1], 1e-3)
    done = np.zeros(P.shape[1], dtype=bool)
    eye = np.eye(p)
    for _ in range(_ITERATIONS):
        s = _expit(X1 @ theta.T)  # (c, B)
        d = s * (1.0 - s)
        r = s - P
        J = np.sqrt(w)[None, :, None] * d.T[:, :, None] * X1[None]  # (B, c, p)
        JtJ = np.matmul(J.transpose(0, 2, 1), J)  # (B, p, p)
        Jtr = (w[:, None] * d * r).T @ X1  # (B, p)
        diag = np.einsum("bii->bi", JtJ)[:, :, None] * eye  # (B, p, p)
        lhs = JtJ + damping[:, None, None] * (diag + 1e-12 * eye)
        step = np.linalg.solve(lhs, Jtr[:, :, None])[:, :, 0]
        trial = theta - step
        after = loss(trial)
        better = after < current
        theta = np.where(better[:, None], trial, theta)
        done |= (better & (current - after <= _TOLERANCE * current)) | (damping > 1e8)
        current = np.where(better, after, current)
        damping = np.where(better, damping / 3.0, damping * 10.0)
        if done.all():
            break
    return np.asarray(theta)


def logistic_values(theta: NDArray[np.float64], Z: NDArray[np.float64]) -> NDArray[np.float64]:
    """s(c + Z @ b) - s(c) for each surrogate: (c, B), so that the empty coalition is 0."""
    return _expit(theta[:, 0][None, :] + Z @ theta[:, 1:].T) - _expit(theta[:, 0])[None, :]


def logistic_shapley(
    c: float, beta: NDArray[np.float64], tail: float = 40.0, top: float = 12.0
) -> NDArray[np.float64]:
    """Shapley values (m,) of g(S) = s(c + sum of beta_i over S), s the logistic function.

    Owen's formula, phi_i = integral over q in [0, 1] of E[g(T + i) - g(T)] where T holds
    each other player with probability q, is a polynomial of degree at most m - 1 in q,
    so Gauss-Legendre with m // 2 + 1 nodes integrates it exactly. The expectation is a
    Fourier inversion: the other players' sum has the characteristic function
    prod_j (1 - q + q e^{i w beta_j}), and the increment s(c + x + beta_i) - s(c + x) has a
    closed-form transform (the logistic density's is pi w / sinh(pi w)) that decays like
    e^{-pi |w|}; the trapezoidal rule on it is exact up to terms in e^{-tail} (the period
    in x exceeds the sums' range by ``tail``) and e^{-pi top} (the cut in w).
    """
    beta = np.asarray(beta, dtype=np.float64)
    m = beta.shape[0]
    period = float(np.abs(beta).sum()) + abs(c) + tail
    dw = 2.0 * np.pi / period
    w = dw * np.arange(int(np.ceil(top / dw)) + 1)  # (W,)
    nodes, node_weights = np.polynomial.legendre.leggauss(m // 2 + 1)
    q = (nodes + 1.0) / 2.0
    # one factor per player of the characteristic function, (n, m, W)
    factor = (1.0 - q)[:, None, None] + q[:, None, None] * np.exp(1j * np.outer(beta, w))[None]
    one = np.ones_like(factor[:, :1])
    before = np.cumprod(np.concatenate([one, factor[:, :-1]], axis=1), axis=1)
    after = np.cumprod(np.concatenate([one, factor[:, :0:-1]], axis=1), axis=1)[:, ::-1]
    others = before * after  # the other players' characteristic function
    positive = w > 0
    safe = np.where(positive, w, 1.0)
    density = np.where(positive, np.pi * safe / np.sinh(np.pi * safe), 1.0)  # (W,)
    increment = np.where(
        positive[None, :], (np.exp(1j * np.outer(beta, w)) - 1.0) / (1j * safe), beta[:, None]
    )  # (m, W): the transform of the indicator of [0, beta_i], at w
    transform = density * np.exp(1j * w * c) * increment
    trapezoid = np.where(positive, 2.0, 1.0)
    expected = np.real(np.einsum("w,iw,niw->ni", trapezoid, transform, others)) * dw / (2 * np.pi)
    return np.asarray(node_weights / 2.0 @ expected)
