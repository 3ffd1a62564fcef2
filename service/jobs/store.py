"""Job records in the audit store: one row per job, its state and progress.

A job's row is its audit record (caller, model name, version and SHA-256, input SHA-256
and rows, method with every parameter and the seed, result SHA-256, start, end, status).
It changes only while the job runs (status, progress); when the job ends its
``record_sha256`` is taken over the whole row, and nothing changes it afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select, update

from service.audit._canonical import sha256_json
from service.audit.filters import Cursor
from service.audit.store import AuditStore
from service.audit.tables import JobRecord
from service.errors import Conflict, NotFound

__all__ = ["TERMINAL", "JobFilter", "JobPage", "JobStore", "record_fields"]

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
_HASHED = [
    "id",
    "created_at",
    "started_at",
    "finished_at",
    "request_id",
    "caller",
    "channel",
    "model_name",
    "model_version",
    "model_sha256",
    "method",
    "output_space",
    "status",
    "n_rows",
    "n_partitions",
    "rows_done",
    "rows_failed",
    "input_sha256",
    "result_sha256",
    "error",
    "document",
]


def record_fields(record: JobRecord) -> dict[str, Any]:
    """The record as the values its ``record_sha256`` covers (times in ISO 8601)."""
    out: dict[str, Any] = {}
    for name in _HASHED:
        value = getattr(record, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


@dataclass(frozen=True)
class JobFilter:
    model: str | None = None
    status: str | None = None
    caller: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class JobPage:
    jobs: list[JobRecord]
    next_cursor: str | None


class JobStore:
    """The ``jobs`` table of an ``AuditStore``."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    def add(self, record: JobRecord) -> None:
        with self.store.writing() as session:
            session.add(record)

    def get(self, job_id: str) -> JobRecord:
        with self.store.reading() as session:
            record = session.get(JobRecord, job_id)
        if record is None:
            raise NotFound(f"no job {job_id!r}", details={"field": "id", "problem": "unknown job"})
        return record

    def unfinished(self) -> list[JobRecord]:
        j = JobRecord
        query = select(j).where(j.status.in_(("queued", "running"))).order_by(j.created_at)
        with self.store.reading() as session:
            return list(session.scalars(query))

    def browse(self, where: JobFilter, *, limit: int, cursor: str | None = None) -> JobPage:
        """Jobs matching ``where``, newest first, ``limit`` at a time (keyset pagination)."""
        j = JobRecord
        query = select(j)
        if where.model is not None:
            query = query.where(j.model_name == where.model)
        if where.status is not None:
            query = query.where(j.status == where.status)
        if where.caller is not None:
            query = query.where(j.caller == where.caller)
        if where.since is not None:
            query = query.where(j.created_at >= where.since.astimezone(UTC))
        if where.until is not None:
            query = query.where(j.created_at <= where.until.astimezone(UTC))
        if cursor:
            after = Cursor.decode(cursor)
            query = query.where(
                or_(
                    j.created_at < after.created_at,
                    and_(j.created_at == after.created_at, j.id < after.id),
                )
            )
        query = query.order_by(j.created_at.desc(), j.id.desc()).limit(limit + 1)
        with self.store.reading() as session:
            jobs = list(session.scalars(query))
        more = len(jobs) > limit
        jobs = jobs[:limit]
        last = jobs[-1] if jobs and more else None
        return JobPage(jobs, Cursor(last.created_at, last.id).encode() if last else None)

    def claim(
        self,
        job_id: str,
        *,
        expected: str | None,
        run_id: str,
        rows_done: int,
        rows_failed: int,
        partitions_done: int,
    ) -> bool:
        """Make ``run_id`` the run that owns a queued or running job, if ``expected`` still
        does (compare and set: of two services resuming one job, one wins). Each start is
        listed in the document's ``runs`` with the partitions already done."""
        j = JobRecord
        now = datetime.now(UTC)
        owner = j.run_id.is_(None) if expected is None else j.run_id == expected
        with self.store.writing() as session:
            record = session.scalar(
                select(j).where(j.id == job_id, j.status.not_in(tuple(TERMINAL)), owner)
            )
            if record is None:
                return False
            runs = [*record.document.get("runs", []), {"started_at": now.isoformat(),
                    "partitions_done": partitions_done}]  # fmt: skip
            claimed = session.execute(
                update(j)
                .where(j.id == job_id, j.status.not_in(tuple(TERMINAL)), owner)
                .values(
                    run_id=run_id,
                    status="running",
                    started_at=record.started_at or now,
                    rows_done=rows_done,
                    rows_failed=rows_failed,
                    document={**record.document, "runs": runs},
                )
            )
            return bool(getattr(claimed, "rowcount", 0))

    def progress(self, job_id: str, *, run_id: str, rows_done: int, rows_failed: int) -> bool:
        """Count progress of the run that owns the job; False once it has ended or another
        run has taken it over."""
        j = JobRecord
        with self.store.writing() as session:
            result = session.execute(
                update(j)
                .where(j.id == job_id, j.status.not_in(tuple(TERMINAL)), j.run_id == run_id)
                .values(rows_done=rows_done, rows_failed=rows_failed)
            )
            return bool(getattr(result, "rowcount", 0))

    def finish(
        self,
        job_id: str,
        status: str,
        *,
        result_sha256: str | None = None,
        rows_failed: int | None = None,
        error: str | None = None,
        run_id: str | None = None,
    ) -> JobRecord:
        """End a job (succeeded, failed, cancelled) and seal its record with its hash;
        409 if it had already ended, or if ``run_id`` is given and no longer owns it."""
        with self.store.writing() as session:
            record = session.get(JobRecord, job_id, with_for_update=True)
            if record is None:
                raise NotFound(f"no job {job_id!r}")
            if record.status in TERMINAL:
                raise Conflict(
                    f"job {job_id} has already {record.status}",
                    details={"field": "id", "problem": f"job {record.status}"},
                )
            if run_id is not None and record.run_id != run_id:
                raise Conflict(f"job {job_id} is now run by another service")
            record.status = status
            record.finished_at = datetime.now(UTC)
            if record.started_at is None:
                record.started_at = record.finished_at
            if status == "succeeded":
                record.rows_done = record.n_rows
            if result_sha256 is not None:
                record.result_sha256 = result_sha256
            if rows_failed is not None:
                record.rows_failed = rows_failed
            record.error = error
            record.record_sha256 = sha256_json(record_fields(record))
        return record

    def delete(self, job_ids: Sequence[str]) -> None:
        from sqlalchemy import delete

        with self.store.writing() as session:
            session.execute(delete(JobRecord).where(JobRecord.id.in_(list(job_ids))))
