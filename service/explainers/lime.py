"""LIME for tabular models: lime 0.2.0.1's ``LimeTabularExplainer``, vectorised across rows.

This module owns Clarion's reimplementation of lime's tabular algorithm with the
game's background as lime's training data, in lime's default configuration
(``discretize_continuous=True``, quartile discretizer, ``feature_selection='none'``,
``sample_around_instance=False``, Ridge(alpha=1) surrogate):

1. Fit (from the background): a numeric player is cut at its unique quartiles;
   each bin keeps its frequency, bounds, mean and standard deviation. A categorical
   or binary column keeps its values and their frequencies. A one-hot group (a
   player with several columns) is one categorical player whose categories are the
   joint column patterns seen in the background.
2. Sample ``num_samples`` neighbours per row: every player draws a bin or a
   category by background frequency; the binary representation is "same bin /
   category as x"; numeric bins are turned back into numbers with a normal
   truncated to the bin. The first neighbour is x itself.
3. Predict all neighbours of all rows through ``game.predict`` in large chunks.
4. Weight neighbours by ``sqrt(exp(-d**2 / width**2))``, d the euclidean distance
   of the binary representation to x's (all ones), width ``0.75 * sqrt(n_players)``,
   and fit a weighted ridge (alpha 1, unpenalised intercept) for every output at once:
   one design matrix and one weight vector per row, a multi-right-hand-side solve.

Same numbers as lime: one ``np.random.RandomState(seed)`` per call is consumed in
lime's order (for each row: one uniform per player and neighbour for the draws by
frequency, then one per truncated-normal value), so the bins and categories drawn
are identical to lime's with ``random_state=np.random.RandomState(seed)``. The
truncated-normal inverse CDF (61% of lime's time, TRAPS.md) is evaluated for all
rows at once with scipy's own log-space formulas; it agrees with scipy's
``truncnorm.ppf`` to about 1e-14, so values agree with lime to rounding. Deliberate
differences: (a) a bin holding a single value (more than a quarter of the
background at the minimum) is undiscretized to that value, where lime returns 0
(its standardised value); (b) with one-hot groups, distances and the kernel width
count players, not columns (lime has no groups).

Explanation: values are the surrogate's coefficients (n_samples, n_players, n_outputs),
base values its intercept, outputs the model at x; quality holds ``fidelity_r2`` (the
weighted R² of the surrogate on its neighbours, lime's ``score``) and
``local_prediction_error`` (|surrogate at x - model at x|).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, Self

import numpy as np
from numpy.typing import NDArray

from service.explainers._base import Explainer, Interval
from service.explanation import Explanation
from service.game import Game

__all__ = ["Lime"]

_CATEGORICAL = frozenset({"categorical", "binary"})
_BLOCK_CELLS = 4_000_000
"""Rows are processed in blocks of at most this many neighbour cells (neighbours x columns)."""


@dataclass(frozen=True, eq=False)
class _Player:
    """What lime learns about one player from the background (arrays are read-only).

    codes: (n_codes,) the values drawn: bin indices, category values or pattern indices
    cdf: (n_codes,) their cumulative frequencies, as ``RandomState.choice`` builds them
    numeric players, per bin: edges (n_bins - 1,) and low, high, mean, std (n_bins,);
        varies (n_bins,): whether lime draws a truncated normal there (the bin is not one point)
    group players: patterns (n_codes, n_group_columns)
    """

    kind: Literal["numeric", "categorical", "group"]
    columns: tuple[int, ...]
    codes: NDArray[np.float64]
    cdf: NDArray[np.float64]
    edges: NDArray[np.float64] | None = None
    low: NDArray[np.float64] | None = None
    high: NDArray[np.float64] | None = None
    mean: NDArray[np.float64] | None = None
    std: NDArray[np.float64] | None = None
    varies: NDArray[np.bool_] | None = None
    patterns: NDArray[np.float64] | None = None

    def bins(self, drawn: NDArray[np.intp]) -> NDArray[np.intp]:
        """Bin numbers of drawn code indices (a numeric player's codes are its non-empty bins)."""
        return self.codes[drawn].astype(np.intp)

    def code_of(self, x: NDArray[np.float64]) -> float:
        """x's own code (bin, category or pattern index; -1 for an unseen pattern)."""
        if self.kind == "numeric":
            assert self.edges is not None
            return float(np.searchsorted(self.edges, x[self.columns[0]]))
        if self.kind == "categorical":
            return float(x[self.columns[0]])
        assert self.patterns is not None
        hits = np.flatnonzero((self.patterns == x[list(self.columns)]).all(axis=1))
        return float(hits[0]) if hits.size else -1.0


def _frozen(a: NDArray[np.float64]) -> NDArray[np.float64]:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.flags.writeable = False
    return a


def _frequencies(codes: NDArray[np.float64], counts: NDArray[np.int64]) -> NDArray[np.float64]:
    p = counts / float(counts.sum())  # lime's feature_frequencies
    cdf = p.cumsum()
    cdf /= cdf[-1]  # what RandomState.choice does with p
    return _frozen(cdf)


def _fit_player(background: NDArray[np.float64], columns: tuple[int, ...], kind: str) -> _Player:
    if len(columns) > 1:
        patterns, counts = np.unique(background[:, list(columns)], axis=0, return_counts=True)
        codes = np.arange(patterns.shape[0], dtype=np.float64)
        cdf = _frequencies(codes, counts)
        return _Player("group", columns, _frozen(codes), cdf, patterns=_frozen(patterns))
    column = background[:, columns[0]]
    if kind in _CATEGORICAL:
        values, counts = np.unique(column, return_counts=True)
        return _Player("categorical", columns, _frozen(values), _frequencies(values, counts))
    edges = np.unique(np.percentile(column, [25, 50, 75]))
    bins = np.searchsorted(edges, column)
    n_bins = edges.shape[0] + 1
    mean, std = np.zeros(n_bins), np.zeros(n_bins)
    for b in range(n_bins):
        chosen = column[bins == b]
        if chosen.size:
            mean[b], std[b] = np.mean(chosen), np.std(chosen)
    std += 1e-11  # as lime: no zero scale
    low = np.concatenate([[column.min()], edges])
    high = np.concatenate([edges, [column.max()]])
    codes, counts = np.unique(bins, return_counts=True)
    codes = codes.astype(np.float64)
    varies = (low - mean) / std != (high - mean) / std  # lime's test, in its z units
    varies.flags.writeable = False
    return _Player(
        "numeric",
        columns,
        _frozen(codes),
        _frequencies(codes, counts),
        edges=_frozen(edges),
        low=_frozen(low),
        high=_frozen(high),
        mean=_frozen(mean),
        std=_frozen(std),
        varies=varies,
    )


class Lime(Explainer):
    """LIME's tabular explainer (quartile bins, ridge surrogate), all rows at once."""

    name: ClassVar[str] = "lime"
    deterministic: ClassVar[bool] = False
    parameter_constraints: ClassVar[dict[str, Interval]] = {
        "seed": Interval(int, 0, 2**32 - 1),
        "num_samples": Interval(int, 50, 100_000),
    }

    players_: tuple[_Player, ...]

    def __init__(self, *, seed: int = 0, num_samples: int = 5000) -> None:
        self.seed = seed
        self.num_samples = num_samples

    def fit(self, game: Game) -> Self:
        super().fit(game)
        types = game.column_types or ("numeric",) * game.n_columns
        self.players_ = tuple(
            _fit_player(game.background, cols, types[cols[0]]) for cols in game.players
        )
        return self

    def _explain(self, X: NDArray[np.float64]) -> Explanation:
        game = self.game_
        n, m, k, s = X.shape[0], game.n_players, game.n_outputs, self.num_samples
        rs = np.random.RandomState(self.seed)  # lime's draw order needs the legacy generator
        coef = np.empty((n, m, k))
        intercept, outputs, r2 = np.empty((n, k)), np.empty((n, k)), np.empty((n, k))
        block = max(1, _BLOCK_CELLS // (s * max(m, game.n_columns)))
        for start in range(0, n, block):
            stop = min(n, start + block)
            Z, neighbours = _sample(self.players_, X[start:stop], s, rs)
            Y = game.predict(neighbours.reshape(-1, game.n_columns)).reshape(stop - start, s, k)
            fit = _ridge(Z, Y, kernel_width=float(np.sqrt(m) * 0.75))
            coef[start:stop], intercept[start:stop], r2[start:stop] = fit
            outputs[start:stop] = Y[:, 0, :]
        local = intercept + coef.sum(axis=1)  # the surrogate at x: all indicators are 1
        return self._explanation(
            coef,
            intercept,
            outputs,
            quality={"fidelity_r2": r2, "local_prediction_error": np.abs(local - outputs)},
            meta={"seed": self.seed, "num_samples": s, "kernel_width": float(np.sqrt(m) * 0.75)},
        )


def _sample(
    players: tuple[_Player, ...],
    X: NDArray[np.float64],
    s: int,
    rs: np.random.RandomState,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Neighbours of every row, drawing from ``rs`` in lime's order.

    X: (b, n_columns). Returns the binary representation Z (b, s, m) and the
    neighbours (b, s, n_columns); neighbour 0 of each row is the row itself.
    """
    b, m = X.shape[0], len(players)
    numeric = [j for j, p in enumerate(players) if p.kind == "numeric"]
    drawn = np.empty((b, m, s), dtype=np.intp)  # index into each player's codes
    Z = np.empty((b, s, m), dtype=np.float64)
    u_bins: list[NDArray[np.float64]] = []  # per row, uniforms for truncated normals
    for i in range(b):
        # lime: one random_state.choice(values, size=s, p=freqs) per column, in column order
        U = rs.random_sample((m, s))
        for j, player in enumerate(players):
            drawn[i, j] = player.cdf.searchsorted(U[j], side="right")
        # lime then undiscretizes rows 1: of each numeric column, drawing one uniform
        # per neighbour whose bin has a non-degenerate range
        needed = 0
        for j in numeric:
            varies = players[j].varies
            assert varies is not None
            needed += int(varies[players[j].bins(drawn[i, j, 1:])].sum())
        u_bins.append(rs.random_sample(needed))
    neighbours = np.repeat(X[:, None, :], s, axis=1)
    for j, player in enumerate(players):
        codes = player.codes[drawn[:, j]]  # (b, s)
        own = np.array([player.code_of(x) for x in X])
        Z[:, :, j] = codes == own[:, None]
        if player.kind == "categorical":
            neighbours[:, 1:, player.columns[0]] = codes[:, 1:]
        elif player.kind == "group":
            assert player.patterns is not None
            neighbours[:, 1:, list(player.columns)] = player.patterns[drawn[:, j, 1:]]
    Z[:, 0, :] = 1.0
    _undiscretize(players, numeric, drawn, u_bins, neighbours)
    return Z, neighbours


def _undiscretize(
    players: tuple[_Player, ...],
    numeric: list[int],
    drawn: NDArray[np.intp],
    u_bins: list[NDArray[np.float64]],
    neighbours: NDArray[np.float64],
) -> None:
    """Fill numeric columns of neighbours 1: in place, one inverse-CDF call for the block."""
    b = drawn.shape[0]
    q_parts, lo_parts, hi_parts, where = [], [], [], []
    for i in range(b):
        offset = 0
        for j in numeric:
            p = players[j]
            assert p.low is not None
            assert p.high is not None
            assert p.varies is not None
            assert p.mean is not None
            assert p.std is not None
            bins = p.bins(drawn[i, j, 1:])
            varies = p.varies[bins]
            count = int(varies.sum())
            column = p.columns[0]
            fixed = ~varies
            neighbours[i, 1:, column][fixed] = p.low[bins[fixed]]  # one-value bin: that value
            q_parts.append(u_bins[i][offset : offset + count])
            chosen = bins[varies]
            lo_parts.append((p.low[chosen] - p.mean[chosen]) / p.std[chosen])
            hi_parts.append((p.high[chosen] - p.mean[chosen]) / p.std[chosen])
            where.append((i, column, np.flatnonzero(varies) + 1, p.mean[chosen], p.std[chosen]))
            offset += count
    if not q_parts:
        return
    z = _truncnorm_ppf(np.concatenate(q_parts), np.concatenate(lo_parts), np.concatenate(hi_parts))
    at = 0
    for i, column, rows, mean, std in where:
        neighbours[i, rows, column] = z[at : at + rows.size] * std + mean
        at += rows.size


def _truncnorm_ppf(
    q: NDArray[np.float64], a: NDArray[np.float64], b: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Inverse CDF of the standard normal truncated to [a, b], elementwise, shape of q.

    scipy.stats.truncnorm's own log-space formulas (left and right tail cases), written
    with public scipy.special functions so that one call serves a whole batch.
    """
    from scipy import special as sc

    out = np.empty_like(q)
    mass = np.empty_like(q)  # log of the normal mass of [a, b]
    left_tail, right_tail = b <= 0, a > 0
    central = ~(left_tail | right_tail)
    mass[central] = np.log1p(-sc.ndtr(a[central]) - sc.ndtr(-b[central]))
    for sel, lo, hi in ((left_tail, a, b), (right_tail, -b, -a)):
        if sel.any():
            log_hi, log_lo = sc.log_ndtr(hi[sel]), sc.log_ndtr(lo[sel])
            mass[sel] = log_hi + np.log(-np.expm1(log_lo - log_hi))
    left = a < 0
    right = ~left
    out[left] = sc.ndtri_exp(np.logaddexp(sc.log_ndtr(a[left]), np.log(q[left]) + mass[left]))
    out[right] = -sc.ndtri_exp(
        np.logaddexp(sc.log_ndtr(-b[right]), np.log1p(-q[right]) + mass[right])
    )
    return np.clip(out, a, b)


def _ridge(
    Z: NDArray[np.float64], Y: NDArray[np.float64], kernel_width: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Weighted ridge (alpha 1, free intercept) of Y on Z for each row, all outputs at once.

    Z: (b, s, m) binary; Y: (b, s, k). Returns coef (b, m, k), intercept (b, k) and the
    weighted R² (b, k), as sklearn's ``Ridge(alpha=1).fit(..., sample_weight)`` and
    ``score`` compute them.
    """
    m = Z.shape[2]
    d = np.sqrt(m - Z.sum(axis=2))  # euclidean distance to (1, ..., 1)
    w = np.sqrt(np.exp(-(d**2) / kernel_width**2))  # (b, s), lime's kernel
    w_sum = w.sum(axis=1)
    z_mean = np.einsum("bs,bsm->bm", w, Z) / w_sum[:, None]
    y_mean = np.einsum("bs,bsk->bk", w, Y) / w_sum[:, None]
    root = np.sqrt(w)[:, :, None]
    Zc = (Z - z_mean[:, None, :]) * root
    Yc = (Y - y_mean[:, None, :]) * root
    A = Zc.transpose(0, 2, 1) @ Zc + np.eye(m)
    coef = np.linalg.solve(A, Zc.transpose(0, 2, 1) @ Yc)
    intercept = y_mean - np.einsum("bm,bmk->bk", z_mean, coef)
    pred = intercept[:, None, :] + Z @ coef
    wide = w[:, :, None]
    resid = (wide * (Y - pred) ** 2).sum(axis=1)
    total = (wide * (Y - y_mean[:, None, :]) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(total > 0, 1.0 - resid / total, np.where(resid == 0, 1.0, 0.0))
    return coef, intercept, r2
