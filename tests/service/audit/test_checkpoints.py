"""WAL checkpoints run on the store's own thread, never inside a request's commit."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from service.audit.checkpoints import SAFETY_PAGES, Checkpointer
from service.audit.store import AuditStore
from service.audit.writelock import WriteLock
from tests.helpers.audit import add_record


def _wal_pages(db: Path) -> int:
    """Frames in the write-ahead log not yet copied back (a checkpoint that copies none)."""
    with sqlite3.connect(db) as connection:
        _, in_log, copied = connection.execute("PRAGMA wal_checkpoint(NOOP)").fetchone()
    return int(in_log) - int(copied)


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "clarion-checkpoint"]


def test_commits_leave_the_copy_to_the_checkpoint_thread(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    store = AuditStore.open(f"sqlite:///{db.as_posix()}")
    try:
        with store.engine.connect() as connection:
            threshold = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert threshold == SAFETY_PAGES  # SQLite's inline copy only as a safety net
        assert _checkpoint_threads() == []  # started by the first write, not by opening
        ids = [add_record(store) for _ in range(40)]
        checkpointer = store._checkpointer
        assert checkpointer is not None
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checkpointer.checkpoints >= 1
        assert len(_checkpoint_threads()) == 1
    finally:
        store.close()
    assert _checkpoint_threads() == []  # close stops it, after a last checkpoint
    assert _wal_pages(db) == 0
    reopened = AuditStore.open(f"sqlite:///{db.as_posix()}")
    try:
        assert {reopened.get_record(i).id for i in ids} == set(ids)
    finally:
        reopened.close()


def _restarts(db: Path) -> int:
    """How often the log has started over from its beginning: the checkpoint sequence
    number in its header (bytes 12-15, big-endian), which each restart increments."""
    header = (db.parent / (db.name + "-wal")).read_bytes()[:16]
    return int.from_bytes(header[12:16], "big")


def test_the_log_starts_over_under_a_steady_stream_of_commits(tmp_path: Path) -> None:
    """Commits keep landing while the thread copies; its second pass, with the writers
    held back, copies the rest, so the log starts over instead of growing to SQLite's
    own threshold (where one commit copied it all inline: 7-17 ms)."""
    db = tmp_path / "audit.db"
    store = AuditStore.open(f"sqlite:///{db.as_posix()}")
    try:
        deadline = time.monotonic() + 20
        written = 0
        while _restarts(db) < 3 and time.monotonic() < deadline:
            add_record(store, document={"filler": "x" * 20_000})  # some 6 pages a record
            written += 1
        assert _restarts(db) >= 3, f"{written} records and the log never started over"
        # The log file keeps the length of its longest run: 4,096-byte pages, 24 per frame.
        longest = (db.parent / "audit.db-wal").stat().st_size // (4096 + 24)
        assert longest < SAFETY_PAGES / 2, (written, longest)  # never near the inline copy
    finally:
        store.close()


def test_a_checkpoint_that_fails_is_logged_and_the_thread_goes_on(tmp_path: Path) -> None:
    """A log that cannot be copied (here: no database at all) never stops the thread."""
    checkpointer = Checkpointer(tmp_path / "missing" / "audit.db", WriteLock(None), interval_s=0.01)
    checkpointer.wrote()
    time.sleep(0.1)
    assert checkpointer.checkpoints == 0
    thread = checkpointer._thread
    assert thread is not None
    assert thread.is_alive()  # the failed checkpoints did not end it
    checkpointer.close()
    assert not thread.is_alive()


def test_memory_and_read_only_stores_have_no_checkpointer(tmp_path: Path) -> None:
    memory = AuditStore.open("sqlite:///:memory:")
    try:
        assert memory._checkpointer is None
    finally:
        memory.close()
    db = tmp_path / "audit.db"
    AuditStore.open(f"sqlite:///{db.as_posix()}").close()
    read_only = AuditStore.open(f"sqlite:///{db.as_posix()}", read_only=True)
    try:
        assert read_only._checkpointer is None
    finally:
        read_only.close()
