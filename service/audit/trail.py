"""The audit trail as the service holds it: store, sealer, recorder and API keys, opened once.

``AuditTrail.open(settings)`` is what the lifespan and the CLI call; it migrates the
database, finds the encryption key (the configured one, else the one the service keeps
in its data directory, made on first start: ``keyfile``), and logs how sensitive
values and authentication will be handled.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from service.audit.crypto import Sealer
from service.audit.keyfile import KeySource, load_or_create
from service.audit.recorder import AuditRecorder
from service.audit.store import AuditStore
from service.auth.keys import KeyRing
from service.settings import Settings

__all__ = ["AuditTrail"]

log = structlog.get_logger(__name__)


@dataclass
class AuditTrail:
    store: AuditStore
    sealer: Sealer | None
    recorder: AuditRecorder
    keys: KeyRing
    key_source: KeySource | None = None

    @classmethod
    def open(cls, settings: Settings) -> AuditTrail:
        # The default ./data/clarion.db gets its folder; a URL someone wrote must point
        # into one that exists (a typo is an error, not a new empty store).
        make_folder = "database_url" not in settings.model_fields_set
        store = AuditStore.open(
            settings.database_url, make_folder=make_folder, sync=settings.audit_sync
        )
        source = cls._key(settings)
        sealer = Sealer.from_secret(source.key) if source is not None else None
        recorder = AuditRecorder(store, sealer=sealer, policy=settings.sensitive_policy)
        keys = KeyRing(
            store,
            mode=settings.auth,
            bootstrap=settings.bootstrap_admin_key,
            loopback=settings.binds_loopback,
        )
        return cls(store, sealer, recorder, keys, source)

    @staticmethod
    def _key(settings: Settings) -> KeySource | None:
        """The configured key; else, unless policy omits sensitive values, the data dir's."""
        if settings.audit_encryption_key is not None:
            return KeySource(settings.audit_encryption_key, "settings")
        if settings.sensitive_policy == "omit":
            return None
        return load_or_create(settings.data_dir)

    def log_encryption(self) -> None:
        """One line at start-up saying how sensitive values are kept (never the key)."""
        source, sealer = self.key_source, self.sealer
        if source is None or sealer is None:
            log.info("audit.sensitive_policy", policy="omit", detail="sensitive values omitted")
        elif source.origin == "settings":
            log.info(
                "audit.encryption", key_id=sealer.key_id, source="CLARION_AUDIT_ENCRYPTION_KEY"
            )
        else:
            log.info(
                "audit.encryption",
                key_id=sealer.key_id,
                source=str(source.path),
                created=source.origin == "created",
                detail="no CLARION_AUDIT_ENCRYPTION_KEY: sensitive values are sealed with the "
                "key in this file; back it up with the database (records sealed with it cannot "
                "be read or replayed without it)",
            )

    def log_auth_mode(self) -> None:
        """One line at start-up saying who may call; a WARNING when anyone may."""
        if self.keys.mode == "disabled":
            log.warning("auth.disabled", detail="every caller is treated as an anonymous admin")
        elif self.keys.required():
            log.info("auth.required", detail="API keys are required (Authorization: Bearer)")
        else:
            log.warning(
                "auth.open",
                detail="no API key exists and the service binds a loopback host: every caller "
                "is an anonymous admin until the first key is created",
            )

    def close(self) -> None:
        self.store.close()
