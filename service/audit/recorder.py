"""The recorder: one append-only audit record per explanation, written before it is returned.

The Engine calls ``AuditRecorder.record`` after computing an explanation; the record
and its decisions are written in one transaction, shared with the records of concurrent
requests (``commits.GroupCommit``), and ``record`` returns only once that transaction has
committed. If it fails the explanation fails with 503 (``Unavailable``), so no caller is
shown an unrecorded explanation.
Sensitive values are sealed with the configured key, or left out by policy (and, with
a warning at start-up, when policy says ``encrypt`` but no key is configured).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import structlog

from service.audit._canonical import sha256_hex, sha256_json
from service.audit.commits import GroupCommit
from service.audit.crypto import Sealer
from service.audit.documents import result_document
from service.audit.store import AuditStore
from service.audit.tables import Decision, ExplanationRecord
from service.results import ExplainResult, Origin

__all__ = ["AuditRecorder"]

log = structlog.get_logger(__name__)


class AuditRecorder:
    """Writes the audit record of each explanation into an ``AuditStore``."""

    def __init__(
        self,
        store: AuditStore,
        *,
        sealer: Sealer | None,
        policy: Literal["encrypt", "omit"] = "encrypt",
    ) -> None:
        self.store = store
        self._commits: GroupCommit[tuple[ExplanationRecord, list[Decision]]] = GroupCommit(
            store.add_records
        )
        self.sealer = sealer if policy == "encrypt" else None
        self.policy: Literal["encrypt", "omit"] = "encrypt" if self.sealer else "omit"
        if policy == "encrypt" and sealer is None:
            log.warning(
                "audit.sensitive_omitted",
                reason="no CLARION_AUDIT_ENCRYPTION_KEY; values of sensitive features are "
                "left out of audit records (such records cannot be replayed)",
            )

    def record(self, result: ExplainResult, origin: Origin) -> None:
        created_at = datetime.now(UTC)
        built = result_document(
            header={
                "id": result.id,
                "created_at": created_at.isoformat(),
                "request_id": origin.request_id,
                "caller": origin.caller,
                "channel": origin.channel,
            },
            result=result,
            policy=self.policy,
        )
        document = built.document
        sealed = None
        if built.secrets and self.sealer is not None:
            sealed = self.sealer.seal(built.secrets, record_id=result.id)
            document["sensitive"]["key_id"] = self.sealer.key_id
        document["sealed_sha256"] = sha256_hex(sealed) if sealed else None
        decisions = [
            Decision(record_id=result.id, position=i, **columns)
            for i, columns in enumerate(built.decisions)
        ]
        row = ExplanationRecord(
            id=result.id,
            created_at=created_at,
            request_id=origin.request_id,
            caller=origin.caller,
            channel=origin.channel,
            model_name=document["model"]["name"],
            model_version=document["model"]["version"],
            model_sha256=document["model"]["sha256"],
            method=result.method,
            output_space=result.output,
            n_instances=len(decisions),
            quality_failed=any(d.quality_failed for d in decisions),
            proxy_flag=any(d.proxy_flag for d in decisions),
            review_required=any(d.review_required for d in decisions),
            input_sha256=document["input"]["sha256"],
            record_sha256=sha256_json(document),
            document=document,
            sealed=sealed,
            reference=result.spec.reference,
            purpose=result.spec.purpose,
        )
        self._commits.submit((row, decisions))
        log.debug("audit.recorded", record=result.id, model=row.model_name, caller=row.caller)
