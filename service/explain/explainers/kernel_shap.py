"""KernelSHAP: shap's ``KernelExplainer`` algorithm playing Clarion's interventional game.

This module owns Clarion's KernelSHAP: the estimator of shap 0.51's ``KernelExplainer``
(``shap.explainers._kernel``), step for step and draw for draw, with its per-coalition
Python loops moved into ``nogil`` numba kernels (``_kernel_sampling.py``), so that
concurrent explanations run in parallel rather than taking turns on the GIL.

- The model is ``game.predict`` (one row for f(x), one batched call of ``nsamples *
  n_background`` coalition rows per explained row) over ``game.background``; each
  player is a group of columns, so a one-hot group is one player of the game, computed
  as a group and never summed afterwards. With ``nsamples >= 2**M - 2`` every coalition
  is enumerated and the result equals exact interventional Shapley values.
- As shap with ``l1_reg=False``: its feature selection ("auto", "num_features(10)")
  zeroes features and adds error (TRAPS.md).
- Randomness: one ``RandomState(seed)`` per call, which the rows draw from in turn,
  exactly as ``np.random.seed(seed); explainer.shap_values(X)`` made shap draw from the
  global generator: ``choice`` for the subset sizes, then per coalition the permutation
  that ``RandomState.permutation`` would return, rebuilt from the same MT19937 outputs
  (see ``_kernel_sampling.py``), and the generator is left where shap's would be. The
  values are shap's, bit for bit (tests compare them); no lock, no global state.
- The weighted least squares is shap's numpy code, operation for operation (its BLAS
  calls give the same bytes at any OpenBLAS thread count; under load one thread is far
  quicker, which the engine sets: ``CLARION_BLAS_THREADS``, ``service.native``). shap itself is not
  imported: a test compares with it, so an upgrade that changes its numbers shows.
- A budget too small for the players leaves the regression singular; shap then warned
  and fell back to least squares, as this does without the warning: such rows are
  listed in ``meta["singular_rows"]``.
- Budget: ``nsamples`` or its name in the shared budget language, ``max_evals``
  (coalitions per row; when set it wins). The estimator cannot stop early and gives no
  error estimate, so ``max_error`` and ``time_budget_ms`` are ``sampled_shap``'s and
  ``permutation_shap``'s; ``quality["evaluations"]`` and ``meta["stopped_by"]``
  (``max_evals``, or ``exhausted`` when every coalition was enumerated) are reported.
- Additivity: the last player gets f(x) - E f - (the others), so values add up to
  ``outputs - base_values`` to about 1e-10 (|phi| < 1e-10 is zeroed, as shap does).
  ONNX Runtime may round a one-row batch (f(x)) differently from the large batches of
  coalitions, by about 1e-7 on a float32 margin: that is how far these values can sit
  from exact_shap's even when every coalition is enumerated.

Shapes: ``explain(X)`` takes ``(n_samples, n_columns)`` and returns values
``(n_samples, n_players, n_outputs)``.
"""

from __future__ import annotations

import copy
import itertools
import threading
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from service.errors import InvalidInput
from service.explain.capabilities import Capabilities
from service.explain.explainers._base import Explainer, Interval
from service.explain.explanation import Explanation
from service.explain.game import Game

__all__ = ["KernelShap"]


