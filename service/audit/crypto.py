"""Encryption at rest for the values of features a card marks ``sensitive``.

A ``Sealer`` encrypts a JSON payload with AES-256-GCM under the key from settings
(``audit_encryption_key``), binding it to its record id as associated data, so a
sealed blob copied onto another record does not decrypt. A sealed token reads
``v1.<key id>.<base64(nonce + ciphertext)>``; the key id (the first 16 hex digits of
the key's SHA-256) says which key it needs, so a wrong key is reported as such
rather than as corruption.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

from pydantic import SecretStr

from service.audit._canonical import canonical_bytes
from service.errors import SealError

__all__ = ["SealError", "Sealer", "new_key", "sealed_key_id"]

_VERSION = "v1"


def new_key() -> str:
    """A fresh key for ``CLARION_AUDIT_ENCRYPTION_KEY``: URL-safe base64 of 32 random bytes."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


class Sealer:
    """Seal and open JSON payloads with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != 32:
            raise ValueError(f"an audit encryption key has 32 bytes; got {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(key).hexdigest()[:16]

    @classmethod
    def from_secret(cls, secret: SecretStr) -> Sealer:
        return cls(base64.urlsafe_b64decode(secret.get_secret_value().encode("ascii")))

    def seal(self, payload: Any, *, record_id: str) -> str:
        nonce = os.urandom(12)
        data = canonical_bytes(payload)
        blob = nonce + self._aead.encrypt(nonce, data, record_id.encode("ascii"))
        return f"{_VERSION}.{self.key_id}.{base64.urlsafe_b64encode(blob).decode('ascii')}"

    def open(self, token: str, *, record_id: str) -> Any:
        from cryptography.exceptions import InvalidTag

        version, key_id, body = _split(token)
        if version != _VERSION:
            raise SealError(f"sealed values of record {record_id} use unknown format {version!r}")
        if key_id != self.key_id:
            raise SealError(
                f"record {record_id} was sealed with key {key_id}; the configured key is "
                f"{self.key_id}"
            )
        blob = base64.urlsafe_b64decode(body.encode("ascii"))
        try:
            data = self._aead.decrypt(blob[:12], blob[12:], record_id.encode("ascii"))
        except InvalidTag as exc:
            raise SealError(f"the sealed values of record {record_id} are damaged") from exc
        return json.loads(data)


def sealed_key_id(token: str) -> str:
    """The key id a sealed token needs."""
    return _split(token)[1]


def _split(token: str) -> tuple[str, str, str]:
    parts = token.split(".", 2)
    if len(parts) != 3:
        raise SealError("a sealed value is not in the v1.<key id>.<data> format")
    return parts[0], parts[1], parts[2]
