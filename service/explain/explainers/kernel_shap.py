"""KernelSHAP: shap's ``KernelExplainer`` playing Clarion's interventional game.

This module owns the adapter from a ``Game`` to ``shap.KernelExplainer`` and the
conversion of shap's answers into an ``Explanation`` at its edge.

- The model function is ``game.predict`` (one batched call per explained row,
  ``nsamples * n_background`` rows) and the data is ``game.background``, wrapped in
  shap's legacy ``DenseData`` with one group per player, so that a one-hot group
  is one player of the game, computed as a group and never summed afterwards.
  With ``nsamples >= 2**M - 2`` shap enumerates every coalition and the result
  equals exact interventional Shapley values.
- ``l1_reg=False``: shap's feature selection ("auto", "num_features(10)") zeroes
  features and adds error (TRAPS.md).
- shap draws its coalitions from numpy's *global* generator (``np.random.choice``,
  ``np.random.permutation`` in ``shap.explainers._kernel``). Instead of a process-wide
  lock, the names ``np`` and ``warnings`` of that one module are replaced once (at the
  first use, idempotently) by routers: ``np.random`` resolves to the ``RandomState`` of the
  calling context (a context variable, so each request thread sees its own) and
  ``warnings.warn`` records into the calling context's list; every other name, and any
  caller outside an explanation, reaches numpy and ``warnings`` unchanged. A
  ``RandomState(seed)`` draws exactly what ``np.random.seed(seed)`` made the global
  generator draw, so the numbers are the same as under the former lock, and requests
  run in parallel. The global generator is never touched. The rows of one call draw in
  turn from one generator, exactly as ``np.random.seed(seed); explainer.shap_values(X)``.
- No warning escapes: ``import shap`` warns (matplotlib; silenced under a lock, once),
  and when a budget is too small for the players shap warns that its regression is
  singular and falls back to least squares. Such rows are listed in
  ``meta["singular_rows"]``; shap's other warnings from that module are re-emitted.
- Budget: ``nsamples`` or its name in the shared budget language, ``max_evals``
  (coalitions per row; when set it wins). shap's estimator cannot stop early and gives
  no error estimate, so ``max_error`` and ``time_budget_ms`` are ``sampled_shap``'s and
  ``permutation_shap``'s; ``quality["evaluations"]`` and ``meta["stopped_by"]``
  (``max_evals``, or ``exhausted`` when every coalition was enumerated) are reported.
- Additivity: shap gives the last player f(x) - E f - (the others), so values add
  up to ``outputs - base_values`` to about 1e-10 (shap zeroes |phi| < 1e-10). ONNX
  Runtime may round a one-row batch (shap's f(x)) differently from the large
  batches of coalitions, by about 1e-7 on a float32 margin: that is how far these
  values can sit from exact_shap's even when every coalition is enumerated.

Shapes: ``explain(X)`` takes ``(n_samples, n_columns)`` and returns values
``(n_samples, n_players, n_outputs)``.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from service.errors import InvalidInput
from service.explain.capabilities import Capabilities
from service.explain.explainers._base import Explainer, Interval
from service.explain.explanation import Explanation
from service.explain.game import Game

__all__ = ["KernelShap"]

_SHAP_LOCK = threading.Lock()
"""Serialises the first ``import shap`` and the installation of the routers."""

_RANDOM: ContextVar[np.random.RandomState | None] = ContextVar("kernel_random", default=None)
_WARNED: ContextVar[list[str] | None] = ContextVar("kernel_warnings", default=None)


class _RandomRouter:
    """``np.random`` for shap's kernel module: the calling context's generator, if any."""

    def __getattr__(self, name: str) -> Any:
        state = _RANDOM.get()
        return getattr(np.random if state is None else state, name)


class _NumpyRouter:
    """``np`` for shap's kernel module: numpy, with ``random`` routed per context."""

    random = _RandomRouter()

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


class _WarningsRouter:
    """``warnings`` for shap's kernel module: ``warn`` records into the calling context."""

    def warn(self, message: Any, *args: Any, **kwargs: Any) -> None:
        record = _WARNED.get()
        if record is None:
            kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1
            warnings.warn(message, *args, **kwargs)
        else:
            record.append(str(message))

    def __getattr__(self, name: str) -> Any:
        return getattr(warnings, name)


