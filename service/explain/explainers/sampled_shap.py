"""Clarion's own model-agnostic Shapley estimator: paired leverage-score sampling.

This module owns ``sampled_shap``, a constrained Kernel SHAP regression over the batched
game, built from the ideas that measure best per model call:

- **Exact ends.** The coalitions of the smallest and largest sizes (1 and n-1, then 2 and
  n-2, ... while a pair of sizes costs at most half of the budget left) are evaluated
  exhaustively; they carry most of the kernel's weight and are few. With a budget of
  ``2**n - 2`` coalitions every coalition is evaluated and the values are exact
  (``stopped_by == "exhausted"``).
- **Leverage-score sampling** (Musco & Witter, ICLR 2025): the other coalitions are drawn
  with probability proportional to their leverage score in the regression, which is
  uniform over coalition *sizes* (a size, then a subset of it), and reweighted by kernel
  weight over probability, so the weighted regression is unbiased term by term.
- **Paired (antithetic) sampling**: every drawn coalition comes with its complement,
  which cancels the even-order part of the sampling error (Covert & Lee, 2021).
- **Regression adjustment**: the estimate is the weighted least-squares fit of an
  additive game, constrained to add up to v(N) - v(empty), whose Gram matrix is the
  sampled one: an additive game is recovered exactly from any sample.
- **Control variates** (regression-adjusted Monte Carlo, Witter et al. 2025): a surrogate
  game u with known Shapley values is fitted to the evaluated coalitions, and only the
  residual game v - u is estimated by the regression above. Two kinds:

  - a cubic of one linear score, u(S) = c1 L + c2 L^2 + c3 L^3 with L(S) = sum of b_i
    over S (``_cubic_surrogate``: what a smooth link adds to a nearly additive model),
    closed-form Shapley values; used per output only when it fits at least 10% better
    than the additive start;
  - in probability space, one logistic function of an additive score per background
    group and output (``_logistic_surrogate``): each coalition is scored against the
    background anyway, and against one background row a model with a sigmoid or softmax
    head is nearly logistic-additive, which the mean over the background is not. Their
    Shapley values are exact by Owen's formula. Used per output when the estimate's
    standard error is below the cubic's.

  Measured against shap's KernelExplainer at the same budget and background
  (``bench/estimators_bench.py``, 8 background rows): 0.29-0.47x its error on MLPs with
  13-20 features at 512 and 2,048 coalitions per row (0.58-0.81x with the cubic alone),
  for about 3-5x the estimator's own time per row (the model calls are the same).

Under a time budget only sizes 1 and n-1 are enumerated up front, the logistic surrogates
are not fitted (their cost is not known before sampling), and the time the final fits
will take is kept back from sampling.

Error bars: the sampled pairs are independent units, so the estimate's covariance is
estimated with the sandwich (delta-method) formula over the pairs' score contributions,
with a small-sample correction; ``quality["sampling_error"]`` is the largest per-player
standard error, per row and output. The logistic surrogates, fitted to the same pairs,
would make that look smaller than it is; their error is cross-fitted instead (fit on one
half of the pairs, estimate the residual on the other, both ways), which errs on the
side of caution for the estimate fitted to all of them.

Budgets follow ``_budget``: ``max_evals`` (coalitions per row), ``max_error`` and
``time_budget_ms``; sampling proceeds in rounds that grow geometrically, sized to what is
left of each, and stops at the first reached.

Randomness comes from ``np.random.default_rng(seed)``, one generator per call: no global
state, safe under threads; the rows of one call draw in turn from it.

Shapes: ``explain(X)`` takes ``(n_samples, n_columns)`` and returns values
``(n_samples, n_players, n_outputs)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from service.errors import InvalidInput
from service.explain.capabilities import Capabilities
from service.explain.explainers._base import Explainer, Interval
from service.explain.explainers._budget import BUDGET_CONSTRAINTS, Clock
from service.explain.explainers._coalitions import (
    Fixed,
    draw_pairs,
    fixed_part,
    least_evals,
    pair_weights,
)
from service.explain.explainers._cubic_surrogate import SingleIndex
from service.explain.explainers._logistic_surrogate import (
    fit_logistic,
    group_weights,
    grouped_values,
    logistic_shapley,
    logistic_values,
)
from service.explain.explanation import Explanation
from service.explain.game import Game

__all__ = ["SampledShap"]

_FIT_POINTS = 2048
"""At most this many coalitions fit the control variate."""

_LEAST_PAIRS = 8
"""The logistic control variate is tried from this many sampled pairs (four per half)."""

_FIRST_ROUND = 0.25
"""Share of the sampled budget spent in the first round when a target error or time budget
may stop sampling early (the rest follows in rounds that double)."""


class SampledShap(Explainer):
    """Paired leverage-score Kernel SHAP with exact ends and honest error bars."""

    name: ClassVar[str] = "sampled_shap"
    deterministic: ClassVar[bool] = False
    auto: ClassVar[bool] = True
    parameter_constraints: ClassVar[dict[str, Interval]] = {
        "seed": Interval(int, 0, 2**32 - 1),
        "max_evals": Interval(int, 2, 10_000_000),
        **BUDGET_CONSTRAINTS,
    }

    def __init__(
        self,
        *,
        seed: int = 0,
        max_evals: int = 2048,
        max_error: float = 0.0,
        time_budget_ms: float = 0.0,
    ) -> None:
        self.seed = seed
        self.max_evals = max_evals
        self.max_error = max_error
        self.time_budget_ms = time_budget_ms

    def check(self, model: Capabilities) -> None:
        # every coalition of one player and of all but one, and as many sampled pairs as
        # players, so that the error bars rest on a sample
        needed = least_evals(model.n_players)
        if self.max_evals < needed:
            raise InvalidInput(
                f"sampled_shap needs max_evals of at least {needed} for a model with "
                f"{model.n_players} players; got {self.max_evals}",
                details={"field": "options.max_evals", "problem": f"at least {needed}"},
            )

    def fit(self, game: Game) -> Self:
        # scipy's optimiser takes about a second to import: here, not inside a time budget
        import scipy.optimize  # noqa: F401

        return super().fit(game)

    def model_rows(self, game: Game, n_samples: int) -> int:
        evals = (
            self.max_evals if game.n_players > 40 else min(self.max_evals, 2**game.n_players - 2)
        )
        return n_samples * (evals + 2) * game.n_background

    def _explain(self, X: NDArray[np.float64]) -> Explanation:
        clock = Clock(float(self.time_budget_ms))
        game = self.game_
        n, m, k = X.shape[0], game.n_players, game.n_outputs
        rng = np.random.default_rng(self.seed)
        # the logistic surrogates' cost is not known before sampling: not under a time budget
        logistic = game.output_space == "probability" and m >= 3 and self.time_budget_ms <= 0
        share = group_weights(game) if logistic else np.ones(1)
        ends = _values(game, X, np.stack([np.zeros(m, bool), np.ones(m, bool)]), logistic)
        empty, full = ends[:, 0], ends[:, 1]  # (n, groups, k)
        values = np.zeros((n, m, k))
        error = np.zeros((n, k))
        evaluations = np.zeros((n, k))
        stopped: list[str] = []
        if m == 1:
            values[:, 0] = np.einsum("g,ngk->nk", share, full - empty)
            stopped = ["exhausted"] * n
        else:
            fixed = fixed_part(m, self.max_evals, timed=self.time_budget_ms > 0)
            fixed_v = _values(game, X, fixed.masks, logistic) - empty[:, None]  # (n, c, g, k)
            rows = [_Row(fixed_v[i], empty[i], full[i], share, logistic) for i in range(n)]
            self._sample(game, X, fixed, rows, rng, clock)
            for i, row in enumerate(rows):
                values[i], error[i] = row.solve(fixed)
                evaluations[i] = fixed.masks.shape[0] + 2 * row.n_pairs
                stopped.append(row.stopped_by)
        return self._explanation(
            values,
            np.einsum("g,ngk->nk", share, empty),
            np.einsum("g,ngk->nk", share, full),
            quality={"sampling_error": error, "evaluations": evaluations},
            meta={"seed": self.seed, "stopped_by": stopped, "algorithm": "paired_leverage_kernel"},
        )

    def _sample(
        self,
        game: Game,
        X: NDArray[np.float64],
        fixed: Fixed,
        rows: list[_Row],
        rng: np.random.Generator,
        clock: Clock,
    ) -> None:
        """Draw pairs in rounds for the rows still sampling, until each row stops."""
        m = game.n_players
        if not fixed.sizes:  # every coalition was enumerated
            for row in rows:
                row.stopped_by = "exhausted"
            return
        pairs_left = (self.max_evals - fixed.masks.shape[0]) // 2
        if pairs_left < 2:
            for row in rows:
                row.stopped_by = "max_evals"
            return
        early = self.max_error > 0 or self.time_budget_ms > 0
        batch = max(2, int(pairs_left * _FIRST_ROUND)) if early else pairs_left
        active = list(range(len(rows)))
        ms_per_pair = 0.0
        if self.time_budget_ms > 0:  # a short first round measures the cost of a pair
            batch = min(batch, 16)
        while active:
            done = rows[active[0]].n_pairs  # the active rows move in step
            batch = min(batch, pairs_left - done)
            if clock.budget_ms > 0 and ms_per_pair > 0:
                batch = min(batch, int(clock.left_ms() / (ms_per_pair * len(active))))
            if batch < 1:  # the time left buys no pair
                for i in active:
                    rows[i].stopped_by = "time_budget"
                break
            started = clock.elapsed_ms()
            masks = np.concatenate([draw_pairs(rng, m, fixed.sizes, batch) for _ in active])
            v = _values(game, X, masks, rows[0].logistic, np.repeat(active, 2 * batch))
            took = clock.elapsed_ms() - started
            ms_per_pair = took / (batch * len(active))
            if clock.budget_ms > 0:
                # keep back the time the final fits will take: one row's fit, timed now,
                # for every row, doubled since the next round may double the pairs
                before = clock.elapsed_ms()
                first = rows[active[0]]
                first.add(masks[: 2 * batch], v[: 2 * batch])
                first.solve(fixed)
                first.drop_last()
                clock.reserved_ms = 2.0 * (clock.elapsed_ms() - before) * len(rows)
            still = []
            for j, i in enumerate(active):
                span = slice(2 * batch * j, 2 * batch * (j + 1))
                row = rows[i]
                row.add(masks[span], v[span])
                if row.n_pairs >= pairs_left:
                    row.stopped_by = "max_evals"
                    continue
                if self.max_error > 0 and row.solve(fixed)[1].max() <= self.max_error:
                    row.stopped_by = "max_error"
                    continue
                if clock.budget_ms > 0 and clock.left_ms() <= 0:
                    row.stopped_by = "time_budget"
                    continue
                still.append(i)
            active = still
            if active and self.max_error > 0:
                # the pairs the worst row needs for the target, by the 1/sqrt(pairs) law
                worst = max(
                    rows[i].n_pairs * (rows[i].solve(fixed)[1].max() / self.max_error) ** 2
                    for i in active
                )
                batch = max(batch, int(1.1 * worst) - rows[active[0]].n_pairs, 2)
            else:
                batch *= 2


def _values(
    game: Game,
    X: NDArray[np.float64],
    masks: NDArray[np.bool_],
    grouped: bool,
    rows: NDArray[np.intp] | None = None,
) -> NDArray[np.float64]:
    """Coalition values with a group axis: every mask for every row (n, c, groups, k), or
    mask i for row ``rows[i]`` (c, groups, k). Per background group when ``grouped`` (the
    logistic surrogates need them), else one group, the whole background."""
    if rows is None:
        n, c = X.shape[0], masks.shape[0]
        flat = _values(game, X, np.tile(masks, (n, 1)), grouped, np.repeat(np.arange(n), c))
        return flat.reshape(n, c, *flat.shape[1:])
    if grouped:
        return grouped_values(game, X, masks, rows)
    return game.values(X, masks, rows=rows)[:, None, :]


@dataclass
class _Row:
    """One row's evaluations per background group (one group unless ``logistic``): the
    fixed part (c, g, k), minus v(empty) (g, k), and the sampled pairs (chunks of masks
    (2u, m) and values minus v(empty) (2u, g, k), each pair a coalition followed by its
    complement). The game is the mean over groups weighted by ``share`` (g,)."""

    fixed_v: NDArray[np.float64]
    empty: NDArray[np.float64]
    full: NDArray[np.float64]
    share: NDArray[np.float64]
    logistic: bool
    masks: list[NDArray[np.bool_]] = field(default_factory=list)
    v: list[NDArray[np.float64]] = field(default_factory=list)
    n_pairs: int = 0
    stopped_by: str = "max_evals"

    @cached_property
    def mean_fixed(self) -> NDArray[np.float64]:
        """The game on the fixed part (c, k): the groups' values weighted by ``share``."""
        return np.asarray(np.einsum("g,cgk->ck", self.share, self.fixed_v))

    @cached_property
    def total(self) -> NDArray[np.float64]:
        """v(full) - v(empty) of the game (k,): what the values add up to."""
        return np.asarray(self.share @ (self.full - self.empty))

    def add(self, masks: NDArray[np.bool_], v: NDArray[np.float64]) -> None:
        self.masks.append(masks)
        self.v.append(v - self.empty)
        self.n_pairs += masks.shape[0] // 2

    def drop_last(self) -> None:
        self.n_pairs -= self.masks.pop().shape[0] // 2
        self.v.pop()

    def solve(self, fixed: Fixed) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The estimate and its largest per-player standard error: (m, k), (k,)."""
        m = fixed.n_players
        total, fixed_v = self.total, self.mean_fixed
        Zf = fixed.masks.astype(np.float64)
        u = self.n_pairs
        if not u:
            phi, _ = _kernel_fit(Zf, fixed.weights, fixed_v, None, total)
            return phi, np.zeros(total.shape[0])
        Zs = np.concatenate(self.masks).astype(np.float64).reshape(u, 2, m)
        grouped = np.concatenate(self.v).reshape(u, 2, *self.empty.shape)  # (u, 2, g, k)
        ys = np.einsum("g,utgk->utk", self.share, grouped)
        sz = Zs[:, 0].sum(axis=1).astype(np.intp)
        ws = pair_weights(fixed, sz)
        sampled = _Sampled(Zs, ws)
        phi, se = _kernel_fit(Zf, fixed.weights, fixed_v, (sampled, ys), total)
        if m < 3:
            return phi, se.max(axis=0)
        phi, error = self._single_index(fixed, Zs, ws, ys, phi, se)
        if self.logistic and u >= _LEAST_PAIRS:
            logistic_phi, logistic_error = self._logistic(fixed, Zs, sz, grouped)
            phi = np.where(logistic_error[0] < error, logistic_phi, phi)
            error = np.where(logistic_error[0] < error, logistic_error[1], error)
        return phi, error

    def _single_index(
        self,
        fixed: Fixed,
        Zs: NDArray[np.float64],
        ws: NDArray[np.float64],
        ys: NDArray[np.float64],
        phi: NDArray[np.float64],
        se: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The estimate with the cubic single-index control variate on the mean game, where
        it fits; from the additive fit phi, se (m, k). Returns (m, k), (k,)."""
        m, u = fixed.n_players, Zs.shape[0]
        Zf = fixed.masks.astype(np.float64)
        total = self.total
        sampled = _Sampled(Zs, ws)
        Z = np.concatenate([Zf, Zs.reshape(-1, m)])
        w = np.concatenate([fixed.weights, np.repeat(ws, 2)])
        y = np.concatenate([self.mean_fixed, ys.reshape(2 * u, -1)])
        fit = _fit_points(Z.shape[0])  # the correction uses every one
        for j in range(total.shape[0]):
            surrogate = SingleIndex.fit(Z[fit], w[fit], y[fit, j], float(total[j]), phi[:, j])
            if surrogate is None:
                continue
            fitted = surrogate(Z)
            cv_phi, cv_se = _kernel_fit(
                Zf,
                fixed.weights,
                (y[:, j] - fitted)[: Zf.shape[0], None],
                (sampled, (y[:, j] - fitted)[Zf.shape[0] :].reshape(u, 2, 1)),
                np.array([total[j] - surrogate.at_full()]),
            )
            phi[:, j] = cv_phi[:, 0] + surrogate.shapley()
            se[:, j] = cv_se[:, 0]
        return phi, se.max(axis=0)

    def _logistic(
        self,
        fixed: Fixed,
        Zs: NDArray[np.float64],
        sz: NDArray[np.intp],
        grouped: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The estimate with one logistic surrogate per background group and output as the
        control variate (regression-adjusted Monte Carlo, Witter et al. 2025): phi (m, k),
        and stacked (2, k) the largest standard error of this estimate (which decides
        whether to use it) and that of its cross-fitted twin (which is reported).

        The surrogates fitted to every coalition make the residuals of the sampled pairs
        look smaller than they are, so the reported error comes from cross-fitting: fit on
        the fixed part and one half of the pairs, estimate the residual game on the other
        half, and the other way round; the two halves' errors are independent."""
        u = Zs.shape[0]
        every = np.ones(u, dtype=bool)
        phi, se, theta = self._adjusted(fixed, Zs, sz, grouped, every, every, None)
        halves = np.zeros_like(se)
        for fold in (0, 1):
            held_out = np.arange(u) % 2 == fold
            _, half, _ = self._adjusted(fixed, Zs, sz, grouped, ~held_out, held_out, theta)
            halves += half**2 / 4.0
        return phi, np.stack([se.max(axis=0), np.sqrt(halves).max(axis=0)])

    def _adjusted(
        self,
        fixed: Fixed,
        Zs: NDArray[np.float64],
        sz: NDArray[np.intp],
        grouped: NDArray[np.float64],
        fit: NDArray[np.bool_],
        estimate: NDArray[np.bool_],
        start: NDArray[np.float64] | None,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Fit the surrogates to the fixed part and the pairs in ``fit`` (from ``start``, the
        fit to every pair, when cross-fitting), estimate the residual game from the fixed
        part and the pairs in ``estimate``; the surrogates' Shapley values are added only to
        the first fit's estimate (only its error is used from a cross-fit). Returns phi and
        se (m, k), and the surrogates' parameters (g * k, 1 + m)."""
        m = fixed.n_players
        g, k = self.empty.shape
        Zf = fixed.masks.astype(np.float64)
        ends = np.stack([np.zeros(m), np.ones(m)])
        Z = np.concatenate([Zf, Zs[fit].reshape(-1, m)])
        w = np.concatenate([fixed.weights, np.repeat(pair_weights(fixed, sz[fit]), 2)])
        v = np.concatenate([self.fixed_v, grouped[fit].reshape(-1, g, k)]) + self.empty
        points = _fit_points(Z.shape[0])
        Z, w, v = Z[points], w[points], v[points]
        # the ends held close, as for the cubic
        Z = np.concatenate([Z, ends])
        v = np.concatenate([v, np.stack([self.empty, self.full])])
        w = np.append(w, [10.0 * w.max()] * 2)
        theta = fit_logistic(Z, w, v.reshape(-1, g * k), start)  # (g * k, 1 + m)

        def control(masks: NDArray[np.float64]) -> NDArray[np.float64]:
            values = logistic_values(theta, masks).reshape(masks.shape[0], g, k)
            return np.asarray(np.einsum("g,cgk->ck", self.share, values))

        Ze = Zs[estimate]
        n_pairs = Ze.shape[0]
        at_full = control(ends[1:])[0]
        mean_pairs = np.einsum("g,utgk->utk", self.share, grouped[estimate])
        phi, se = _kernel_fit(
            Zf,
            fixed.weights,
            self.mean_fixed - control(Zf),
            (
                _Sampled(Ze, pair_weights(fixed, sz[estimate])),
                mean_pairs - control(Ze.reshape(-1, m)).reshape(n_pairs, 2, k),
            ),
            self.total - at_full,
        )
        if start is None:
            each = np.stack([logistic_shapley(float(t[0]), t[1:]) for t in theta])  # (g*k, m)
            control_phi = np.einsum("g,gkm->mk", self.share, each.reshape(g, k, m))
            # the Owen formula is exact up to rounding; keep efficiency exact regardless
            control_phi += (at_full - control_phi.sum(axis=0)) / m
            phi = phi + control_phi
        return phi, se, theta


def _fit_points(n: int) -> NDArray[np.intp]:
    """Which of n coalitions a surrogate is fitted on: all, or _FIT_POINTS spread evenly
    (the fit's cost grows with them; its use does not need them all)."""
    if n <= _FIT_POINTS:
        return np.arange(n)
    return np.linspace(0, n - 1, _FIT_POINTS).astype(np.intp)


@dataclass(frozen=True)
class _Sampled:
    """The sampled pairs: masks (u, 2, m) as floats and each coalition's weight (u,)."""

    Z: NDArray[np.float64]
    w: NDArray[np.float64]


def _kernel_fit(
    Zf: NDArray[np.float64],
    wf: NDArray[np.float64],
    yf: NDArray[np.float64],
    sample: tuple[_Sampled, NDArray[np.float64]] | None,
    total: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The constrained weighted least-squares fit of an additive game and its per-player
    sandwich standard errors over the sampled pairs.

    Zf (c, m), wf (c,), yf (c, k): the enumerated coalitions; sample: the pairs and their
    values (u, 2, k); total (k,): v(N) - v(empty). Returns phi (m, k), se (m, k).
    """
    m = Zf.shape[1]
    A = (Zf * wf[:, None]).T @ Zf
    B = (Zf * wf[:, None]).T @ yf
    if sample is not None:
        s, ys = sample
        A = A + np.einsum("u,uti,utj->ij", s.w, s.Z, s.Z)
        B = B + np.einsum("u,uti,utk->ik", s.w, s.Z, ys)
    Ainv = np.linalg.pinv(A)
    one = np.ones(m)
    a1 = Ainv @ one
    H = Ainv - np.outer(a1, a1) / (one @ a1)
    phi = H @ B + np.outer(a1, total) / (one @ a1)
    if sample is None:
        return phi, np.zeros_like(phi)
    u = s.Z.shape[0]
    resid = ys - np.einsum("uti,ik->utk", s.Z, phi)  # (u, 2, k)
    g = np.einsum("u,uti,utk->uik", s.w, s.Z, resid)  # each pair's score (u, m, k)
    g = g - g.mean(axis=0)
    hg = np.einsum("ij,ujk->uik", H, g)
    correction = u / (u - m) if u > 2 * m else 2.0  # few pairs: widen the bars
    return phi, np.sqrt((hg**2).sum(axis=0) * correction)
