"""One writer at a time across processes sharing a SQLite file (service.audit.writelock)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import create_engine

from service.audit.writelock import WriteLock, sqlite_file

# A second process tries the lock without waiting: exit 0 if it got it, 1 if it is held.
_TRY = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(1)
sys.exit(0)
"""


def _other_process_gets(path: Path) -> bool:
    return subprocess.run([sys.executable, "-c", _TRY, str(path)], check=False).returncode == 0


def test_a_sqlite_file_gets_a_lock_file_next_to_it(tmp_path: Path) -> None:
    lock = WriteLock.for_file(sqlite_file(create_engine(f"sqlite:///{tmp_path / 'audit.db'}")))
    assert lock.path == tmp_path / "audit.db.write-lock"
    assert WriteLock.for_file(sqlite_file(create_engine("sqlite://"))).path is None
    assert WriteLock.for_file(sqlite_file(create_engine("sqlite:///:memory:"))).path is None


def test_another_process_waits_while_a_write_is_held(tmp_path: Path) -> None:
    lock = WriteLock(tmp_path / "audit.db.write-lock")
    with lock.held():
        assert not _other_process_gets(lock.path)  # type: ignore[arg-type]
        with lock.held():  # a nested write on the same thread passes through
            pass
        assert not _other_process_gets(lock.path)  # type: ignore[arg-type]  # still held
    assert _other_process_gets(lock.path)  # type: ignore[arg-type]
    lock.close()


def test_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    lock = WriteLock(tmp_path / "w.lock")
    inside = 0
    most = 0
    guard = threading.Lock()

    def write() -> None:
        nonlocal inside, most
        for _ in range(200):
            with lock.held():
                with guard:
                    inside += 1
                    most = max(most, inside)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1
    lock.close()
