"""API keys: create (shown once), list, revoke. Admin only."""

from __future__ import annotations

from fastapi import APIRouter, status

from service.api.routes.auth import AdminCaller
from service.api.routes.deps import AuditDep
from service.api.routes.errors import described, errors
from service.audit.schemas import KeyCreate, KeyCreated, KeyList, KeyOut
from service.audit.tables import ApiKey

router = APIRouter(prefix="/v1/keys", tags=["keys"])


def _out(row: ApiKey) -> KeyOut:
    return KeyOut(
        id=row.id,
        role=row.role,
        name=row.name,
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
    )


@router.post(
    "",
    operation_id="create_key",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 422, 503),
)
def create_key(body: KeyCreate, audit: AuditDep, caller: AdminCaller) -> KeyCreated:
    """Create a key with a role (`app`, `reviewer`, `admin`); the key is returned only now."""
    row, key = audit.keys.create(body.role, created_by=caller.key_id, name=body.name)
    return KeyCreated(**_out(row).model_dump(), key=key)


@router.get("", operation_id="list_keys", responses=errors(401, 403, 503))
def list_keys(audit: AuditDep, _: AdminCaller) -> KeyList:
    """Every key's id, role, name and state; never the keys themselves."""
    return KeyList(keys=[_out(r) for r in audit.keys.list()])


@router.delete(
    "/{key_id}",
    operation_id="revoke_key",
    responses={**errors(401, 403, 503), **described(404, "Unknown key")},
)
def revoke_key(key_id: str, audit: AuditDep, caller: AdminCaller) -> KeyOut:
    """Revoke a key: from now on it gets 401. The row stays, for the audit trail."""
    return _out(audit.keys.revoke(key_id, revoked_by=caller.key_id))
