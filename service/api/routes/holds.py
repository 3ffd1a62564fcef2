"""Legal holds: records (or whole models) that the retention purge must keep."""

from __future__ import annotations

from fastapi import APIRouter, status

from service.api.routes.auth import ReviewerCaller
from service.api.routes.deps import AuditDep, RegistryDep
from service.api.routes.errors import described, errors
from service.audit.retention import list_holds, place_hold, release_hold
from service.audit.schemas import HoldList, HoldOut, HoldRequest
from service.audit.tables import LegalHold

router = APIRouter(prefix="/v1", tags=["holds"])


def _out(hold: LegalHold) -> HoldOut:
    return HoldOut(
        id=hold.id,
        record_id=hold.record_id,
        model_name=hold.model_name,
        reason=hold.reason,
        created_at=hold.created_at,
        created_by=hold.created_by,
        released_at=hold.released_at,
        released_by=hold.released_by,
    )


@router.post(
    "/explanations/{record_id}/hold",
    operation_id="hold_explanation",
    status_code=status.HTTP_201_CREATED,
    responses={**errors(401, 403, 422, 503), **described(404, "Unknown record")},
)
def hold_explanation(
    record_id: str, body: HoldRequest, audit: AuditDep, caller: ReviewerCaller
) -> HoldOut:
    """Put one record on legal hold: the purge keeps it until the hold is released."""
    hold = place_hold(
        audit.store, record_id=record_id, reason=body.reason, created_by=caller.key_id
    )
    return _out(hold)


@router.post(
    "/models/{name}/hold",
    operation_id="hold_model",
    status_code=status.HTTP_201_CREATED,
    responses={
        **errors(401, 403, 422, 503),
        **described(404, "No model of that name is served and no record names it"),
    },
)
def hold_model(
    name: str, body: HoldRequest, audit: AuditDep, registry: RegistryDep, caller: ReviewerCaller
) -> HoldOut:
    """Put every record of a model (past and future) on legal hold.

    The model must be served or have records; any other name is 404.
    """
    hold = place_hold(
        audit.store,
        model_name=name,
        reason=body.reason,
        created_by=caller.key_id,
        served={m.name for m in registry},
    )
    return _out(hold)


@router.get("/holds", operation_id="list_holds", responses=errors(401, 403, 503))
def get_holds(audit: AuditDep, _: ReviewerCaller, active: bool = True) -> HoldList:
    """Legal holds (only active ones unless ``active=false``)."""
    return HoldList(holds=[_out(h) for h in list_holds(audit.store, active=active)])


@router.delete(
    "/holds/{hold_id}", operation_id="release_hold", responses=errors(401, 403, 404, 503)
)
def delete_hold(hold_id: str, audit: AuditDep, caller: ReviewerCaller) -> HoldOut:
    """Release a hold (it stays listed with who released it and when)."""
    return _out(release_hold(audit.store, hold_id, released_by=caller.key_id))
