"""How records are shown: browse summaries and the whole record, sealed values restored."""

from __future__ import annotations

from service.audit._canonical import schema_version
from service.audit.crypto import Sealer
from service.audit.documents import reveal
from service.audit.schemas import ModelRefOut, RecordDetail, RecordSummary
from service.audit.tables import Decision, ExplanationRecord

__all__ = ["record_detail", "record_summary"]


def record_summary(record: ExplanationRecord, decisions: list[Decision]) -> RecordSummary:
    return RecordSummary(
        id=record.id,
        created_at=record.created_at,
        caller=record.caller,
        channel=record.channel,
        model=ModelRefOut(
            name=record.model_name, version=record.model_version, sha256=record.model_sha256
        ),
        method=record.method,
        output=record.output_space,
        n_instances=record.n_instances,
        outcomes=[d.outcome for d in decisions],
        quality_failed=record.quality_failed,
        proxy_flag=record.proxy_flag,
        review_required=record.review_required,
        record_sha256=record.record_sha256,
        reference=record.reference,
        purpose="preview" if record.purpose == "preview" else "decision",
    )


def record_detail(record: ExplanationRecord, sealer: Sealer | None) -> RecordDetail:
    """The whole record; ``provenance`` is lifted from the response for convenience."""
    revealed = reveal(record, sealer)
    doc = revealed.document
    return RecordDetail(
        id=record.id,
        created_at=record.created_at,
        request_id=doc.get("request_id"),
        caller=doc["caller"],
        channel=doc["channel"],
        model=doc["model"],
        runtime=doc.get("runtime") or {},
        request=doc.get("request") or {},
        input=doc["input"],
        provenance=(doc.get("response") or {}).get("provenance") or {},
        response=doc.get("response") or {},
        texts=doc.get("texts") or {},
        widgets=doc.get("widgets") or {},
        sensitive=doc.get("sensitive") or {},
        sealed=revealed.status,
        record_sha256=record.record_sha256,
        sealed_sha256=doc.get("sealed_sha256"),
        schema_version=schema_version(doc),
        reference=record.reference,
        purpose="preview" if record.purpose == "preview" else "decision",
        shown=doc.get("shown") or {},
    )
