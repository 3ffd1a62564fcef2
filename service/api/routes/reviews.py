"""Review work: samples, annotations and sign-offs, exports, per-model reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from service.api.routes.auth import ReviewerCaller
from service.api.routes.deps import AuditDep, RegistryDep
from service.api.routes.errors import described, errors
from service.audit.annotations import annotate, annotations_of, sign_off
from service.audit.exports import build_export
from service.audit.filters import TIME_BOUND, UtcDatetime
from service.audit.report import model_report
from service.audit.sampling import draw_sample, get_sample, redraw_sample
from service.audit.schemas import (
    AnnotationList,
    AnnotationOut,
    AnnotationRequest,
    ExportRequest,
    ModelReport,
    RedrawOut,
    SampleOut,
    SampleRequest,
    SignOffRequest,
)
from service.errors import NotFound

router = APIRouter(prefix="/v1", tags=["reviews"])

_RECORD = described(404, "Unknown record")
_SAMPLE = described(404, "Unknown sample")
_CONFLICT = described(409, "Superseded or signed off already, or the same reviewer key")


@router.post(
    "/samples",
    operation_id="create_sample",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 422, 503),
)
def create_sample(body: SampleRequest, audit: AuditDep, caller: ReviewerCaller) -> SampleOut:
    """Draw a review sample: stratified at random plus a risk-weighted oversample."""
    return draw_sample(audit.store, body, created_by=caller.key_id)


@router.get(
    "/samples/{sample_id}", operation_id="get_sample", responses={**errors(401, 403), **_SAMPLE}
)
def read_sample(sample_id: str, audit: AuditDep, _: ReviewerCaller) -> SampleOut:
    """A stored sample: its definition, seed, frame hash and items."""
    return get_sample(audit.store, sample_id)


@router.post(
    "/samples/{sample_id}/redraw",
    operation_id="redraw_sample",
    responses={**errors(401, 403), **_SAMPLE},
)
def redraw(sample_id: str, audit: AuditDep, _: ReviewerCaller) -> RedrawOut:
    """Draw the sample again from its stored definition and seed; says if it is identical."""
    return redraw_sample(audit.store, sample_id)


@router.post(
    "/explanations/{record_id}/annotations",
    operation_id="annotate_explanation",
    status_code=status.HTTP_201_CREATED,
    responses={**errors(401, 403, 422, 503), **_RECORD, **_CONFLICT},
)
def create_annotation(
    record_id: str, body: AnnotationRequest, audit: AuditDep, caller: ReviewerCaller
) -> AnnotationOut:
    """Add a verdict, as the calling key; with ``supersedes``, a correction of an earlier one
    (never an edit)."""
    return annotate(
        audit.store, record_id, body, caller=caller.key_id, reviewer=caller.display_name
    )


@router.get(
    "/explanations/{record_id}/annotations",
    operation_id="list_annotations",
    responses={**errors(401, 403, 503), **_RECORD},
)
def list_annotations(record_id: str, audit: AuditDep, _: ReviewerCaller) -> AnnotationList:
    """Every verdict and sign-off on a record, oldest first."""
    audit.store.get_record(record_id)
    return AnnotationList(annotations=annotations_of(audit.store, [record_id])[record_id])


@router.post(
    "/explanations/{record_id}/annotations/{annotation_id}/signoff",
    operation_id="sign_off_annotation",
    status_code=status.HTTP_201_CREATED,
    responses={**errors(401, 403, 422, 503), **_RECORD, **_CONFLICT},
)
def create_sign_off(
    record_id: str,
    annotation_id: str,
    body: SignOffRequest,
    audit: AuditDep,
    caller: ReviewerCaller,
) -> AnnotationOut:
    """A second reviewer signs off a current verdict, as the calling key: another key than
    the verdict's (409), never the anonymous caller of an open service (403)."""
    return sign_off(
        audit.store,
        record_id,
        annotation_id,
        body,
        caller=caller.key_id,
        reviewer=caller.display_name,
    )


@router.post(
    "/exports",
    operation_id="create_export",
    response_model=None,
    responses={
        **errors(401, 403, 422, 503),
        **_SAMPLE,
        200: {
            "description": "The export file; its SHA-256 is in `X-Clarion-Content-SHA256`.",
            "content": {
                "application/zip": {},
                "application/x-ndjson": {},
                "text/csv": {},
                "application/vnd.apache.parquet": {},
            },
        },
    },
)
def create_export(body: ExportRequest, audit: AuditDep, caller: ReviewerCaller) -> Response:
    """A sample's (or a filter's) records as a ZIP bundle, JSON Lines or a listing (CSV or
    Parquet)."""
    export = build_export(audit.store, audit.sealer, body, printed_by=caller.display_name)
    return Response(
        export.content,
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "X-Clarion-Content-SHA256": export.sha256,
        },
    )


@router.get(
    "/models/{name}/report",
    operation_id="get_model_report",
    responses={**errors(401, 403, 503), **described(404, "No records of that model")},
)
def get_report(
    name: str,
    audit: AuditDep,
    registry: RegistryDep,
    _: ReviewerCaller,
    since: Annotated[UtcDatetime | None, Query(description=TIME_BOUND)] = None,
    until: Annotated[UtcDatetime | None, Query(description=TIME_BOUND)] = None,
    version: str | None = None,
    group: Annotated[
        list[str] | None,
        Query(description="Group attributes; default the card's protected categorical features."),
    ] = None,
) -> ModelReport:
    """Quality distributions, reason frequency by group, and hiring impact ratios."""
    served = {m.name: m for m in registry}
    card = served[name].bundle.card if name in served else None
    if group is None and card is not None:
        group = [
            f.name for f in card.features if f.protected and f.type in ("categorical", "binary")
        ]
    favorable = (card.favorable_class or card.positive_class) if card is not None else None
    report = model_report(
        audit.store,
        audit.sealer,
        name,
        since=since,
        until=until,
        version=version,
        group_by=group or [],
        favorable=favorable,
        domain=card.domain if card is not None else None,
    )
    if report.n_records == 0 and card is None:
        raise NotFound(f"no records of model {name!r}")
    return report