class KernelShap(Explainer):
    """KernelSHAP estimates of interventional Shapley values (shap's KernelExplainer)."""

    name: ClassVar[str] = "kernel_shap"
    deterministic: ClassVar[bool] = False
    parameter_constraints: ClassVar[dict[str, Interval]] = {
        "seed": Interval(int, 0, 2**32 - 1),
        "nsamples": Interval(int, 16, 100_000),
        "max_evals": Interval(int, 0, 100_000),
    }

    def __init__(self, *, seed: int = 0, nsamples: int = 2048, max_evals: int = 0) -> None:
        self.seed = seed
        self.nsamples = nsamples
        self.max_evals = max_evals

    @property
    def budget(self) -> int:
        """Coalitions per row: ``max_evals`` when set (the shared budget language), else
        ``nsamples``."""
        return self.max_evals or self.nsamples

    @classmethod
    def warm(cls) -> None:
        if cls.is_warm():
            return
        # the warm-up game's two players are enumerated, never drawn: compile the draws
        rng = np.random.RandomState(0)
        masks, weights = np.zeros((4, 3)), np.zeros(4)
        _draw(rng, rng.choice(1, 8, p=np.ones(1)), masks, weights, 0, 4, 0, 1)
        super().warm()

    def check(self, model: Capabilities) -> None:
        # Fewer coalitions than players leave the regression singular (it then falls
        # back to a least-squares guess); below 2**M - 2 coalitions are sampled.
        needed = min(2 * model.n_players, 2**model.n_players - 2)
        option = "max_evals" if self.max_evals else "nsamples"
        if self.budget < needed:
            raise InvalidInput(
                f"kernel_shap needs {option} of at least {needed} for a model with "
                f"{model.n_players} players; got {self.budget}",
                details={"field": f"options.{option}", "problem": f"at least {needed}"},
            )

    def model_rows(self, game: Game, n_samples: int) -> int:
        return n_samples * self.budget * game.n_background

    def peak_rows(self, game: Game, n_samples: int) -> int:
        # every coalition row of one explained row is built at once (shap's synth_data)
        return self.budget * game.n_background

    def _explain(self, X: NDArray[np.float64]) -> Explanation:
        game = self.game_
        n, m, k = X.shape[0], game.n_players, game.n_outputs
        rng = np.random.RandomState(self.seed)
        background = np.asarray(game.background)
        weights = np.ones(background.shape[0])
        weights /= np.sum(weights)
        model_null = np.asarray(game.predict(background)).reshape(background.shape[0], -1)
        fnull = np.sum((model_null.T * weights).T, 0)
        base = np.asarray(fnull, dtype=np.float64).reshape(k)
        player_columns = [np.asarray(cols, dtype=np.int64) for cols in game.players]
        # coalition rows are built in the dtype the model reads: the runtime would cast
        # shap's float64 rows to it, so the model sees the same numbers (Game.input_dtype)
        work = np.ascontiguousarray(background, dtype=game.input_dtype)
        values = np.zeros((n, m, k), dtype=np.float64)
        outputs = np.empty((n, k), dtype=np.float64)
        used: list[int] = []
        singular: list[int] = []
        for i in range(n):
            row = X[i : i + 1]
            fx = np.asarray(game.predict(row)).reshape(1, -1)[0]
            plan = _Row(game, background, work, weights, player_columns, row, fx, fnull)
            phi, coalitions, is_singular = plan.solve(rng, self.budget)
            values[i] = phi.reshape(m, k)
            outputs[i] = fx  # the call that made f(x), so additivity holds to rounding
            used.append(coalitions)
            if is_singular:
                singular.append(i)
        everything = 2**m - 2 if m < 63 else -1
        stopped = ["exhausted" if u == everything or m < 2 else "max_evals" for u in used]
        return self._explanation(
            values,
            np.repeat(base[None, :], n, axis=0),
            outputs,
            quality={"evaluations": np.repeat(np.asarray(used, np.float64)[:, None], k, axis=1)},
            meta={
                "seed": self.seed,
                "nsamples_used": used,
                "l1_reg": False,
                "singular_rows": singular,
                "stopped_by": stopped,
            },
        )


