"""Annotations: append-only reviewer verdicts on a record, corrections and sign-offs.

A verdict (ok, inaccurate, proxy, not_actionable, unclear_wording, unstable) with a
note, reviewer and time, tied to the record's hash at that moment. The reviewer is the
authenticated API key (``caller``: its id; ``reviewer``: its name, else its id), never
free text. Nothing is edited: a correction is a new verdict that ``supersedes`` the one
it corrects (each verdict can be superseded once: a unique constraint settles
concurrent corrections), and a second reviewer's sign-off is a new row that
``signs_off`` a current verdict (once; the key that gave the verdict cannot sign it
off, and neither can the anonymous caller of an open service: four eyes need two
known keys).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.schemas import AnnotationOut, AnnotationRequest, SignOffRequest
from service.audit.store import AuditStore
from service.audit.tables import Annotation, ExplanationRecord
from service.errors import Conflict, Forbidden, InvalidInput, NotFound

__all__ = ["annotate", "annotations_of", "sign_off"]


def _record(session: Session, record_id: str) -> ExplanationRecord:
    record = session.get(ExplanationRecord, record_id)
    if record is None:
        raise NotFound(
            f"no explanation record {record_id!r}",
            details={"field": "id", "problem": "unknown record"},
        )
    return record


def _current_verdict(session: Session, annotation_id: str, record_id: str) -> Annotation:
    target = session.get(Annotation, annotation_id)
    if target is None or target.record_id != record_id:
        raise NotFound(
            f"no annotation {annotation_id!r} on record {record_id}",
            details={"field": "annotation", "problem": "unknown annotation"},
        )
    if target.kind != "verdict":
        raise Conflict(f"annotation {annotation_id} is a sign-off, not a verdict")
    later = session.scalar(select(Annotation.id).where(Annotation.supersedes == annotation_id))
    if later is not None:
        raise Conflict(f"verdict {annotation_id} was already superseded by {later}")
    return target


_ANONYMOUS = "anonymous"


def annotate(
    store: AuditStore,
    record_id: str,
    body: AnnotationRequest,
    *,
    caller: str,
    reviewer: str | None = None,
) -> AnnotationOut:
    """Add a verdict (or a correction of one) to a record, by the key ``caller``
    (``reviewer``: its name, default its id)."""
    with store.writing(conflict="that verdict was superseded at the same time") as session:
        record = _record(session, record_id)
        if body.position is not None and body.position >= record.n_instances:
            raise InvalidInput(
                f"record {record_id} has {record.n_instances} instance(s); got position "
                f"{body.position}",
                details={"field": "position", "problem": "no such instance"},
            )
        if body.supersedes is not None:
            _current_verdict(session, body.supersedes, record_id)
        row = Annotation(
            id=uuid.uuid4().hex,
            record_id=record_id,
            position=body.position,
            kind="verdict",
            verdict=body.verdict,
            note=body.note,
            reviewer=reviewer or caller,
            caller=caller,
            created_at=datetime.now(UTC),
            record_sha256=record.record_sha256,
            supersedes=body.supersedes,
        )
        session.add(row)
    return _out(row, [])


def sign_off(
    store: AuditStore,
    record_id: str,
    annotation_id: str,
    body: SignOffRequest,
    *,
    caller: str,
    reviewer: str | None = None,
) -> AnnotationOut:
    """A second reviewer (the key ``caller``, named ``reviewer``) confirms a current verdict."""
    if caller == _ANONYMOUS:
        raise Forbidden(
            "a sign-off needs a reviewer's API key: the anonymous caller of an open service "
            "cannot be the second pair of eyes",
            details={"field": "authorization", "problem": "anonymous sign-off"},
        )
    with store.writing(conflict=f"verdict {annotation_id} was signed off already") as session:
        record = _record(session, record_id)
        verdict = _current_verdict(session, annotation_id, record_id)
        if verdict.caller == caller:
            raise Conflict(
                f"key {caller} ({verdict.reviewer}) gave verdict {annotation_id}; a second "
                "reviewer, with another key, must sign it off",
                details={"field": "authorization", "problem": "same reviewer"},
            )
        done = session.scalar(select(Annotation.id).where(Annotation.signs_off == annotation_id))
        if done is not None:
            raise Conflict(f"verdict {annotation_id} was signed off already ({done})")
        row = Annotation(
            id=uuid.uuid4().hex,
            record_id=record_id,
            position=verdict.position,
            kind="signoff",
            verdict=None,
            note=body.note,
            reviewer=reviewer or caller,
            caller=caller,
            created_at=datetime.now(UTC),
            record_sha256=record.record_sha256,
            signs_off=annotation_id,
        )
        session.add(row)
    return _out(row, [])


def _out(row: Annotation, rows: list[Annotation]) -> AnnotationOut:
    superseded_by = next((r.id for r in rows if r.supersedes == row.id), None)
    signed_by = next((r.id for r in rows if r.signs_off == row.id), None)
    return AnnotationOut(
        id=row.id,
        record_id=row.record_id,
        position=row.position,
        kind=row.kind,
        verdict=row.verdict,
        note=row.note,
        reviewer=row.reviewer,
        caller=row.caller,
        created_at=row.created_at,
        record_sha256=row.record_sha256,
        supersedes=row.supersedes,
        signs_off=row.signs_off,
        superseded_by=superseded_by,
        signed_off_by=signed_by,
        current=superseded_by is None,
    )


def annotations_of(store: AuditStore, record_ids: list[str]) -> dict[str, list[AnnotationOut]]:
    """Every annotation of each record, oldest first, with what superseded or signed it."""
    found: dict[str, list[Annotation]] = {rid: [] for rid in record_ids}
    with store.reading() as session:
        for start in range(0, len(record_ids), 500):
            chunk = record_ids[start : start + 500]
            rows = session.scalars(
                select(Annotation)
                .where(Annotation.record_id.in_(chunk))
                .order_by(Annotation.created_at, Annotation.id)
            )
            for row in rows:
                found[row.record_id].append(row)
    return {rid: [_out(r, rows) for r in rows] for rid, rows in found.items()}
