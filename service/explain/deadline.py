"""Explanation time limits, enforced cooperatively where the work happens.

A thread cannot be killed safely, so the engine sets a deadline for the request
(a context variable: each request's thread sees its own) and the runtime checks
it between the large chunks it feeds to ONNX Runtime. Work past the deadline
stops at the next chunk with a 503 that names the limit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from service.errors import ExplanationTimeout

__all__ = ["ExplanationTimeout", "check_deadline", "current_deadline", "deadline"]

_deadline: ContextVar[tuple[float, float, str] | None] = ContextVar(
    "clarion_deadline", default=None
)


@contextmanager
def deadline(seconds: float | None, setting: str = "CLARION_EXPLAIN_TIMEOUT_S") -> Iterator[None]:
    """Limit the work inside the block to ``seconds`` of wall time (None: no limit);
    ``setting`` names the limit in the error."""
    token = _deadline.set(
        None if seconds is None else (time.monotonic() + seconds, seconds, setting)
    )
    try:
        yield
    finally:
        _deadline.reset(token)


def check_deadline() -> None:
    """Raise ExplanationTimeout if the current request's deadline has passed."""
    current = _deadline.get()
    if current is not None and time.monotonic() > current[0]:
        what = "explanation" if current[2] == "CLARION_EXPLAIN_TIMEOUT_S" else "request"
        raise ExplanationTimeout(
            f"the {what} took longer than the limit of {current[1]:g} s "
            f"({current[2]}); ask for fewer instances or a smaller budget",
            details={"field": "options", "problem": "explanation time limit exceeded"},
        )


def current_deadline() -> float | None:
    """The current request's deadline on ``time.monotonic``'s clock (None: no limit), for
    the runtime's watchdog, which cancels an ONNX Runtime run that outlives it."""
    current = _deadline.get()
    return None if current is None else current[0]