class _Row:
    """One explained row: shap's ``KernelExplainer.explain`` with ``l1_reg=False``."""

    def __init__(
        self,
        game: Game,
        background: NDArray[Any],
        work: NDArray[Any],
        weights: NDArray[np.float64],
        player_columns: list[NDArray[np.int64]],
        row: NDArray[np.float64],
        fx: NDArray[Any],
        fnull: NDArray[Any],
    ) -> None:
        self.game, self.work, self.weights = game, work, weights
        self.row, self.fx, self.fnull = row, fx, fnull
        # shap's varying_groups: a player varies unless np.allclose(x, every background row)
        close = np.isclose(row[0][None, :], background, equal_nan=True).all(axis=0)
        self.varying = np.nonzero([not close[cols].all() for cols in player_columns])[0]
        self.player_of_column = np.full(background.shape[1], -1, dtype=np.int64)
        for j, p in enumerate(self.varying):
            self.player_of_column[player_columns[p]] = j

    def solve(self, rng: np.random.RandomState, budget: int) -> tuple[NDArray[Any], int, bool]:
        """Returns phi (n_players, n_outputs), the coalitions used and whether a
        regression was singular."""
        D = self.fnull.shape[0]
        phi = np.zeros((self.game.n_players, D))
        M = len(self.varying)
        if M == 0:
            return phi, 0, False
        if M == 1:
            phi[self.varying[0]] = self.fx - self.fnull
            return phi, 0, False
        nsamples = budget
        max_samples = 2**30
        if M <= 30:
            max_samples = 2**M - 2
            nsamples = min(nsamples, max_samples)
        masks, kernel_weights, added = _coalitions(rng, M, nsamples)
        ey = self._expectations(masks, added, nsamples)
        design = _Design(masks, kernel_weights)
        singular = False
        for d in range(D):
            vphi, was_singular = self._regress(design, ey, d)
            phi[self.varying, d] = vphi
            singular = singular or was_singular
        return phi, nsamples, singular

    def _expectations(self, masks: NDArray[np.float64], added: int, nsamples: int) -> NDArray[Any]:
        from service.explain.explainers._kernel_sampling import expect_kernel, synth_kernel

        N, P = self.work.shape
        D = self.fnull.shape[0]
        synth = np.empty((added * N, P), dtype=self.work.dtype)
        synth_kernel(
            self.work,
            np.ascontiguousarray(self.row[0], dtype=self.work.dtype),
            self.player_of_column,
            masks,
            added,
            synth,
        )
        y = np.ascontiguousarray(np.reshape(self.game.predict(synth), (added * N, D)), np.float64)
        ey = np.zeros((nsamples, D))
        expect_kernel(y, self.weights, added, ey)
        return ey

    def _regress(
        self, design: _Design, ey: NDArray[Any], dim: int
    ) -> tuple[NDArray[np.float64], bool]:
        # shap's solve, operation for operation, so that the floating point is the same
        masks, kernel_weights, X, WX = design.masks, design.kernel_weights, design.X, design.WX
        M = masks.shape[1]
        gap = self.fx[dim] - self.fnull[dim]
        eyAdj = ey[:, dim] - self.fnull[dim]
        nonzero_inds = np.arange(M)
        eyAdj2 = eyAdj - masks[:, nonzero_inds[-1]] * gap
        y = np.asarray(eyAdj2)
        singular = False
        try:
            w = np.linalg.solve(design.XtWX, WX.T @ y)
        except np.linalg.LinAlgError:
            singular = True
            sqrt_W = np.sqrt(kernel_weights)
            w = np.linalg.lstsq(sqrt_W[:, None] * X, sqrt_W * y, rcond=None)[0]
        phi = np.zeros(M)
        phi[nonzero_inds[:-1]] = w
        phi[nonzero_inds[-1]] = gap - sum(w)
        phi[np.abs(phi) < 1e-10] = 0
        return phi, singular


class _Design:
    """The parts of shap's solve that do not depend on the output: shap recomputes them
    for every output from the same arrays, so computing them once gives the same bytes."""

    def __init__(self, masks: NDArray[np.float64], kernel_weights: NDArray[np.float64]) -> None:
        M = masks.shape[1]
        nonzero_inds = np.arange(M)
        etmp = np.transpose(np.transpose(masks[:, nonzero_inds[:-1]]) - masks[:, nonzero_inds[-1]])
        self.masks, self.kernel_weights = masks, kernel_weights
        self.X = etmp
        self.WX = kernel_weights[:, None] * self.X
        self.XtWX = self.X.T @ self.WX


