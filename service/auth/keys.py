"""API keys and roles: who may call what.

A key is ``clarion_`` plus 43 random URL-safe characters, shown once when created and
stored only as its SHA-256 (a key has 256 bits of entropy, so a fast hash is enough),
next to a short public key id that audit records name as the caller. Roles:

    app       predict and explain
    reviewer  read records, replay, draw samples, annotate, export, reports, legal holds
    admin     everything, including uploading models and managing keys

``CLARION_BOOTSTRAP_ADMIN_KEY``, when set, is accepted as an admin key (key id
``bootstrap``) without being stored. In ``auto`` mode keys become required as soon
as any key exists (revoked ones count) or a bootstrap key is set; until then a
service bound to a loopback host treats every caller as an anonymous admin.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

from pydantic import SecretStr
from sqlalchemy import select

from service.audit.store import AuditStore
from service.audit.tables import ApiKey
from service.errors import NotFound

__all__ = ["ANONYMOUS", "ROLES", "KeyRing", "Principal", "Role"]

Role = Literal["app", "reviewer", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
AuthMode = Literal["auto", "required", "disabled"]
_PREFIX = "clarion_"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the key id recorded in audit rows, its role, and the name
    it was given when created (what annotations show as the reviewer)."""

    key_id: str
    role: Role
    name: str | None = None

    @property
    def display_name(self) -> str:
        """The key's name, else its id: who a verdict or sign-off is by."""
        return self.name or self.key_id


ANONYMOUS = Principal("anonymous", "admin")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


_OPEN_RECHECK_S = 1.0
_KEY_RECHECK_S = 1.0
_MAX_VALID = 4096


class KeyRing:
    """Creates, checks, lists and revokes API keys in the audit store."""

    def __init__(
        self,
        store: AuditStore,
        *,
        mode: AuthMode = "auto",
        bootstrap: SecretStr | None = None,
        loopback: bool = True,
    ) -> None:
        self.store = store
        self.mode = mode
        self._bootstrap = _digest(bootstrap.get_secret_value()) if bootstrap else None
        self._loopback = loopback
        self._keys_exist = False
        self._open_until = 0.0  # time.monotonic() until which 'no key exists' holds
        self._valid: dict[str, tuple[Principal, float]] = {}  # key digest -> (who, until)

    def create(self, role: Role, *, created_by: str, name: str | None = None) -> tuple[ApiKey, str]:
        """A new key of ``role``: its row and the key itself (shown once, never stored)."""
        token = _PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(
            id=secrets.token_hex(8),
            key_sha256=_digest(token),
            role=role,
            name=name,
            created_at=datetime.now(UTC),
            created_by=created_by,
        )
        with self.store.writing() as session:
            session.add(row)
        self._keys_exist = True
        return row, token

    def authenticate(self, token: str) -> Principal | None:
        """The principal a presented key belongs to, or None for an unknown or revoked key."""
        digest = _digest(token)
        if self._bootstrap is not None and hmac.compare_digest(digest, self._bootstrap):
            return Principal("bootstrap", "admin", "bootstrap")
        if not token.startswith(_PREFIX):
            return None
        # A key seen valid in the last _KEY_RECHECK_S is not looked up again: a product
        # backend sends the same key on every request. A revocation through this process
        # takes effect at once; through another worker or replica within that time.
        now = time.monotonic()
        known = self._valid.get(digest)
        if known is not None and known[1] > now:
            return known[0]
        with self.store.reading() as session:
            row = session.scalar(
                select(ApiKey).where(ApiKey.key_sha256 == digest, ApiKey.revoked_at.is_(None))
            )
        if row is None or row.role not in ROLES:
            self._valid.pop(digest, None)
            return None
        principal = Principal(row.id, row.role, row.name)
        if len(self._valid) >= _MAX_VALID:
            self._valid.clear()
        self._valid[digest] = (principal, now + _KEY_RECHECK_S)
        return principal

    def answers_at_once(self, token: str) -> bool:
        """Whether ``authenticate(token)`` answers without reading the store (the bootstrap
        key, a token that is not a key, a key seen valid within the last second): the API
        then authenticates on the event loop instead of a worker thread."""
        digest = _digest(token)
        if self._bootstrap is not None and hmac.compare_digest(digest, self._bootstrap):
            return True
        known = self._valid.get(digest)
        return not token.startswith(_PREFIX) or (known is not None and known[1] > time.monotonic())

    def required(self) -> bool:
        """Whether a request without a key is refused (see the module docstring)."""
        if self.mode != "auto":
            return self.mode == "required"
        if self._bootstrap is not None or not self._loopback:
            return True
        # Once a key exists keys stay required. Until then the answer is read again at most
        # every _OPEN_RECHECK_S, so that a key created through another worker process
        # closes this one within that time, without a query on every open request.
        now = time.monotonic()
        if not self._keys_exist and now >= self._open_until:
            with self.store.reading() as session:
                self._keys_exist = session.scalar(select(ApiKey.id).limit(1)) is not None
            self._open_until = now + _OPEN_RECHECK_S
        return self._keys_exist

    def list(self) -> list[ApiKey]:
        with self.store.reading() as session:
            return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))

    def revoke(self, key_id: str, *, revoked_by: str) -> ApiKey:
        with self.store.writing() as session:
            row = session.get(ApiKey, key_id)
            if row is None:
                raise NotFound(
                    f"no API key {key_id!r}", details={"field": "id", "problem": "unknown key"}
                )
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
                row.revoked_by = revoked_by
            self._valid.pop(row.key_sha256, None)
        return row
