"""WAL checkpoints run on the store's own thread, never inside a request's commit."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

from service.audit import checkpoints
from service.audit.checkpoints import SAFETY_PAGES, Checkpointer
from service.audit.store import AuditStore
from service.audit.writelock import WriteLock
from tests.helpers.audit import add_record


def _uncopied(db: Path) -> int:
    """Frames in the write-ahead log not yet copied back, read from the WAL index (the
    -shm file: mxFrame at byte 16, nBackfill at byte 96, in the host's byte order). No
    pragma tells without copying: SQLite 3.40 takes wal_checkpoint(NOOP) for PASSIVE."""
    shm = db.with_name(db.name + "-shm")
    if not shm.exists():  # the last connection closed: all copied, log and index removed
        return 0
    head = shm.read_bytes()[:100]
    return int.from_bytes(head[16:20], sys.byteorder) - int.from_bytes(head[96:100], sys.byteorder)


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
    assert _uncopied(db) == 0
    reopened = AuditStore.open(f"sqlite:///{db.as_posix()}")
    try:
        assert {reopened.get_record(i).id for i in ids} == set(ids)
    finally:
        reopened.close()


def _restarts(db: Path) -> int:
    """How often the log has started over from its beginning: the checkpoint sequence
    number in its header (bytes 12-15, big-endian), which each restart increments."""
    header = db.with_name(db.name + "-wal").read_bytes()[:16]
    return int.from_bytes(header[12:16], "big")


def test_a_checkpoint_also_copies_what_was_committed_during_its_first_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a steady load commits land while the thread copies. With one pass the log was
    never all copied, so it never started over and grew to SQLite's own threshold, where
    one commit copied it inline (7-17 ms). The second pass, with the writers held back,
    copies them too, and the next commit starts the log over."""
    db = tmp_path / "audit.db"
    store = AuditStore.open(f"sqlite:///{db.as_posix()}")
    checkpointer = store._checkpointer
    assert checkpointer is not None
    checkpointer.close()  # this test runs the checkpoint itself, on its own thread
    other = sqlite3.connect(db, isolation_level=None)  # a writer that began before the copy
    other.execute("CREATE TABLE scratch (x)")
    connection = None
    try:
        add_record(store)
        first_pass = checkpoints._passive
        calls = 0

        def with_a_commit_during(on: sqlite3.Connection) -> bool:
            nonlocal calls
            calls += 1
            if calls > 1:
                return first_pass(on)
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO scratch VALUES (1)")
            copied = first_pass(on)
            other.execute("COMMIT")  # its pages come after those the pass copied
            return copied

        monkeypatch.setattr(checkpoints, "_passive", with_a_commit_during)
        connection = checkpointer._checkpoint(None)
        assert _uncopied(db) == 0  # the commit during the first pass was copied too
        before = _restarts(db)
        add_record(store)
        assert _restarts(db) == before + 1  # so the next commit started the log over
    finally:
        other.close()
        if connection is not None:
            connection.close()
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
