"""Explanation records: browse, read, replay, case packet."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from service.api.routes.auth import ReviewerCaller
from service.api.routes.deps import AuditDep, EngineDep
from service.api.routes.errors import described, errors
from service.audit.exports import case_packet
from service.audit.filters import TIME_BOUND, RecordFilter, UtcDatetime
from service.audit.replay import replay
from service.audit.schemas import RecordDetail, RecordList, ReplayResult
from service.audit.views import record_detail, record_summary

router = APIRouter(prefix="/v1/explanations", tags=["records"])

_UNKNOWN = described(404, "Unknown record")
_CANNOT = described(409, "The record cannot be replayed (model not served, values omitted)")


@router.get("", operation_id="list_explanations", responses=errors(401, 403, 422, 503))
def list_explanations(
    audit: AuditDep,
    _: ReviewerCaller,
    model: str | None = None,
    version: str | None = None,
    since: Annotated[UtcDatetime | None, Query(description=TIME_BOUND)] = None,
    until: Annotated[UtcDatetime | None, Query(description=TIME_BOUND)] = None,
    outcome: Annotated[str | None, Query(description="Predicted label of any instance.")] = None,
    method: str | None = None,
    quality_failed: bool | None = None,
    proxy_flag: bool | None = None,
    caller: Annotated[str | None, Query(description="API key id of the caller.")] = None,
    reference: Annotated[
        str | None, Query(max_length=200, description="The caller's business reference.")
    ] = None,
    purpose: Annotated[
        Literal["decision", "preview"],
        Query(description="`decision` (default) or `preview` (the workspace's own)."),
    ] = "decision",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> RecordList:
    """Audit records, newest first, filtered, a page at a time."""
    where = RecordFilter(
        model,
        version,
        since,
        until,
        outcome,
        method,
        quality_failed,
        proxy_flag,
        caller,
        reference,
        purpose,
    )
    page = audit.store.browse(where, limit=limit, cursor=cursor)
    return RecordList(
        explanations=[record_summary(r, page.decisions[r.id]) for r in page.records],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/{record_id}",
    operation_id="get_explanation",
    responses={**errors(401, 403, 503), **_UNKNOWN},
)
def get_explanation(record_id: str, audit: AuditDep, _: ReviewerCaller) -> RecordDetail:
    """The whole record: input, response, provenance, hashes; sensitive values decrypted."""
    return record_detail(audit.store.get_record(record_id), audit.sealer)


@router.post(
    "/{record_id}/replay",
    operation_id="replay_explanation",
    responses={**errors(401, 403, 503), **_UNKNOWN, **_CANNOT},
)
def replay_explanation(
    record_id: str, audit: AuditDep, engine: EngineDep, _: ReviewerCaller
) -> ReplayResult:
    """Recompute from the record and compare bit for bit; writes no new record."""
    return replay(audit.store, engine, record_id, audit.sealer)


_PACKET: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The case packet: a self-contained HTML document.",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/{record_id}/case",
    operation_id="get_case_packet",
    response_model=None,
    responses={**_PACKET, **errors(401, 403, 503), **_UNKNOWN},
)
def get_case_packet(record_id: str, audit: AuditDep, caller: ReviewerCaller) -> HTMLResponse:
    """The record as a self-contained HTML case packet, stamped with its hashes and with
    when and for whom (the API key's name) it was printed."""
    packet = case_packet(audit.store, audit.sealer, record_id, printed_by=caller.display_name)
    return HTMLResponse(packet)
