"""Explanation time limits: answered on time by the caller, enforced where the work happens.

A thread cannot be killed safely, so a limit has two halves that share one ``Deadline``:

- the **work** (a compute thread) runs inside ``with deadline(seconds):``, which puts the
  deadline in a context variable (each thread sees its own); the runtime and the
  explainers call ``check_deadline()`` between the chunks they feed to ONNX Runtime, and
  the runtime's watchdog cancels a run in flight once the deadline passes;
- the **caller** (the compute pool, on the event loop) hears of the deadline when the work
  starts (``watch_deadlines``) and answers 503 at the deadline itself, without waiting
  for the work's next check: lime's sampling or shap's regression can run for a good
  part of a second between two checks.

The two can race at the deadline: work that finished just in time and is being told,
rendered and recorded, or a caller that has just given up. ``Deadline.finish`` (the work)
and ``Deadline.abandon`` (the caller) settle it under a lock: exactly one wins. Work that
lost stops at its next check and records nothing; a caller that lost waits for the
result. So a 503 never has an audit record, and a record always has its response.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from service.errors import ExplanationTimeout

__all__ = [
    "Deadline",
    "ExplanationTimeout",
    "check_deadline",
    "current_deadline",
    "deadline",
    "watch_deadlines",
]

_RUNNING, _FINISHED, _ABANDONED = "running", "finished", "abandoned"


class Deadline:
    """One limit on one piece of work: ``seconds`` of wall time from its start."""

    __slots__ = ("_lock", "_state", "expires", "seconds", "setting")

    def __init__(self, seconds: float, setting: str) -> None:
        self.seconds = seconds
        self.setting = setting
        self.expires = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._state = _RUNNING

    def error(self) -> ExplanationTimeout:
        what = "explanation" if self.setting == "CLARION_EXPLAIN_TIMEOUT_S" else "request"
        return ExplanationTimeout(
            f"the {what} took longer than the limit of {self.seconds:g} s "
            f"({self.setting}); ask for fewer instances or a smaller budget",
            details={"field": "options", "problem": "explanation time limit exceeded"},
        )

    def passed(self) -> bool:
        return self._state == _ABANDONED or time.monotonic() > self.expires

    def check(self) -> None:
        if self.passed():
            raise self.error()

    def finish(self) -> None:
        """The work is done: its result will be delivered, unless the caller gave up first
        (then ExplanationTimeout, and the work must record nothing)."""
        with self._lock:
            if self._state == _ABANDONED:
                raise self.error()
            self._state = _FINISHED

    def abandon(self) -> bool:
        """The caller gives up (the deadline passed, or the client went away). False when
        the work finished first: its result is on its way and should be awaited."""
        with self._lock:
            if self._state == _FINISHED:
                return False
            self._state = _ABANDONED
            self.expires = min(self.expires, time.monotonic())  # the watchdog stops the run
            return True


_deadline: ContextVar[Deadline | None] = ContextVar("clarion_deadline", default=None)
_listener: ContextVar[Callable[[Deadline], None] | None] = ContextVar(
    "clarion_deadline_listener", default=None
)


@contextmanager
def deadline(seconds: float | None, setting: str = "CLARION_EXPLAIN_TIMEOUT_S") -> Iterator[None]:
    """Limit the work inside the block to ``seconds`` of wall time (None: no limit);
    ``setting`` names the limit in the error. A caller watching (``watch_deadlines``)
    hears of the deadline as the block starts."""
    if seconds is None:
        token = _deadline.set(None)
        try:
            yield
        finally:
            _deadline.reset(token)
        return
    limit = Deadline(seconds, setting)
    token = _deadline.set(limit)
    try:
        if (listener := _listener.get()) is not None:
            listener(limit)
        yield
        limit.finish()
    finally:
        _deadline.reset(token)


def watch_deadlines(listener: Callable[[Deadline], None]) -> None:
    """Call ``listener`` with each deadline the work in the current context starts (set
    it in the context the work will run in)."""
    _listener.set(listener)


def check_deadline() -> None:
    """Raise ExplanationTimeout if the current work's deadline has passed."""
    current = _deadline.get()
    if current is not None:
        current.check()


def current_deadline() -> Deadline | None:
    """The current work's deadline (None: no limit), for the runtime's watchdog, which
    cancels an ONNX Runtime run that outlives it."""
    return _deadline.get()
