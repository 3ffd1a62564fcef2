"""The audit encryption key the service keeps itself, when no operator configured one.

On first start without ``CLARION_AUDIT_ENCRYPTION_KEY`` the service makes a key and
writes it to ``<data dir>/audit-encryption.key`` (mode 0600, created exclusively, so
workers starting together agree on one key); later starts read it back. The key is
never logged: only its key id (the first 16 hex digits of its SHA-256) and the path.
An operator-provided key always wins over the file. ``rotate`` re-seals every record's
sensitive values under a new key (``clarion audit rotate-key``).
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import structlog
from pydantic import SecretStr
from sqlalchemy import select

from service.audit.crypto import Sealer, new_key, sealed_key_id
from service.audit.store import AuditStore
from service.audit.tables import ExplanationRecord
from service.errors import SealError

__all__ = [
    "KEY_FILE",
    "KeySource",
    "Rotation",
    "key_file",
    "load_or_create",
    "replace_file",
    "rotate",
]

log = structlog.get_logger(__name__)

KEY_FILE = "audit-encryption.key"


@dataclass(frozen=True)
class KeySource:
    """The key in use and where it came from: ``settings``, ``file`` or ``created``."""

    key: SecretStr
    origin: str
    path: Path | None = None


def key_file(data_dir: Path) -> Path:
    return data_dir / KEY_FILE


def _check(text: str, path: Path) -> SecretStr:
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise SealError(f"{path} does not hold an audit encryption key") from exc
    if len(raw) != 32:
        raise SealError(f"{path} does not hold a 32-byte audit encryption key")
    return SecretStr(text)


def _read(path: Path) -> SecretStr:
    # A worker that lost the race to create the file may see it before it is written.
    for _ in range(50):
        text = path.read_text(encoding="ascii").strip()
        if text:
            return _check(text, path)
        time.sleep(0.02)
    raise SealError(f"{path} is empty: delete it to make a new key (if no record needs it)")


def _write_new(path: Path, key: str) -> bool:
    """Write ``key`` to ``path`` only if no file is there; whether this call wrote it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return True


def load_or_create(data_dir: Path) -> KeySource:
    """The key in ``data_dir``, made (mode 0600) if there is none yet."""
    path = key_file(data_dir)
    if _write_new(path, new_key()):
        return KeySource(_read(path), "created", path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning(
            "audit.encryption_key_file_open",
            path=str(path),
            mode=oct(mode),
            detail="other users may read the audit encryption key: chmod 600 it",
        )
    return KeySource(_read(path), "file", path)


@dataclass(frozen=True)
class Rotation:
    resealed: int
    skipped: int
    old_key_id: str
    new_key_id: str


def rotate(store: AuditStore, old: SecretStr, new: SecretStr) -> Rotation:
    """Re-seal every record sealed with ``old`` under ``new``, in one transaction.

    Only the ``sealed`` column changes: the record document (and so its hash) keeps
    saying which key sealed it first; a sealed value names the key it needs itself.
    Records sealed with ``new`` already are skipped (a rotation can be run again);
    one sealed with a third key stops the rotation before anything is written.
    """
    before, after = Sealer.from_secret(old), Sealer.from_secret(new)
    resealed = skipped = 0
    with store.writing() as session:
        rows = session.scalars(
            select(ExplanationRecord).where(ExplanationRecord.sealed.is_not(None))
        )
        for row in rows:
            assert row.sealed is not None
            if sealed_key_id(row.sealed) == after.key_id:
                skipped += 1
                continue
            try:
                secrets = before.open(row.sealed, record_id=row.id)
            except SealError as exc:
                raise SealError(f"rotation stopped, nothing changed: {exc.message}") from exc
            row.sealed = after.seal(secrets, record_id=row.id)
            resealed += 1
    return Rotation(resealed, skipped, before.key_id, after.key_id)


def replace_file(path: Path, key: SecretStr) -> None:
    """Put ``key`` into ``path`` atomically (mode 0600)."""
    staged = path.with_name(path.name + ".new")
    staged.unlink(missing_ok=True)
    _write_new(staged, key.get_secret_value())
    os.replace(staged, path)
