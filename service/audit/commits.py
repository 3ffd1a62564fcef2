"""Group commit: concurrent requests share one transaction, each still answered only once
its own record is durable.

``GroupCommit.submit(item)`` blocks until ``item`` has been written and committed, and
raises if that write failed (``submit_all``: several items at once, in one group). There
is no writer thread: the first caller to find no write in progress becomes the *leader*,
takes every item waiting (its own included), writes them in one transaction, wakes their
callers, and hands the lead to the first caller that queued meanwhile. Under load one
commit (one fsync on SQLite) serves many requests; with one request at a time it is an
ordinary transaction.

If a shared transaction fails, each of its items is written again in a transaction of
its own, so one bad record fails only its own request, and a store that is down fails
them all, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")


@dataclass(eq=False)
class _Waiter(Generic[T]):
    item: T
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # set, with ``done``, when this caller is to write the next group
    error: BaseException | None = None


class GroupCommit(Generic[T]):
    """Writes items in groups through ``write`` (one transaction per call)."""

    def __init__(self, write: Callable[[Sequence[T]], None]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._waiting: list[_Waiter[T]] = []
        self._busy = False
        self.groups = 0  # transactions committed or tried, for tests and metrics

    def submit(self, item: T) -> None:
        """Return once ``item`` is committed; raise what its write raised."""
        (error,) = self.submit_all([item])
        if error is not None:
            raise error

    def submit_all(self, items: Sequence[T]) -> list[BaseException | None]:
        """Return once ``items`` are committed, all in one group; for each, what its write
        raised (None: committed). Coalesced explanations (``Engine.explain_batch``) hand
        in their records together."""
        mine = [_Waiter(item) for item in items]
        if not mine:
            return []
        first = mine[0]
        with self._lock:
            self._waiting.extend(mine)  # together: a leader takes the whole list at once
            lead = not self._busy
            self._busy = True
        if not lead:
            first.done.wait()
            if not first.lead:
                return [w.error for w in mine]
        with self._lock:
            group, self._waiting = self._waiting, []
        self._commit(group)
        with self._lock:
            successor = self._waiting[0] if self._waiting else None
            if successor is None:
                self._busy = False
            else:
                successor.lead = True
        ours = {id(w) for w in mine}
        for waiter in group:
            if id(waiter) not in ours:
                waiter.done.set()
        if successor is not None:
            successor.done.set()
        return [w.error for w in mine]

    def _commit(self, group: list[_Waiter[T]]) -> None:
        self.groups += 1
        try:
            self._write([w.item for w in group])
            return
        except BaseException as exc:
            if len(group) == 1:
                group[0].error = exc
                return
        for waiter in group:  # isolate the failure: each on its own
            self.groups += 1
            try:
                self._write([waiter.item])
            except BaseException as exc:
                waiter.error = exc
