"""One writer at a time across the processes that share a SQLite audit file.

SQLite lets one transaction write at a time. A writer that finds the file locked waits
in SQLite's busy handler, which *sleeps* (1, 2, 5, 10 ... 100 ms) between tries instead of
waking when the lock is free: with ``clarion serve --workers 2`` every commit of one worker
landed during the other's, and the workers slept while the cores idled (16 clients kept
the host 10-35% idle at 143 explanations/s, ``bench/hot_path.py``). ``WriteLock`` puts a
blocking ``flock`` on a file next to the database around each write transaction, so the
next writer wakes the moment the previous one commits; SQLite's busy timeout stays as
the guard against writers that do not take it (another program, the ``clarion audit`` CLI
of an older version).

Within a process a re-entrant thread lock comes first (``flock`` is held per open file,
which the threads share); a write nested in another on the same thread passes through.
For in-memory and ``file:`` URIs, and for other databases, it is a thread lock only:
PostgreSQL queues writers itself.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine

__all__ = ["WriteLock", "sqlite_file"]


def sqlite_file(engine: Engine) -> Path | None:
    """The database file of a SQLite engine that writes one; None for memory, ``file:``
    URIs (the read-only opener's), and other databases."""
    database = engine.url.database or ""
    if engine.dialect.name != "sqlite" or database in ("", ":memory:"):
        return None
    return None if database.startswith("file:") else Path(database)


class WriteLock:
    """``held()``: this thread and process are the only writer of the database meanwhile."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._thread = threading.RLock()
        self._fd: int | None = None
        self._depth = 0  # changed only by the thread holding _thread

    @classmethod
    def for_file(cls, database: Path | None) -> WriteLock:
        """A lock file ``<database>.write-lock`` next to a SQLite file (``sqlite_file``);
        None: a thread lock only."""
        return cls(None if database is None else database.with_name(database.name + ".write-lock"))

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread:
            path = self.path if self._depth == 0 else None
            outermost = path is not None
            if path is not None:
                if self._fd is None:
                    self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)  # blocks without the GIL
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if outermost and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._thread:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
