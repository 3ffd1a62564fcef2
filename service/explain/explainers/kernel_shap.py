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
  ``np.random.permutation``). FastAPI runs ``def`` handlers on a thread pool, so two
  requests could interleave their draws and neither would be reproducible. A
  module-level lock is held around seeding and the whole call, and the global
  generator's state is restored afterwards. The price: KernelSHAP requests are
  served one at a time per process (use ``permutation_shap`` for concurrency).
  The generator is seeded once per call and the rows draw in turn, exactly as
  ``np.random.seed(seed); explainer.shap_values(X)`` would.
  Anything else in the process that draws from the global generator without this
  lock could still disturb a running explanation; nothing in the service does.
- No warning escapes: ``import shap`` warns (matplotlib), and when a budget is too
  small for the players shap warns that its regression is singular and falls back
  to least squares. Such rows are listed in ``meta["singular_rows"]``; warnings from
  other code caught meanwhile (the filter is process-wide) are re-emitted.
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
"""Serialises every use of numpy's global generator (and the first ``import shap``)."""


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
    }

    def __init__(self, *, seed: int = 0, nsamples: int = 2048) -> None:
        self.seed = seed
        self.nsamples = nsamples

    def check(self, model: Capabilities) -> None:
        # Fewer coalitions than players leave shap's regression singular (it then warns and
        # falls back to a least-squares guess); below 2**M - 2 shap samples rather than enumerates.
        needed = min(2 * model.n_players, 2**model.n_players - 2)
        if self.nsamples < needed:
            raise InvalidInput(
                f"kernel_shap needs nsamples of at least {needed} for a model with "
                f"{model.n_players} players; got {self.nsamples}",
                details={"field": "options.nsamples", "problem": f"at least {needed}"},
            )

    def model_rows(self, game: Game, n_samples: int) -> int:
        return n_samples * self.nsamples * game.n_background

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
        with _SHAP_LOCK, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            saved = np.random.get_state()  # noqa: NPY002 - shap only draws from the global generator
            try:
                np.random.seed(self.seed)  # noqa: NPY002 - see the module docstring
                data = DenseData(game.background, list(game.player_names), groups)
                explainer: Any = shap.KernelExplainer(game.predict, data)
                base = np.asarray(explainer.expected_value, dtype=np.float64).reshape(k)
                for i in range(n):
                    row = X[i : i + 1]
                    seen = len(caught)
                    phi = explainer.shap_values(
                        row, nsamples=self.nsamples, l1_reg=False, silent=True
                    )
                    if any(_is_singular(w) for w in caught[seen:]):
                        singular.append(i)
                    values[i] = np.asarray(phi, dtype=np.float64).reshape(m, k)
                    base_values[i] = base
                    # the same call shap made for f(x), so additivity holds to rounding
                    outputs[i] = game.predict(row)[0]
                    used.append(_coalitions_used(explainer))
            finally:
                np.random.set_state(saved)  # noqa: NPY002 - leave the global generator as found
        for w in caught:  # hand back what other code warned about meanwhile
            if not _is_singular(w):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return self._explanation(
            values,
            base_values,
            outputs,
            meta={
                "seed": self.seed,
                "nsamples_used": used,
                "l1_reg": False,
                "singular_rows": singular,
            },
        )


def _is_singular(w: warnings.WarningMessage) -> bool:
    return str(w.message).startswith("Linear regression equation is singular")


def _coalitions_used(explainer: Any) -> int:
    """Coalitions shap evaluated for the last row: its ``nsamples`` capped at 2**M - 2,
    or 0 when at most one player varies (shap then needs no model call)."""
    if int(getattr(explainer, "M", 0)) < 2:
        return 0
    return int(explainer.nsamples)
