"""WAL checkpoints of a SQLite audit store, on a thread of their own.

In WAL mode a commit appends pages to the write-ahead log; a *checkpoint* copies them
back into the database file so the log can start over. By default SQLite checkpoints
inside whichever commit takes the log past 1,000 pages, and that request waits for the
copy: with one german_credit record per commit (about a dozen pages: the row, its
decision and their indexes) one commit in 80 took 4-5 ms instead of 0.09, which was 45%
of the audit write's mean time and the whole of its tail.

``Checkpointer`` moves that copy off the request path. The store's connections raise
SQLite's own threshold to ``SAFETY_PAGES`` (a net in case this thread falls behind or a
process without one writes), and every ``interval_s`` after a commit the thread copies
the log back in two ``PASSIVE`` passes:

1. the bulk, beside the writers: a passive checkpoint never waits for or blocks a reader
   or a writer, and copies the pages committed before it began;
2. what was committed meanwhile, with the writers held back (the store's ``WriteLock``):
   a few pages, a millisecond or two. The log is then copied back whole, so the next
   commit starts it over from its beginning.

One pass alone never let the log start over under a steady load: commits kept landing
while it copied, the log grew to ``SAFETY_PAGES``, and then the commit that crossed it
copied the rest inline: one german_credit record in ~520 took 7-17 ms. Over 6,000
records in process (two interleaved pairs), ``add_rows``' transaction took 0.152-0.175 ms
on average and 15-18.5 ms at most with one pass; 0.123-0.132 and 1.0-3.6 ms with two.
The copy costs the same CPU as before, on the other core. Durability is unchanged: a
commit is as durable in the log as it was (``synchronous`` decides), and a log not yet
copied back is replayed by the next connection after a crash.

With several worker processes each has its thread; whichever checkpoints first does
the work for all, and a checkpoint that finds another running skips its turn.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import structlog

from service import cores
from service.audit.writelock import WriteLock

__all__ = ["SAFETY_PAGES", "Checkpointer"]

log = structlog.get_logger(__name__)

SAFETY_PAGES = 10_000
"""``wal_autocheckpoint`` of the store's connections: SQLite checkpoints inline only past
this (40 MB of log at 4 KiB pages), which the thread keeps from happening."""


class Checkpointer:
    """``wrote()`` after a commit; a daemon thread checkpoints ``path`` soon after."""

    def __init__(self, path: Path, write_lock: WriteLock, *, interval_s: float = 0.2) -> None:
        self.path = path
        self.write_lock = write_lock  # the store's: held for the second pass
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
        cores.spread()  # started by the writer, which may be the pinned compute lane
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
            if _passive(connection):  # the bulk, beside the writers
                with self.write_lock.held():  # the rest: then the log starts over
                    _passive(connection)
                self.checkpoints += 1
        except sqlite3.Error as exc:  # never fatal: SQLite's own threshold is the net
            log.warning("audit.checkpoint_failed", error=type(exc).__name__, detail=str(exc))
        return connection

    def close(self) -> None:
        """Stop the thread after a last checkpoint of what was written."""
        with self._lock:
            self._stop.set()
            thread = self._thread
        if thread is not None:
            thread.join()


def _passive(connection: sqlite3.Connection) -> bool:
    """One passive checkpoint; False when another connection's checkpoint was running."""
    # (busy, pages in the log, pages copied): the pages are those committed when it began
    busy, _, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return not busy
