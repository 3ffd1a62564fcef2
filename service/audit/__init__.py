"""The audit trail: every explanation recorded, replayable, reviewable and exportable.

Modules, one noun each: ``tables`` (schema), ``migrations`` (Alembic), ``store``
(database and records), ``commits`` (group commit), ``checkpoints`` (SQLite's write-ahead
log copied back off the request path), ``documents`` (what a record holds; redaction),
``crypto`` (sealing sensitive values), ``recorder`` (writing records), ``replay``,
``sampling``, ``annotations``, ``retention`` (holds, purge), ``exports``, ``keyfile`` (the
key the service makes itself when none is configured, and its rotation), ``report``,
``trail`` (all of it, opened once).
"""

from service.audit.crypto import Sealer
from service.audit.filters import RecordFilter
from service.audit.recorder import AuditRecorder
from service.audit.store import AuditStore
from service.audit.trail import AuditTrail

__all__ = [
    "AuditRecorder",
    "AuditStore",
    "AuditTrail",
    "RecordFilter",
    "Sealer",
]
