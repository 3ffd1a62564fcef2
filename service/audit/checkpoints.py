"""WAL checkpoints of a SQLite audit store, on a thread of their own.

In WAL mode a commit appends pages to the write-ahead log; a *checkpoint* copies them
back into the database file so the log can start over. By default SQLite checkpoints
inside whichever commit takes the log past 1,000 pages, and that request waits for the
copy: with one german_credit record per commit (about a dozen pages: the row, its
decision and their indexes) one commit in 80 took 4-5 ms instead of 0.09, which was 45%
of the audit write's mean time and the whole of its tail.

``Checkpointer`` moves that copy off the request path. The store's connections raise
SQLite's own threshold to ``SAFETY_PAGES`` (a net in case this thread falls behind or a
process without one writes), and the thread runs a ``PASSIVE`` checkpoint, which never
waits for or blocks a reader or writer, every ``interval_s`` after a commit. The copy
costs the same CPU as before, on the other core. Durability is unchanged: a commit is as
durable in the log as it was (``synchronous`` decides), and a log not yet copied back
is replayed by the next connection after a crash.

With several worker processes each has its thread; whichever checkpoints first does
the work for all, and a checkpoint that finds another running skips its turn.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import structlog

__all__ = ["SAFETY_PAGES", "Checkpointer"]

log = structlog.get_logger(__name__)

SAFETY_PAGES = 10_000
"""``wal_autocheckpoint`` of the store's connections: SQLite checkpoints inline only past
this (40 MB of log at 4 KiB pages), which the thread keeps from happening."""


class Checkpointer:
    """``wrote()`` after a commit; a daemon thread checkpoints ``path`` soon after."""

    def __init__(self, path: Path, *, interval_s: float = 0.2) -> None:
        self.path = path
        self.interval_s = interval_s
        self.checkpoints = 0  # run so far, for tests and logs
        self._dirty = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def wrote(self) -> None:
        """A transaction committed pages to the log (on the writer's thread: a flag)."""
        self._dirty = True
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._run, name="clarion-checkpoint", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(self.interval_s):
                if self._dirty:
                    self._dirty = False
                    connection = self._checkpoint(connection)
            if self._dirty:
                connection = self._checkpoint(connection)
        finally:
            if connection is not None:
                connection.close()

    def _checkpoint(self, connection: sqlite3.Connection | None) -> sqlite3.Connection | None:
        try:
            if connection is None:  # mode=rw: never make a database that is not there
                uri = f"{self.path.resolve().as_uri()}?mode=rw"
                connection = sqlite3.connect(uri, uri=True, timeout=0, check_same_thread=False)
            # (busy, pages in the log, pages copied); busy: another checkpoint ran
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # never fatal: SQLite's own threshold is the net
            log.warning("audit.checkpoint_failed", error=type(exc).__name__, detail=str(exc))
            return connection
        if not busy:
            self.checkpoints += 1
        return connection

    def close(self) -> None:
        """Stop the thread after a last checkpoint of what was written."""
        with self._lock:
            self._stop.set()
            thread = self._thread
        if thread is not None:
            thread.join()
