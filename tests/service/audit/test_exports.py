"""Exports: a CSV cell a spreadsheet would run as a formula is quoted; numbers stay numbers."""

from __future__ import annotations

import csv
import io
import zipfile

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
