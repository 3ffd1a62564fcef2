"""Exports for examiners: a JSONL bundle of full records, a CSV or Parquet listing, HTML
case packets.

The records come from a sample (in sample order) or a filter (oldest first). Every
export is stamped with hashes of what it contains: each record's ``record_sha256``
and, per file, the SHA-256 of its bytes.

- ``zip``: ``records.jsonl``, ``listing.csv``, ``cases/<id>.html`` and ``manifest.json``
  (selection, time, record ids and hashes, and the SHA-256 of every other file);
- ``jsonl``: one record (with its annotations) per line, then a manifest line whose
  ``records_sha256`` is the hash of all the lines before it;
- ``csv``: one row per decision; its SHA-256 travels in a response header;
- ``parquet``: the same listing with its types (``created_at`` a UTC timestamp, numbers
  as numbers, flags as booleans).

In CSV (the listing and ``listing.csv``), a text cell that a spreadsheet would run as a
formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return; a card's
version and class labels are anyone's text) gets a leading ``'``; numbers stay numbers.
Parquet keeps every value as it is stored.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from service.audit._canonical import canonical_json, sha256_hex, sha256_json
from service.audit.annotations import annotations_of
from service.audit.crypto import Sealer
from service.audit.schemas import AnnotationOut, ExportRequest, RecordDetail
from service.audit.store import AuditStore
from service.audit.tables import Decision, ExplanationRecord, SampleItem
from service.audit.views import record_detail
from service.errors import InvalidInput, NotFound
from service.html.casepacket import render_case_packet
from service.tablefiles import MEDIA_TYPES, parquet_bytes

__all__ = ["ExportFile", "build_export", "case_packet"]

_LISTING = [
    "record_id", "position", "created_at", "model", "version", "model_sha256", "method",
    "caller", "outcome", "score", "confidence", "quality_failed", "proxy_flag",
    "current_verdicts", "signed_off", "record_sha256", "reference", "purpose",
]  # fmt: skip


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _cell(value: object) -> object:
    """``value`` safe to open in a spreadsheet: text that could be a formula is quoted."""
    if (
        isinstance(value, str)
        and value.startswith(_FORMULA_START)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


@dataclass(frozen=True)
class ExportFile:
    filename: str
    media_type: str
    content: bytes

    @property
    def sha256(self) -> str:
        return sha256_hex(self.content)


def _select(store: AuditStore, request: ExportRequest) -> list[ExplanationRecord]:
    if (request.sample_id is None) == (request.filters is None):
        raise InvalidInput(
            "an export needs either sample_id or filters",
            details={"field": "body", "problem": "give sample_id or filters"},
        )
    r = ExplanationRecord
    with store.reading() as session:
        if request.sample_id is not None:
            ids = list(
                session.scalars(
                    select(SampleItem.record_id)
                    .where(SampleItem.sample_id == request.sample_id)
                    .order_by(SampleItem.rank)
                )
            )
            if not ids:
                raise NotFound(f"no sample {request.sample_id!r} (or it has no items)")
            order = list(dict.fromkeys(ids))[: request.limit]
            found = {x.id: x for x in session.scalars(select(r).where(r.id.in_(order)))}
            return [found[i] for i in order if i in found]
        assert request.filters is not None
        query = (
            select(r)
            .where(*request.filters.to_filter().record_clauses())
            .order_by(r.created_at, r.id)
            .limit(request.limit)
        )
        return list(session.scalars(query))


def _decisions(store: AuditStore, ids: list[str]) -> dict[str, list[Decision]]:
    out: dict[str, list[Decision]] = {i: [] for i in ids}
    with store.reading() as session:
        for start in range(0, len(ids), 500):
            rows = session.scalars(
                select(Decision)
                .where(Decision.record_id.in_(ids[start : start + 500]))
                .order_by(Decision.record_id, Decision.position)
            )
            for d in rows:
                out[d.record_id].append(d)
    return out


def _listing_rows(
    records: list[ExplanationRecord],
    decisions: dict[str, list[Decision]],
    notes: dict[str, list[AnnotationOut]],
) -> list[list[Any]]:
    """One row per decision, the columns of ``_LISTING``, values as typed."""
    rows = []
    for x in records:
        current = [a for a in notes[x.id] if a.kind == "verdict" and a.current]
        for d in decisions[x.id]:
            mine = [a for a in current if a.position in (None, d.position)]
            rows.append([
                x.id, d.position, x.created_at, x.model_name, x.model_version,
                x.model_sha256, x.method, x.caller, d.outcome, d.score, d.confidence,
                d.quality_failed, d.proxy_flag, ";".join(a.verdict or "" for a in mine),
                any(a.signed_off_by for a in mine), x.record_sha256, x.reference, x.purpose,
            ])  # fmt: skip
    return rows


def _listing_csv(rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_LISTING)
    for row in rows:
        row = [row[0], row[1], row[2].isoformat(), *row[3:]]
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue().encode("utf-8")


def _listing_parquet(rows: list[list[Any]]) -> bytes:
    """The listing with its types: ``created_at`` a UTC timestamp, numbers and flags as
    numbers and booleans. No formula quoting: Parquet is not opened by spreadsheets."""
    import pyarrow as pa

    types = {
        "position": pa.int64(),
        "created_at": pa.timestamp("us", tz="UTC"),
        "score": pa.float64(),
        "confidence": pa.float64(),
        "quality_failed": pa.bool_(),
        "proxy_flag": pa.bool_(),
        "signed_off": pa.bool_(),
    }
    columns = [[row[i] for row in rows] for i in range(len(_LISTING))]
    columns[2] = [_utc(t) for t in columns[2]]
    arrays = [
        pa.array(values, type=types.get(name, pa.string()))
        for name, values in zip(_LISTING, columns, strict=True)
    ]
    return parquet_bytes(pa.table(arrays, names=_LISTING))


def _utc(t: datetime) -> datetime:
    """A stored time as an aware UTC time (SQLite hands back naive ones, in UTC)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def build_export(
    store: AuditStore,
    sealer: Sealer | None,
    request: ExportRequest,
    *,
    printed_by: str | None = None,
) -> ExportFile:
    """The export the request asks for, stamped with the hashes of its contents;
    ``printed_by``: who asked (the packets say so)."""
    records = _select(store, request)
    ids = [x.id for x in records]
    notes = annotations_of(store, ids)
    details = [record_detail(x, sealer) for x in records]
    lines = [
        canonical_json(
            {
                "record": d.model_dump(mode="json"),
                "annotations": [a.model_dump(mode="json") for a in notes[d.id]],
            }
        )
        + "\n"
        for d in details
    ]
    jsonl = "".join(lines).encode("utf-8")
    manifest: dict[str, Any] = {
        "kind": "clarion.export",
        "created_at": datetime.now(UTC).isoformat(),
        "selection": request.model_dump(mode="json", exclude={"format"}),
        "records": [{"id": x.id, "record_sha256": x.record_sha256} for x in records],
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if request.format == "jsonl":
        manifest["records_sha256"] = sha256_hex(jsonl)
        content = jsonl + (canonical_json(manifest) + "\n").encode("utf-8")
        return ExportFile(f"clarion-export-{stamp}.jsonl", "application/x-ndjson", content)
    rows = _listing_rows(records, _decisions(store, ids), notes)
    if request.format == "parquet":
        content = _listing_parquet(rows)
        return ExportFile(f"clarion-listing-{stamp}.parquet", MEDIA_TYPES["parquet"], content)
    listing = _listing_csv(rows)
    if request.format == "csv":
        return ExportFile(f"clarion-listing-{stamp}.csv", "text/csv", listing)
    files = {"records.jsonl": jsonl, "listing.csv": listing}
    for d in details:
        files[f"cases/{d.id}.html"] = _packet(d, notes[d.id], printed_by).encode("utf-8")
    manifest["files"] = {name: sha256_hex(data) for name, data in files.items()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in [*files.items(), ("manifest.json", _pretty(manifest))]:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return ExportFile(f"clarion-export-{stamp}.zip", "application/zip", buf.getvalue())


def _pretty(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")


def _packet(detail: RecordDetail, notes: list[AnnotationOut], printed_by: str | None) -> str:
    """The case packet, stamped with the SHA-256 of what it shows: the record document and
    its annotations, as canonical JSON; and when and for whom it was printed."""
    document = detail.model_dump(mode="json")
    shown = {"document": document, "annotations": [a.model_dump(mode="json") for a in notes]}
    return render_case_packet(
        document,
        notes,
        record_sha256=detail.record_sha256,
        packet_sha256=sha256_json(shown),
        status=detail.sealed,
        printed_at=datetime.now(UTC),
        printed_by=printed_by,
    )


def case_packet(
    store: AuditStore, sealer: Sealer | None, record_id: str, *, printed_by: str | None = None
) -> str:
    """The HTML case packet of one record, printed for ``printed_by``."""
    detail = record_detail(store.get_record(record_id), sealer)
    return _packet(detail, annotations_of(store, [record_id])[record_id], printed_by)
