"""Audit-trail fixtures: every store and HTTP flow runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.audit import AuditStore
from tests.helpers.audit import audit_settings, hiring_bundle, postgres_schema
from tests.support import credit_bundle, regression_bundle


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL schema (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{(tmp_path / 'audit.db').as_posix()}"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture(scope="session")
def audit_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("audit_models")
    credit_bundle(root)
    regression_bundle(root)
    hiring_bundle(root)
    return root


@pytest.fixture
def store(database_url: str) -> Iterator[AuditStore]:
    opened = AuditStore.open(database_url)
    yield opened
    opened.close()


@pytest.fixture
def audit_client(audit_models_dir: Path, database_url: str) -> Iterator[TestClient]:
    """An open (no keys, loopback) service with an encryption key, on ``database_url``."""
    app = create_app(audit_settings(audit_models_dir, database_url))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="session")
def dask_scheduler() -> Iterator[str]:
    """A real local Dask cluster (two worker processes, one thread each) for the session's
    job tests; its address is what CLARION_DASK_SCHEDULER would say."""
    import distributed

    from tests.helpers.jobs import WORKER_ENV

    cluster = distributed.LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        env=dict(WORKER_ENV),
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()
