"""Retention: legal holds and the purge of records older than a retention period.

A hold names one record or a whole model; while it is active (not released) the
purge keeps what it covers. ``purge`` removes records created before the cutoff, with
their decisions, annotations and sample items, in one transaction, writes a
``purges`` row listing every removed id, and logs the counts. ``older_than`` is a
number and a unit: ``d`` days, ``w`` weeks, ``m`` calendar months, ``y`` years
(Regulation B keeps credit records 25 months: ``25m``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import delete, or_, select

from service.audit.store import AuditStore
from service.audit.tables import (
    Annotation,
    Decision,
    ExplanationRecord,
    JobRecord,
    LegalHold,
    Purge,
    SampleItem,
)
from service.errors import InvalidInput, NotFound

__all__ = [
    "PurgeResult",
    "active_model_hold",
    "cutoff_for",
    "list_holds",
    "place_hold",
    "purge",
    "release_hold",
    "version_in_use",
]

log = structlog.get_logger(__name__)

_AGE = re.compile(r"^\s*(\d{1,5})\s*([dwmy])\s*$")
_CHUNK = 500
_ENDED = ("succeeded", "failed", "cancelled")  # a running job is never purged


def cutoff_for(older_than: str, now: datetime) -> datetime:
    """The moment ``older_than`` (``400d``, ``25m``, ``7y``) before ``now``."""
    match = _AGE.match(older_than)
    if not match:
        raise InvalidInput(
            f"older_than must be a number and d, w, m or y (e.g. 25m, 400d); got {older_than!r}",
            details={"field": "older_than", "problem": "not an age"},
        )
    n, unit = int(match.group(1)), match.group(2)
    if unit in "dw":
        return now - timedelta(days=n * (7 if unit == "w" else 1))
    months = n * (12 if unit == "y" else 1)
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for day in range(now.day, 0, -1):
        try:
            return now.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has a first day")


def place_hold(
    store: AuditStore,
    *,
    reason: str,
    created_by: str,
    record_id: str | None = None,
    model_name: str | None = None,
    served: Collection[str] = (),
) -> LegalHold:
    """Hold one record or every record of a model until released.

    A model must be one of ``served`` or have records: a hold on a misspelt name would
    protect nothing while looking as if it did, so it is ``NotFound``.
    """
    if (record_id is None) == (model_name is None):
        raise InvalidInput("a hold names either one record or one model")
    with store.writing() as session:
        if record_id is not None and session.get(ExplanationRecord, record_id) is None:
            raise NotFound(
                f"no explanation record {record_id!r}",
                details={"field": "id", "problem": "unknown record"},
            )
        if model_name is not None and model_name not in served:
            recorded = session.scalar(
                select(ExplanationRecord.id)
                .where(ExplanationRecord.model_name == model_name)
                .limit(1)
            )
            if recorded is None:
                raise NotFound(
                    f"no model {model_name!r}: none is served under that name and no "
                    "record names it",
                    details={"field": "name", "problem": "unknown model"},
                )
        hold = LegalHold(
            id=uuid.uuid4().hex,
            created_at=datetime.now(UTC),
            created_by=created_by,
            record_id=record_id,
            model_name=model_name,
            reason=reason,
        )
        session.add(hold)
    log.info("audit.hold_placed", hold=hold.id, record=record_id, model=model_name)
    return hold


def release_hold(store: AuditStore, hold_id: str, *, released_by: str) -> LegalHold:
    with store.writing() as session:
        hold = session.get(LegalHold, hold_id)
        if hold is None:
            raise NotFound(
                f"no legal hold {hold_id!r}", details={"field": "id", "problem": "unknown hold"}
            )
        if hold.released_at is None:
            hold.released_at = datetime.now(UTC)
            hold.released_by = released_by
    log.info("audit.hold_released", hold=hold_id)
    return hold


def list_holds(store: AuditStore, *, active: bool = True) -> list[LegalHold]:
    query = select(LegalHold).order_by(LegalHold.created_at, LegalHold.id)
    if active:
        query = query.where(LegalHold.released_at.is_(None))
    with store.reading() as session:
        return list(session.scalars(query))


def active_model_hold(store: AuditStore, model_name: str) -> LegalHold | None:
    """The oldest active hold on every record of ``model_name``, if any (a model under hold
    keeps its versions: they cannot be deleted)."""
    query = (
        select(LegalHold)
        .where(LegalHold.model_name == model_name, LegalHold.released_at.is_(None))
        .order_by(LegalHold.created_at, LegalHold.id)
        .limit(1)
    )
    with store.reading() as session:
        return session.scalars(query).first()


def version_in_use(store: AuditStore, model_name: str, version: str) -> bool:
    """Whether an explanation record or a job names this version of the model: its files
    must then be kept for replay."""
    r, j = ExplanationRecord, JobRecord
    with store.reading() as session:
        for table in (r, j):
            found = session.scalar(
                select(table.id)
                .where(table.model_name == model_name, table.model_version == version)
                .limit(1)
            )
            if found is not None:
                return True
    return False


@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime
    removed: list[str]
    held: list[str]
    dry_run: bool
    jobs_removed: list[str] = field(default_factory=list)
    jobs_held: list[str] = field(default_factory=list)


def purge(
    store: AuditStore,
    *,
    older_than: str,
    actor: str,
    dry_run: bool = False,
    remove_job_files: Callable[[str], None] | None = None,
) -> PurgeResult:
    """Remove records created before the cutoff that no active hold covers.

    Batch jobs that have ended go by the same rule (a hold on their model keeps them);
    ``remove_job_files(job_id)`` then removes each removed job's input and result files,
    which live exactly as long as the job's record.
    """
    now = datetime.now(UTC)
    cutoff = cutoff_for(older_than, now)
    r = ExplanationRecord
    with store.writing() as session:
        active = select(LegalHold).where(LegalHold.released_at.is_(None))
        holds = list(session.scalars(active))
        held_records = {h.record_id for h in holds if h.record_id}
        held_models = {h.model_name for h in holds if h.model_name}
        old = list(session.execute(select(r.id, r.model_name).where(r.created_at < cutoff)))
        held = sorted(i for i, m in old if i in held_records or m in held_models)
        removed = sorted(i for i, m in old if i not in held_records and m not in held_models)
        j = JobRecord
        old_jobs = list(
            session.execute(
                select(j.id, j.model_name).where(j.created_at < cutoff, j.status.in_(_ENDED))
            )
        )
        jobs_held = sorted(i for i, m in old_jobs if m in held_models)
        jobs_removed = sorted(i for i, m in old_jobs if m not in held_models)
        if not dry_run:
            for start in range(0, len(jobs_removed), _CHUNK):
                session.execute(delete(j).where(j.id.in_(jobs_removed[start : start + _CHUNK])))
            for start in range(0, len(removed), _CHUNK):
                chunk = removed[start : start + _CHUNK]
                session.execute(delete(SampleItem).where(SampleItem.record_id.in_(chunk)))
                session.execute(
                    delete(Annotation).where(
                        Annotation.record_id.in_(chunk),
                        or_(Annotation.supersedes.is_not(None), Annotation.signs_off.is_not(None)),
                    )
                )
                session.execute(delete(Annotation).where(Annotation.record_id.in_(chunk)))
                session.execute(delete(LegalHold).where(LegalHold.record_id.in_(chunk)))
                session.execute(delete(Decision).where(Decision.record_id.in_(chunk)))
                session.execute(delete(r).where(r.id.in_(chunk)))
            session.add(
                Purge(
                    id=uuid.uuid4().hex,
                    created_at=now,
                    actor=actor,
                    cutoff=cutoff,
                    removed_count=len(removed) + len(jobs_removed),
                    held_count=len(held) + len(jobs_held),
                    removed=removed + [f"job:{i}" for i in jobs_removed],
                )
            )
    if not dry_run and remove_job_files is not None:
        for job_id in jobs_removed:
            remove_job_files(job_id)
    log.info(
        "audit.purged" if not dry_run else "audit.purge_dry_run",
        cutoff=cutoff.isoformat(),
        removed=len(removed),
        held=len(held),
        ids=removed,
        jobs_removed=jobs_removed,
        jobs_held=len(jobs_held),
    )
    return PurgeResult(cutoff, removed, held, dry_run, jobs_removed, jobs_held)
