"""Exports: a CSV cell a spreadsheet would run as a formula is quoted; numbers stay numbers."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.audit import AuditStore
from tests.helpers.audit import add_record

HOSTILE = {
    "version": '=HYPERLINK("https://evil.example","open")',
    "outcome": "=cmd|' /C calc'!A0",
    "caller": "@SUM(1+1)*cmd|' /C calc'!A0",
    "method": "+1+cmd|' /C calc'!A0",
}


@pytest.mark.parametrize("fmt", ["csv", "zip"])
def test_listing_cells_never_start_a_formula(
    audit_client: TestClient, store: AuditStore, fmt: str
) -> None:
    add_record(
        store,
        model="m",
        version=HOSTILE["version"],
        caller=HOSTILE["caller"],
        method=HOSTILE["method"],
        decisions=[
            {"outcome": HOSTILE["outcome"], "score": -0.25, "confidence": 0.5},
            {"outcome": "-1", "score": -3.0},
            {"outcome": "\tdeclined"},
            {"outcome": "-2+3"},
        ],
        document={"caller": HOSTILE["caller"], "channel": "api", "input": {}},
    )
    r = audit_client.post("/v1/exports", json={"filters": {"model": "m"}, "format": fmt})
    assert r.status_code == 200, r.text
    if fmt == "zip":
        text = zipfile.ZipFile(io.BytesIO(r.content)).read("listing.csv").decode()
    else:
        text = r.text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (column, cell)
            assert not cell.startswith("-") or float(cell) < 0, (column, cell)
    first = rows[0]
    assert first["version"] == "'" + HOSTILE["version"]
    assert first["outcome"] == "'" + HOSTILE["outcome"]
    assert first["caller"] == "'" + HOSTILE["caller"]
    assert first["method"] == "'" + HOSTILE["method"]
    assert first["score"] == "-0.25"  # a number is left alone
    assert [row["outcome"] for row in rows[1:]] == ["-1", "'\tdeclined", "'-2+3"]
    assert rows[1]["score"] == "-3.0"


def _listings(client: TestClient, body: dict[str, Any]) -> tuple[list[dict[str, str]], Any]:
    """The CSV listing (rows of text) and the Parquet listing (a table) of one selection."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    as_csv = client.post("/v1/exports", json={**body, "format": "csv"})
    as_parquet = client.post("/v1/exports", json={**body, "format": "parquet"})
    assert as_csv.status_code == as_parquet.status_code == 200, as_parquet.text
    assert as_parquet.headers["content-type"] == "application/vnd.apache.parquet"
    assert as_parquet.headers["x-clarion-content-sha256"] == sha256(as_parquet.content).hexdigest()
    assert ".parquet" in as_parquet.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    return rows, pq.read_table(pa.BufferReader(as_parquet.content))


def test_parquet_and_jsonl_exports_hold_the_records_of_the_csv_listing(
    audit_client: TestClient,
) -> None:
    import pyarrow as pa

    cases = audit_client.get("/v1/models/tiny_credit/samples", params={"limit": 3}).json()
    for reference in ("LOAN-1", None):
        r = audit_client.post(
            "/v1/models/tiny_credit/explain",
            json={"instances": cases["instances"], "method": "exact_shap", "reference": reference},
        )
        assert r.status_code == 200, r.text
    body = {"filters": {"model": "tiny_credit"}}
    rows, table = _listings(audit_client, body)
    assert len(rows) == table.num_rows == 6
    assert table.column_names == list(rows[0])
    schema = table.schema
    assert schema.field("score").type == pa.float64()
    assert schema.field("position").type == pa.int64()
    assert schema.field("signed_off").type == pa.bool_()
    assert schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    for text, typed in zip(rows, table.to_pylist(), strict=True):
        assert int(text["position"]) == typed["position"]
        assert float(text["score"]) == typed["score"]  # the same double, both ways
        assert float(text["confidence"]) == typed["confidence"]
        assert text["quality_failed"] == str(typed["quality_failed"])
        assert text["signed_off"] == str(typed["signed_off"])
        created = datetime.fromisoformat(text["created_at"])  # naive from SQLite: UTC
        assert (created if created.tzinfo else created.replace(tzinfo=UTC)) == typed["created_at"]
        for name in ("record_id", "model", "version", "model_sha256", "method", "caller",
                     "outcome", "current_verdicts", "record_sha256", "purpose"):  # fmt: skip
            assert text[name] == typed[name], name
        assert (text["reference"] or None) == typed["reference"]
    jsonl = audit_client.post("/v1/exports", json={**body, "format": "jsonl"})
    *lines, _manifest = [json.loads(x) for x in jsonl.text.splitlines()]
    records = {line["record"]["id"]: line["record"] for line in lines}
    assert list(records) == list(dict.fromkeys(r["record_id"] for r in rows))
    for text in rows:
        record = records[text["record_id"]]
        assert record["record_sha256"] == text["record_sha256"]
        assert record["model"]["name"] == text["model"]
        assert record["model"]["sha256"] == text["model_sha256"]
        assert (record["reference"] or "") == text["reference"]
        explained = record["response"]["explanations"][int(text["position"])]
        assert explained["prediction"]["label"] == text["outcome"]


def test_parquet_listing_keeps_text_as_it_is(audit_client: TestClient, store: AuditStore) -> None:
    add_record(
        store,
        version=HOSTILE["version"],
        caller=HOSTILE["caller"],
        decisions=[{"outcome": HOSTILE["outcome"], "score": -0.25}],
        document={"caller": HOSTILE["caller"], "channel": "api", "input": {}},
    )
    rows, table = _listings(audit_client, {"filters": {"model": "m"}})
    (typed,) = table.to_pylist()
    assert rows[0]["outcome"] == "'" + HOSTILE["outcome"]  # quoted for spreadsheets
    assert typed["outcome"] == HOSTILE["outcome"]  # Parquet is data, not a spreadsheet
    assert typed["version"] == HOSTILE["version"]
    assert typed["score"] == -0.25
    assert typed["confidence"] is None


def test_an_unknown_export_format_is_refused_naming_the_field(audit_client: TestClient) -> None:
    r = audit_client.post("/v1/exports", json={"filters": {}, "format": "xlsx"})
    assert r.status_code == 422
    assert "format" in r.json()["error"]["details"][0]["field"]
