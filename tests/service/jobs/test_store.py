"""Job records in the audit store: sealed when they end, purged with their files, held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.audit import AuditStore
from service.audit._canonical import sha256_json
from service.audit.retention import place_hold, purge
from service.audit.tables import JobRecord
from service.errors import Conflict
from service.jobs.files import JobFiles
from service.jobs.store import JobStore, record_fields


def _job(model: str, *, days_old: int, status: str = "running") -> JobRecord:
    return JobRecord(
        id=f"{model[:4]}{days_old:04d}{status[:4]}".ljust(32, "0"),
        created_at=datetime.now(UTC) - timedelta(days=days_old),
        caller="k1",
        channel="api",
        model_name=model,
        model_version="1",
        model_sha256="a" * 64,
        method="tree_shap",
        output_space="raw",
        status=status,
        n_rows=10,
        n_partitions=1,
        rows_done=0,
        rows_failed=0,
        input_sha256="b" * 64,
        document={"plan": {}, "runs": []},
    )


def test_an_ended_job_is_sealed_and_final(tmp_path: Path) -> None:
    store = AuditStore.open(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        jobs = JobStore(store)
        jobs.add(_job("m", days_old=0))
        job_id = _job("m", days_old=0).id
        claim = {"rows_done": 0, "rows_failed": 0, "partitions_done": 0}
        assert jobs.claim(job_id, expected=None, run_id="r1", **claim)
        # A second service resuming with what it read before loses the race.
        assert not jobs.claim(job_id, expected=None, run_id="r2", **claim)
        assert jobs.claim(job_id, expected="r1", run_id="r3", **claim)
        assert not jobs.progress(job_id, run_id="r1", rows_done=5, rows_failed=1)
        assert jobs.progress(job_id, run_id="r3", rows_done=5, rows_failed=1)
        with pytest.raises(Conflict, match="another service"):
            jobs.finish(job_id, "succeeded", run_id="r1")
        done = jobs.finish(job_id, "succeeded", result_sha256="c" * 64, rows_failed=1, run_id="r3")
        assert done.rows_done == 10
        assert len(done.document["runs"]) == 2
        assert done.record_sha256 == sha256_json(record_fields(jobs.get(job_id)))
        assert not jobs.progress(job_id, run_id="r3", rows_done=1, rows_failed=0)
        with pytest.raises(Conflict, match="already succeeded"):
            jobs.finish(job_id, "cancelled")
        assert [j.id for j in jobs.unfinished()] == []
    finally:
        store.close()


def test_purge_removes_old_ended_jobs_with_their_files_but_not_held_or_running_ones(
    tmp_path: Path,
) -> None:
    store = AuditStore.open(f"sqlite:///{tmp_path / 'a.db'}")
    files = JobFiles((tmp_path / "jobs").as_posix())
    try:
        jobs = JobStore(store)
        old, held, running, young = (
            _job("gone", days_old=40, status="succeeded"),
            _job("kept", days_old=40, status="failed"),
            _job("gone", days_old=41),
            _job("gone", days_old=1, status="succeeded"),
        )
        for job in (old, held, running, young):
            jobs.add(job)
            files.write(files.input_path(job.id, "csv"), b"x\n1\n")
        place_hold(store, model_name="kept", reason="case 7", created_by="k1", served={"kept"})
        dry = purge(store, older_than="30d", actor="t", dry_run=True)
        assert dry.jobs_removed == [old.id]
        assert files.exists(files.input_path(old.id, "csv"))
        result = purge(store, older_than="30d", actor="t", remove_job_files=files.remove)
        assert result.jobs_removed == [old.id]
        assert result.jobs_held == [held.id]
        assert not files.exists(files.input_path(old.id, "csv"))
        for kept in (held, running, young):
            assert jobs.get(kept.id).id == kept.id
            assert files.exists(files.input_path(kept.id, "csv"))
    finally:
        store.close()
