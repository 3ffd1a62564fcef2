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
3. Predict all neighbours of all rows in large chunks: through ``game.predict``, or,
   for a game with verified tree arrays (``Game.trees``), through the arrays
   (``trees.predict.predict_walk``, rows in parallel) instead of ONNX Runtime's
   single-threaded tree operator, which took most of the time on forests. The arrays
   sum leaf values in float64 where ORT sums in float32: scores agree to float32
   rounding (checked at load; in ``fit`` the space is checked against the game).
4. Weight neighbours by ``sqrt(exp(-d**2 / width**2))``, d the euclidean distance
   of the binary representation to x's (all ones), width ``0.75 * sqrt(n_players)``,
   and fit a weighted ridge (alpha 1, unpenalised intercept) for every output at once:
   per row, the normal equations are accumulated compiled from the binary
   representation (about a quarter ones: sums of weights over pairs of ones), then
   one multi-right-hand-side solve.

Same numbers as lime: one ``np.random.RandomState(seed)`` per call is consumed in
lime's order (for each row: one uniform per player and neighbour for the draws by
frequency, then one per truncated-normal value), so the bins and categories drawn
are identical to lime's with ``random_state=np.random.RandomState(seed)``. Only the
draws are per row (with the bins drawn compiled, to count the normals that follow);
everything else runs on the whole block of rows at once. The truncated-normal inverse
CDF (61% of lime's time, TRAPS.md) uses per-bin constants and one ``ndtri`` per value,
taken on whichever tail keeps precision; it agrees with scipy's ``truncnorm.ppf`` to
about 1e-13, so values agree with lime to rounding. It runs compiled (``_lime_kernels``:
cephes' ``ndtri``, bit for bit scipy's, fused with the bin look-ups, the clip, the
rescale and the binary representation, rows in parallel).
Deliberate differences: (a) a bin holding a single value (more than a quarter of
the background at the minimum) is undiscretized to that value, where lime returns
0 (its standardised value); (b) with one-hot groups, distances and the kernel
width count players, not columns (lime has no groups).

Explanation: values are the surrogate's coefficients (n_samples, n_players, n_outputs),
base values its intercept, outputs the model at x; quality holds ``fidelity_r2`` (the
weighted R² of the surrogate on its neighbours, lime's ``score``) and
``local_prediction_error`` (|surrogate at x - model at x|).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar

import numpy as np
from numpy.typing import NDArray

from service.explain.deadline import check_deadline
from service.explain.explainers._base import Explainer, Interval
from service.explain.explanation import Explanation
from service.explain.game import Game, PredictFn

__all__ = ["Lime"]

Array = NDArray[np.float64]
_A = TypeVar("_A", bound=NDArray[Any])

_CATEGORICAL = frozenset({"categorical", "binary"})
_BINS = 4  # quartiles: at most 3 unique edges, 4 bins
_BLOCK_CELLS = 320_000
"""Rows are processed in blocks of about this many neighbour cells (neighbours x columns),
two rows at least (one per core of the parallel kernels). One block's buffers are
allocated once per call and refilled for every block: fresh pages cost more than the
work written into them (a first touch is a page fault, dear on a virtual machine), and
a small block stays in cache. Blocks of 4 million cells spent 40% of lime's time on
page faults (``bench/explain_bench.py``, MLP at 5,000 samples)."""


def _frozen(a: _A) -> _A:
    a.flags.writeable = False  # fitted tables are shared by concurrent explain calls
    return a


def _cdf(counts: NDArray[np.int64]) -> Array:
    p = counts / float(counts.sum())  # lime's feature_frequencies
    cdf = p.cumsum()
    cdf /= cdf[-1]  # what RandomState.choice does with p
    return cdf


@dataclass(frozen=True, eq=False)
class _Categories:
    """A categorical player: a categorical or binary column, or a one-hot group.

    values: (n_codes, n_player_columns) each category's column values; cdf: (n_codes,).
    """

    player: int
    columns: tuple[int, ...]
    values: Array
    cdf: Array

    def codes_of(self, X: Array) -> NDArray[np.intp]:
        """Each row's own category index, -1 where the background never saw it. (b,)"""
        hits = (X[:, None, list(self.columns)] == self.values[None]).all(axis=2)
        return np.where(hits.any(axis=1), hits.argmax(axis=1), -1)


@dataclass(frozen=True, eq=False)
class _Bins:
    """The quartile bins of all numeric players, padded to 4 bins: arrays (n_numeric, 4).

    edges (n_numeric, 3): unique quartiles, +inf padded. cdf: frequencies of the bins the
    background fills (+inf padded), ``code`` the bin each entry stands for. Per bin:
    low/high bounds, mean/std, ``varies`` (lime draws a truncated normal there) and the
    truncated normal's constants in z units (za, zb, cdf_a = Phi(za), sf_b = Phi(-zb),
    mass = Phi(zb) - Phi(za)).
    """

    players: tuple[int, ...]
    columns: tuple[int, ...]
    edges: Array
    cdf: Array
    code: NDArray[np.intp]
    low: Array
    mean: Array
    std: Array
    varies: NDArray[np.bool_]
    za: Array
    zb: Array
    cdf_a: Array
    sf_b: Array
    mass: Array


def _fit_bins(background: Array, players: list[int], columns: list[int]) -> _Bins:
    """Lime's quartile discretizer over the numeric columns, all columns at once: bin
    counts, means and standard deviations by ``bincount`` over (column, bin) pairs (an
    explain request fits these per call; column by column they took some 10 ms)."""
    from scipy import special as sc

    n = len(columns)
    inf = np.full((n, _BINS), np.inf)
    edges, cdf = inf[:, :-1].copy(), inf.copy()
    code = np.zeros((n, _BINS), dtype=np.intp)
    low, high = np.zeros((n, _BINS)), np.zeros((n, _BINS))
    data = background[:, columns]  # (n_background, n)
    quartiles = np.percentile(data, [25, 50, 75], axis=0) if n else np.empty((3, 0))
    bins = np.empty(data.shape, dtype=np.intp)
    for r in range(n):
        qts = np.unique(quartiles[:, r])
        bins[:, r] = np.searchsorted(qts, data[:, r])
        edges[r, : qts.size] = qts
        low[r, : qts.size + 1] = np.concatenate([[data[:, r].min()], qts])
        high[r, : qts.size + 1] = np.concatenate([qts, [data[:, r].max()]])
    flat = (bins + _BINS * np.arange(n)).ravel()  # (column, bin) pairs, row-major

    def per_bin(weights: Array | None = None) -> Array:
        sums = np.bincount(flat, weights, minlength=n * _BINS).reshape(n, _BINS)
        return sums.astype(np.float64, copy=False)

    counts = per_bin()
    seen = counts > 0
    mean = np.divide(per_bin(data.ravel()), counts, out=np.zeros((n, _BINS)), where=seen)
    deviation = (data.ravel() - mean.ravel()[flat]) ** 2
    std = np.sqrt(np.divide(per_bin(deviation), counts, out=np.zeros((n, _BINS)), where=seen))
    for r in range(n):
        filled = np.flatnonzero(seen[r])
        cdf[r, : filled.size], code[r, : filled.size] = _cdf(counts[r, filled]), filled
    std += 1e-11  # as lime: no zero scale
    za, zb = (low - mean) / std, (high - mean) / std
    varies = za != zb  # lime's test
    cdf_a, sf_b = sc.ndtr(za), sc.ndtr(-zb)
    mass = _mass(za, zb, cdf_a, sf_b)
    arrays = (edges, cdf, code, low, mean, std, varies, za, zb, cdf_a, sf_b, mass)
    for a in arrays:
        _frozen(a)
    return _Bins(tuple(players), tuple(columns), *arrays)


def _mass(za: Array, zb: Array, cdf_a: Array, sf_b: Array) -> Array:
    """Phi(zb) - Phi(za), computed on the side of zero where it keeps precision."""
    from scipy import special as sc

    with np.errstate(invalid="ignore"):
        left = sc.ndtr(zb) - cdf_a  # both bounds below zero
        right = sc.ndtr(-za) - sf_b  # both above zero
    mass: Array = np.where(zb <= 0, left, np.where(za > 0, right, 1.0 - (cdf_a + sf_b)))
    return mass


class Lime(Explainer):
    """LIME's tabular explainer (quartile bins, ridge surrogate), all rows at once."""

    name: ClassVar[str] = "lime"
    deterministic: ClassVar[bool] = False
    parameter_constraints: ClassVar[dict[str, Interval]] = {
        "seed": Interval(int, 0, 2**32 - 1),
        "num_samples": Interval(int, 50, 100_000),
    }

    bins_: _Bins
    categories_: tuple[_Categories, ...]
    predict_: PredictFn
    """How neighbours are scored: the verified tree arrays where the game has them."""

    def __init__(self, *, seed: int = 0, num_samples: int = 5000) -> None:
        self.seed = seed
        self.num_samples = num_samples

    def fit(self, game: Game) -> Self:
        super().fit(game)
        bg = game.background
        types = game.column_types or ("numeric",) * game.n_columns
        numeric, categories = [], []
        for j, cols in enumerate(game.players):
            if len(cols) == 1 and types[cols[0]] not in _CATEGORICAL:
                numeric.append(j)
                continue
            values, counts = np.unique(bg[:, list(cols)], axis=0, return_counts=True)
            categories.append(_Categories(j, cols, _frozen(values), _frozen(_cdf(counts))))
        self.bins_ = _fit_bins(bg, numeric, [game.players[j][0] for j in numeric])
        self.categories_ = tuple(categories)
        self.predict_ = _tree_predict(game) or game.predict
        return self

    @classmethod
    def warm(cls) -> None:
        if cls.is_warm():
            return
        _warm_tree_walk()  # the warm-up game has no trees: compile their walk on a stump
        super().warm()

    def model_rows(self, game: Game, n_samples: int) -> int:
        return n_samples * self.num_samples  # lime scores its own neighbours, no background

    def _explain(self, X: Array) -> Explanation:
        game = self.game_
        n, m, k, s = X.shape[0], game.n_players, game.n_outputs, self.num_samples
        width = float(np.sqrt(m) * 0.75)
        coef = np.empty((n, m, k))
        intercept, outputs, r2 = np.empty((n, k)), np.empty((n, k)), np.empty((n, k))
        block = min(n, max(2, _BLOCK_CELLS // (s * max(m, game.n_columns))))
        bins, n_numeric = self.bins_, len(self.bins_.players)
        stream = _lime_stream(self.seed)
        scratch = _Scratch.of(block, s, m, game.n_columns, n_numeric)
        for start in range(0, n, block):
            stop = min(n, start + block)
            check_deadline()
            _draw(bins, stop - start, stream, scratch)
            Z, neighbours = _fill(bins, self.categories_, X[start:stop], scratch)
            Y = self.predict_(neighbours.reshape(-1, game.n_columns)).reshape(stop - start, s, k)
            check_deadline()  # sampling and the fit are lime's own time between model calls
            coef[start:stop], intercept[start:stop], r2[start:stop] = _ridge(Z, Y, width)
            outputs[start:stop] = Y[:, 0, :]
        if self.predict_ is not game.predict:  # the arrays scored: outputs are the served model's
            outputs = np.asarray(game.predict(X), dtype=np.float64)
        local = intercept + coef.sum(axis=1)  # the surrogate at x: all indicators are 1
        return self._explanation(
            coef,
            intercept,
            outputs,
            quality={"fidelity_r2": r2, "local_prediction_error": np.abs(local - outputs)},
            meta={"seed": self.seed, "num_samples": s, "kernel_width": width},
        )


def _tree_predict(game: Game) -> PredictFn | None:
    """The game's model through its verified tree arrays, or None without them.

    The arrays reproduce ONNX Runtime (checked at load, ``trees.support``) and score
    lime's thousands of neighbours per row several times faster than its tree operator
    does; sums run in float64 where ORT's run in float32, so scores agree to float32
    rounding. The check here is that the space is the game's: on the background.
    """
    support = game.trees
    if support is None or game.output_space not in ("raw", "probability"):
        return None
    from service.explain.trees.predict import Walk, predict_scores, predict_walk

    ensemble, walk = support.ensemble, Walk.of(support.ensemble)
    space = support.head.output if game.output_space == "probability" else support.head.raw

    def predict(Z: NDArray[Any]) -> Array:
        scores = predict_scores(ensemble, Z) if walk is None else predict_walk(walk, Z)
        return np.asarray(space(scores), dtype=np.float64)

    bg = game.background
    if not np.allclose(predict(bg), game.predict(bg), rtol=1e-5, atol=1e-5):
        return None
    return predict


def _warm_tree_walk() -> None:
    """Compile ``predict_walk`` (about 10 s cold) on a one-split tree, in the argument
    types of a loaded ensemble's arrays."""
    from service.explain.trees.ensemble import TreeEnsemble
    from service.explain.trees.predict import Walk, predict_walk

    i32 = np.int32
    stump = TreeEnsemble(
        feature=np.zeros(3, dtype=i32),
        threshold=np.array([0.5, 0.0, 0.0]),
        mode=np.zeros(3, dtype=np.uint8),
        nan_true=np.zeros(3, dtype=bool),
        true_child=np.array([1, -1, -1], dtype=i32),
        false_child=np.array([2, -1, -1], dtype=i32),
        leaf=np.array([-1, 0, 1], dtype=i32),
        set_ptr=np.zeros(4, dtype=np.int64),
        set_values=np.zeros(0),
        roots=np.zeros(1, dtype=i32),
        leaf_values=np.array([[1.0], [2.0]]),
        base=np.zeros(1),
        n_features=1,
        dtypes=(np.dtype(np.float32),),
    )
    walk = Walk.of(stump)
    if walk is not None:
        predict_walk(walk, np.array([[0.0], [1.0]]))


def _lime_stream(seed: int) -> np.random.Generator:
    """The doubles lime draws from ``np.random.RandomState(seed)`` (``random_sample``), as
    a Generator, which can draw into a buffer (``out=``): the legacy generator's
    Mersenne Twister state, seeded as lime seeds it, under the new interface (the same
    53-bit doubles from the same words)."""
    legacy = np.random.RandomState(seed).get_state(legacy=False)
    bit_generator = np.random.MT19937()
    bit_generator.state = {"bit_generator": "MT19937", "state": legacy["state"]}
    return np.random.Generator(bit_generator)


@dataclass(frozen=True, eq=False)
class _Scratch:
    """One block's buffers (``_BLOCK_CELLS``), filled again for every block of a call."""

    uniforms: Array  # (block, m, s): each row's draws by frequency, player-major
    normals: Array  # (block, n_numeric * s): each row's uniforms for truncated normals
    drawn: NDArray[np.int32]  # (block, n_numeric, s): flat indices into the bin tables
    Z: NDArray[np.uint8]  # (block, s, m)
    neighbours: Array  # (block, s, n_columns)

    @classmethod
    def of(cls, block: int, s: int, m: int, n_columns: int, n_numeric: int) -> _Scratch:
        return cls(
            uniforms=np.empty((block, m, s)),
            normals=np.empty((block, n_numeric * s)),
            drawn=np.empty((block, n_numeric, s), dtype=np.int32),
            Z=np.empty((block, s, m), dtype=np.uint8),
            neighbours=np.empty((block, s, n_columns)),
        )


def _draw(bins: _Bins, b: int, stream: np.random.Generator, scratch: _Scratch) -> None:
    """The next ``b`` rows' draws from ``stream``, in lime's order, into ``scratch``.

    For each row, as lime: ``random_state.choice(values, size=s, p=freqs)`` per column,
    in column order (one uniform per player and neighbour, turned into bins compiled),
    then one uniform per truncated normal, for neighbours 1: of each numeric column
    (as many as the drawn bins that vary).
    """
    from service.explain.explainers._lime_kernels import draw_kernel  # numba: lazily

    players = np.asarray(bins.players, dtype=np.intp)
    varies = bins.varies.ravel()
    for i in range(b):
        uniforms = scratch.uniforms[i]
        stream.random(out=uniforms)
        count = draw_kernel(uniforms, players, bins.cdf, bins.code, varies, scratch.drawn[i])
        stream.random(out=scratch.normals[i, :count])


def _fill(
    bins: _Bins,
    categories: tuple[_Categories, ...],
    X: Array,
    scratch: _Scratch,
) -> tuple[NDArray[np.uint8], Array]:
    """Neighbours of every row of X (b, n_columns) from their draws (``_draw``), written
    into ``scratch`` (b rows of it).

    Returns the binary representation Z (b, s, m) and the neighbours (b, s, n_columns);
    neighbour 0 of each row is the row itself. Both are views of ``scratch``.
    """
    from service.explain.explainers._lime_kernels import fill_kernel  # numba: lazily

    b = X.shape[0]
    uniforms = scratch.uniforms[:b]
    Z, neighbours = scratch.Z[:b], scratch.neighbours[:b]
    own = (X[:, list(bins.columns), None] > bins.edges[None]).sum(axis=2)  # (b, n_numeric)
    fill_kernel(
        neighbours,
        Z,
        np.ascontiguousarray(X, dtype=np.float64),
        np.asarray(bins.players, dtype=np.intp),
        np.asarray(bins.columns, dtype=np.intp),
        own.astype(np.intp),
        scratch.drawn[:b],
        scratch.normals[:b],
        *(t.ravel() for t in (bins.varies, bins.low, bins.cdf_a, bins.sf_b, bins.mass)),
        *(t.ravel() for t in (bins.za, bins.zb, bins.std, bins.mean)),
    )
    for cat in categories:
        code = cat.cdf.searchsorted(uniforms[:, cat.player], side="right")  # (b, s)
        Z[:, :, cat.player] = code == cat.codes_of(X)[:, None]
        neighbours[:, 1:, list(cat.columns)] = cat.values[code[:, 1:]]
    Z[:, 0, :] = 1
    return Z, neighbours


def _ppf(q: Array, cdf_a: Array, sf_b: Array, mass: Array) -> Array:
    """Inverse CDF of a truncated standard normal from its constants, elementwise.

    Phi(x) = Phi(a) + q * mass, or equivalently Phi(-x) = Phi(-b) + (1 - q) * mass; the
    smaller of the two probabilities goes to ``ndtri`` so that both tails keep precision.
    """
    from scipy import special as sc

    below = cdf_a + q * mass
    above = sf_b + (1.0 - q) * mass
    lower = below < above
    out = np.empty_like(q)
    out[lower] = sc.ndtri(below[lower])
    out[~lower] = -sc.ndtri(above[~lower])
    return out


def _truncnorm_ppf(q: Array, a: Array, b: Array) -> Array:
    """``scipy.stats.truncnorm.ppf(q, a, b)`` for a whole batch, shape of q."""
    from scipy import special as sc

    cdf_a, sf_b = sc.ndtr(a), sc.ndtr(-b)
    out: Array = np.clip(_ppf(q, cdf_a, sf_b, _mass(a, b, cdf_a, sf_b)), a, b)
    return out


def _ridge(Z: NDArray[np.uint8], Y: Array, kernel_width: float) -> tuple[Array, Array, Array]:
    """Weighted ridge (alpha 1, free intercept) of Y on Z for each row, all outputs at once.

    Z: (b, s, m) binary; Y: (b, s, k). Returns coef (b, m, k), intercept (b, k) and the
    weighted R² (b, k), as sklearn's ``Ridge(alpha=1).fit(..., sample_weight)`` and
    ``score`` compute them.
    """
    from service.explain.explainers._lime_kernels import gram_kernel, score_kernel

    m = Z.shape[2]
    # lime's kernel of the euclidean distance to (1, ..., 1), by the number of ones
    d = np.sqrt(m - np.arange(m + 1, dtype=np.float64))
    weight = np.sqrt(np.exp(-(d**2) / kernel_width**2))
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    _, z_mean, y_mean, gram, cross = gram_kernel(Z, Y, weight)
    coef = np.linalg.solve(gram + np.eye(m), cross)
    intercept = y_mean - np.einsum("bm,bmk->bk", z_mean, coef)
    r2 = score_kernel(Z, Y, weight, coef, intercept, y_mean)
    return coef, intercept, r2
