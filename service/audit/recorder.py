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

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

import structlog

from service.audit._canonical import record_text, sha256_hex
from service.audit.commits import GroupCommit
from service.audit.crypto import Sealer
from service.audit.documents import result_document
from service.audit.store import AuditStore, Columns, JsonText
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
        self._commits: GroupCommit[Columns] = GroupCommit(store.add_rows)
        self.sealer = sealer if policy == "encrypt" else None
        self.policy: Literal["encrypt", "omit"] = "encrypt" if self.sealer else "omit"
        if policy == "encrypt" and sealer is None:
            log.warning(
                "audit.sensitive_omitted",
                reason="no CLARION_AUDIT_ENCRYPTION_KEY; values of sensitive features are "
                "left out of audit records (such records cannot be replayed)",
            )

    def record(self, result: ExplainResult, origin: Origin) -> None:
        """Write the record of ``result``; return once it is committed."""
        (error,) = self.record_all([(result, origin)])
        if error is not None:
            raise error

    def record_all(
        self, results: Sequence[tuple[ExplainResult, Origin]]
    ) -> list[BaseException | None]:
        """Write the records of results in one transaction (one request's, or coalesced
        requests', ``Engine.explain_batch``); for each, what failed (None: committed). A
        record that cannot be written fails alone (``GroupCommit``)."""
        items: list[Columns | BaseException] = []
        for result, origin in results:
            try:
                items.append(self._item(result, origin))
            except Exception as exc:  # its document could not be built: that one fails
                items.append(exc)
        built = [i for i in items if not isinstance(i, BaseException)]
        written = iter(self._commits.submit_all(built))
        failed = [i if isinstance(i, BaseException) else next(written) for i in items]
        for (result, origin), error in zip(results, failed, strict=True):
            if error is None:
                log.debug(
                    "audit.recorded",
                    record=result.id,
                    model=result.model.name,
                    caller=origin.caller,
                )
        return failed

    def _item(self, result: ExplainResult, origin: Origin) -> Columns:
        """The record's column values and its decisions', as the store inserts them."""
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
        text = record_text(document)  # hashed, and stored as it is (one serialisation)
        decisions = [
            {"record_id": result.id, "position": i, **columns}
            for i, columns in enumerate(built.decisions)
        ]
        # Column values as the store inserts them (no ORM objects on the hot path); None
        # leaves a column to its default.
        row = {
            "id": result.id,
            "created_at": created_at,
            "request_id": origin.request_id,
            "caller": origin.caller,
            "channel": origin.channel,
            "model_name": result.model.name,
            "model_version": result.model.version,
            "model_sha256": result.model.sha256,
            "method": result.method,
            "output_space": result.output,
            "n_instances": len(decisions),
            "quality_failed": any(d["quality_failed"] for d in decisions),
            "proxy_flag": any(d["proxy_flag"] for d in decisions),
            "review_required": any(d["review_required"] for d in decisions),
            "input_sha256": document["input"]["sha256"],
            "record_sha256": sha256_hex(text),
            "document": JsonText(text.decode("utf-8")),
            "sealed": sealed,
            "reference": result.spec.reference,
            "purpose": result.spec.purpose,
        }
        return {k: v for k, v in row.items() if v is not None}, decisions