def _install_routers() -> None:
    import shap.explainers._kernel as kernel_module

    if not isinstance(kernel_module.np, _NumpyRouter):
        kernel_module.np = _NumpyRouter()
        kernel_module.warnings = _WarningsRouter()


@contextmanager
def _own_draws(seed: int) -> Iterator[list[str]]:
    """Inside the block, shap's kernel module draws from ``RandomState(seed)`` and its
    warnings land in the yielded list; other threads are unaffected."""
    record: list[str] = []
    state_token = _RANDOM.set(np.random.RandomState(seed))
    warned_token = _WARNED.set(record)
    try:
        yield record
    finally:
        _WARNED.reset(warned_token)
        _RANDOM.reset(state_token)


class _DropBackgroundSizeAdvice(logging.Filter):
    """shap logs "Using N background data samples could cause slower run times" on every
    explainer built over more than 100 rows. Clarion uses the whole background on purpose
    (its hash is part of the provenance), so the advice is noise in a server log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "background data samples could cause" not in str(record.msg)


def _import_shap() -> ModuleType:
    """Import shap lazily (3-4 s), once, with its import-time warnings silenced.

    ``import shap`` emits a matplotlib PendingDeprecationWarning; the warnings filter is
    process-wide state, so the import runs under the module lock.
    """
    with _SHAP_LOCK:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import shap
        _install_routers()
        logger = logging.getLogger("shap")
        if not any(isinstance(f, _DropBackgroundSizeAdvice) for f in logger.filters):
            logger.addFilter(_DropBackgroundSizeAdvice())
    module: ModuleType = shap
    return module


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

    def check(self, model: Capabilities) -> None:
        # Fewer coalitions than players leave shap's regression singular (it then warns and
        # falls back to a least-squares guess); below 2**M - 2 shap samples rather than enumerates.
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
        # shap builds every coalition row of one explained row at once (its synth_data)
        return self.budget * game.n_background

    def _explain(self, X: NDArray[np.float64]) -> Explanation:
        game = self.game_
        shap = _import_shap()
        from shap.utils._legacy import DenseData

        n, m, k = X.shape[0], game.n_players, game.n_outputs
        groups = [np.asarray(cols, dtype=np.int64) for cols in game.players]
        values = np.zeros((n, m, k), dtype=np.float64)
        base_values = np.empty((n, k), dtype=np.float64)
        outputs = np.empty((n, k), dtype=np.float64)
        used: list[int] = []
        singular: list[int] = []
        with _own_draws(self.seed) as caught:
            data = DenseData(game.background, list(game.player_names), groups)
            explainer: Any = shap.KernelExplainer(game.predict, data)
            base = np.asarray(explainer.expected_value, dtype=np.float64).reshape(k)
            for i in range(n):
                row = X[i : i + 1]
                seen = len(caught)
                phi = explainer.shap_values(row, nsamples=self.budget, l1_reg=False, silent=True)
                if any(_is_singular(w) for w in caught[seen:]):
                    singular.append(i)
                values[i] = np.asarray(phi, dtype=np.float64).reshape(m, k)
                base_values[i] = base
                # the same call shap made for f(x), so additivity holds to rounding
                outputs[i] = game.predict(row)[0]
                used.append(_coalitions_used(explainer))
        for w in caught:  # hand back what else shap warned about
            if not _is_singular(w):
                warnings.warn(w, RuntimeWarning, stacklevel=2)
        everything = 2**m - 2 if m < 63 else -1
        stopped = ["exhausted" if u == everything or m < 2 else "max_evals" for u in used]
        return self._explanation(
            values,
            base_values,
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


def _is_singular(message: str) -> bool:
    return message.startswith("Linear regression equation is singular")


def _coalitions_used(explainer: Any) -> int:
    """Coalitions shap evaluated for the last row: its ``nsamples`` capped at 2**M - 2,
    or 0 when at most one player varies (shap then needs no model call)."""
    if int(getattr(explainer, "M", 0)) < 2:
        return 0
    return int(explainer.nsamples)
