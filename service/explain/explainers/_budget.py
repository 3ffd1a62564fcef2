"""One budget language for the sampling explainers (kernel_shap, permutation_shap, sampled_shap).

Three options, sampling stops at the first one reached:
- ``max_evals``: coalitions evaluated per explained row (each scored against the whole
  background; the empty and the full coalition are not counted);
- ``max_error``: the target standard error of the attributions, in the output space
  (the largest over players, as ``quality["sampling_error"]`` reports it);
- ``time_budget_ms``: wall time for the whole explanation.

Each explanation says how sampling ended, per row: ``quality["evaluations"]`` (floats, as
every quality value is) and ``meta["stopped_by"]``, a list with one word per row from
``STOPPED_BY``. A word is not a number, so it travels in ``meta`` rather than as an encoded
float in ``quality``; ``stopped_by_code`` gives the word's index for callers that want a
number.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Final

from service.explain.explainers._base import Interval

__all__ = ["BUDGET_CONSTRAINTS", "STOPPED_BY", "Clock", "stopped_by_code"]

STOPPED_BY: Final = ("max_error", "max_evals", "time_budget", "exhausted")
"""Why sampling ended: the target error was reached, the coalition budget was spent, the
time budget was spent, or every coalition was evaluated (the values are exact)."""

BUDGET_CONSTRAINTS: Final = {
    "max_error": Interval(float, 0.0, 1e12),
    "time_budget_ms": Interval(float, 0.0, 3_600_000.0),
}
"""The shared options besides ``max_evals`` (0 means no target / no time limit)."""


def stopped_by_code(word: str) -> int:
    """The index of a ``stopped_by`` word in ``STOPPED_BY``."""
    return STOPPED_BY.index(word)


@dataclass
class Clock:
    """The time budget of one explanation (``budget_ms`` 0: none)."""

    budget_ms: float
    started: float = field(default_factory=time.perf_counter)
    reserved_ms: float = 0.0
    """Time kept back for the work after sampling (the final fits)."""

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0

    def left_ms(self) -> float:
        if self.budget_ms <= 0:
            return float("inf")
        return self.budget_ms - self.reserved_ms - self.elapsed_ms()

    def spent(self) -> bool:
        return self.left_ms() <= 0
