"""Readiness: served models and an audit store that takes writes (explanations are recorded)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def _writer_holding_the_lock(database_url: str) -> Iterator[None]:
    """Another writer that holds the store's write lock, as a stuck one would."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(url.database or "", isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    engine = create_engine(url)
    try:
        with engine.begin() as locked:
            locked.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
            yield
    finally:
        engine.dispose()


def test_ready_only_while_the_audit_store_takes_writes(
    audit_client: TestClient, database_url: str
) -> None:
    r = audit_client.get("/health/ready")
    assert r.status_code == 200, r.text
    assert r.json()["audit_store"] == "ok"
    with _writer_holding_the_lock(database_url):
        r = audit_client.get("/health/ready")
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["status"] == "not_ready"
        assert body["audit_store"].startswith("not writable")
        assert body["models"] > 0
        assert audit_client.get("/health/live").status_code == 200
    assert audit_client.get("/health/ready").status_code == 200
