"""Group commit: concurrent records share transactions, and every caller returns only once
its own record is committed; a failed write fails exactly the requests it should."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.audit._canonical import record_text, sha256_hex
from service.audit.commits import GroupCommit
from service.audit.store import AuditStore
from tests.helpers.audit import audit_settings


class SlowLog:
    """A write that takes a while (as an fsync does) and remembers what was committed."""

    def __init__(self, bad: set[int] | None = None, delay: float = 0.02) -> None:
        self.committed: list[int] = []
        self.groups: list[list[int]] = []
        self.bad = bad or set()
        self.delay = delay
        self.lock = threading.Lock()

    def write(self, items: Sequence[int]) -> None:
        time.sleep(self.delay)
        if self.bad & set(items):
            raise RuntimeError(f"cannot write {sorted(self.bad & set(items))}")
        with self.lock:
            self.groups.append(list(items))
            self.committed.extend(items)


def _submit_all(commit: GroupCommit[int], log: SlowLog, n: int) -> dict[int, str]:
    outcome: dict[int, str] = {}

    def one(i: int) -> None:
        try:
            commit.submit(i)
        except RuntimeError:
            outcome[i] = "failed"
            return
        # Returned: its item must already be committed.
        with log.lock:
            outcome[i] = "committed" if i in log.committed else "returned early"

    with ThreadPoolExecutor(max_workers=n) as pool:
        list(pool.map(one, range(n)))
    return outcome


def test_concurrent_items_share_transactions_and_return_only_once_committed() -> None:
    log = SlowLog()
    commit = GroupCommit(log.write)
    outcome = _submit_all(commit, log, 32)
    assert outcome == {i: "committed" for i in range(32)}
    assert sorted(log.committed) == list(range(32))  # each exactly once
    assert len(log.groups) < 32  # shared: fewer transactions than items
    assert max(len(g) for g in log.groups) > 1


def test_one_item_at_a_time_is_one_transaction_each() -> None:
    log = SlowLog(delay=0.0)
    commit = GroupCommit(log.write)
    for i in range(5):
        commit.submit(i)
    assert log.groups == [[0], [1], [2], [3], [4]]


def test_a_bad_item_fails_only_its_own_request() -> None:
    log = SlowLog(bad={7})
    commit = GroupCommit(log.write)
    outcome = _submit_all(commit, log, 16)
    assert outcome[7] == "failed"
    assert {i: s for i, s in outcome.items() if i != 7} == {
        i: "committed" for i in range(16) if i != 7
    }
    assert sorted(log.committed) == [i for i in range(16) if i != 7]


def test_items_handed_in_together_commit_in_one_group_and_fail_alone() -> None:
    """``submit_all`` (coalesced explanations): one transaction for all of them, while
    other callers go on committing; a bad item fails alone, the others are committed."""
    log = SlowLog(bad={103})
    commit = GroupCommit(log.write)
    others = threading.Thread(target=_submit_all, args=(commit, log, 16))
    others.start()
    errors = commit.submit_all([100, 101, 102])
    failed = commit.submit_all([103, 104])
    others.join()
    assert errors == [None, None, None]
    assert any({100, 101, 102} <= set(g) for g in log.groups)  # together
    assert isinstance(failed[0], RuntimeError)
    assert failed[1] is None
    assert {100, 101, 102, 104} <= set(log.committed)
    assert 103 not in log.committed


def test_a_store_that_is_down_fails_every_request() -> None:
    def down(items: Sequence[int]) -> None:
        raise RuntimeError("down")

    commit = GroupCommit(down)
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(commit.submit, i) for i in range(8)]
    assert all(isinstance(f.exception(), RuntimeError) for f in futures)


def test_concurrent_explanations_each_get_one_record(
    audit_models_dir: Path, database_url: str
) -> None:
    """Through HTTP on both databases: every 2xx explanation has exactly its record."""
    app = create_app(audit_settings(audit_models_dir, database_url))
    with TestClient(app) as client:
        body = client.get("/v1/models/tiny_hiring/samples?limit=1").json()
        request = {"instances": body["instances"], "method": "exact_shap"}

        def explain(_: int) -> str:
            response = client.post("/v1/models/tiny_hiring/explain", json=request)
            assert response.status_code == 200, response.text
            return str(response.json()["id"])

        with ThreadPoolExecutor(max_workers=8) as pool:
            ids = list(pool.map(explain, range(24)))
        store = AuditStore.open(database_url)
        try:
            assert store.count() == 24
            assert {store.get_record(i).id for i in ids} == set(ids)
        finally:
            store.close()


def test_a_record_is_stored_as_the_very_bytes_its_hash_covers(
    audit_models_dir: Path, tmp_path: Path
) -> None:
    """The document is serialised once: the stored text is the canonical form that the
    record's hash covers, not a second serialisation made for the column."""
    db = tmp_path / "audit.db"
    app = create_app(audit_settings(audit_models_dir, f"sqlite:///{db.as_posix()}"))
    with TestClient(app) as client:
        body = client.get("/v1/models/tiny_hiring/samples?limit=3").json()
        answer = client.post("/v1/models/tiny_hiring/explain", json=body)
        assert answer.status_code == 200, answer.text
        record_id = answer.json()["id"]
    with sqlite3.connect(db) as connection:
        stored, digest = connection.execute(
            "select document, record_sha256 from explanation_records where id = ?", (record_id,)
        ).fetchone()
    assert sha256_hex(stored) == digest
    assert stored.encode("utf-8") == record_text(orjson.loads(stored))