def _coalitions(
    rng: np.random.RandomState, M: int, nsamples: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
    """shap's choice of coalitions: every subset of the sizes the budget covers, then
    random draws. Returns masks (nsamples, M), kernel weights (nsamples,) and the number
    of rows filled (the rest are zero, as in shap)."""
    from scipy.special import binom  # shap's, for the same floats

    masks = np.zeros((nsamples, M))
    kernel_weights = np.zeros(nsamples)
    num_subset_sizes = int(np.ceil((M - 1) / 2.0))
    num_paired_subset_sizes = int(np.floor((M - 1) / 2.0))
    weight_vector = np.array([(M - 1.0) / (i * (M - i)) for i in range(1, num_subset_sizes + 1)])
    weight_vector[:num_paired_subset_sizes] *= 2
    weight_vector /= np.sum(weight_vector)

    num_full_subsets = 0
    num_samples_left = nsamples
    added = 0
    remaining_weight_vector = copy.copy(weight_vector)
    for subset_size in range(1, num_subset_sizes + 1):
        nsubsets = binom(M, subset_size)
        paired = subset_size <= num_paired_subset_sizes
        if paired:
            nsubsets *= 2
        if num_samples_left * remaining_weight_vector[subset_size - 1] / nsubsets < 1.0 - 1e-8:
            break
        num_full_subsets += 1
        num_samples_left -= nsubsets
        if remaining_weight_vector[subset_size - 1] < 1.0:
            remaining_weight_vector /= 1 - remaining_weight_vector[subset_size - 1]
        w = weight_vector[subset_size - 1] / binom(M, subset_size)
        if paired:
            w /= 2.0
        subsets = np.array(list(itertools.combinations(range(M), subset_size)), dtype=np.int64)
        step = 2 if paired else 1
        rows = added + step * np.arange(len(subsets))
        masks[rows[:, None], subsets] = 1.0
        if paired:
            masks[rows + 1] = np.abs(masks[rows] - 1)
        kernel_weights[added : added + step * len(subsets)] = w
        added += step * len(subsets)

    nfixed_samples = added
    samples_left = nsamples - added
    if num_full_subsets != num_subset_sizes:
        remaining_weight_vector = copy.copy(weight_vector)
        remaining_weight_vector[:num_paired_subset_sizes] /= 2  # two samples per draw
        remaining_weight_vector = remaining_weight_vector[num_full_subsets:]
        remaining_weight_vector /= np.sum(remaining_weight_vector)
        ind_set = rng.choice(
            len(remaining_weight_vector), 4 * samples_left, p=remaining_weight_vector
        )
        added = _draw(
            rng,
            ind_set,
            masks,
            kernel_weights,
            added,
            samples_left,
            num_full_subsets,
            num_paired_subset_sizes,
        )
        weight_left = np.sum(weight_vector[num_full_subsets:])
        kernel_weights[nfixed_samples:] *= weight_left / kernel_weights[nfixed_samples:].sum()
    return masks, kernel_weights, added


def _draw(
    rng: np.random.RandomState,
    ind_set: NDArray[np.int64],
    masks: NDArray[np.float64],
    kernel_weights: NDArray[np.float64],
    added: int,
    samples_left: int,
    num_full: int,
    num_paired: int,
) -> int:
    """Run shap's sampling loop in ``draw_kernel`` on the outputs ``rng`` would give its
    ``permutation`` calls, then leave ``rng`` where those calls would have. Returns the
    number of rows filled."""
    from service.explain.explainers._kernel_sampling import draw_kernel

    start = rng.get_state(legacy=False)
    source = _source()
    source.state = {"bit_generator": "MT19937", "state": start["state"]}
    M = masks.shape[1]
    raw = source.random_raw(2 * max(M - 1, 1) * samples_left + 64)
    state = np.array([0, samples_left, added, 0], dtype=np.int64)
    table = np.full(1 << (2 * len(masks)).bit_length(), -1, dtype=np.int64)
    spent = 0
    while draw_kernel(ind_set, raw, state, masks, kernel_weights, table, num_full, num_paired):
        spent += int(state[3])
        raw = np.concatenate([raw[state[3] :], source.random_raw(len(raw))])
        state[3] = 0
    spent += int(state[3])
    source.state = {"bit_generator": "MT19937", "state": start["state"]}
    source.random_raw(spent, output=False)
    rng.set_state({**start, "state": source.state["state"]})
    return int(state[2])


_local = threading.local()


def _source() -> np.random.MT19937:
    """This thread's scratch generator, whose state ``_draw`` replaces by rng's before
    every use (seeding a new one costs more than the draws); one thread runs one
    explanation at a time, so no two explanations share it."""
    source: np.random.MT19937 | None = getattr(_local, "source", None)
    if source is None:
        source = _local.source = np.random.MT19937(0)
    return source
