"""Time bounds: dates and naive times are UTC everywhere a filter is taken; impossible ones 422."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from service.audit import AuditStore, RecordFilter
from service.errors import InvalidInput
from tests.helpers.audit import add_record

DAY = datetime(2026, 6, 1, tzinfo=UTC)
EXPORTABLE = {"caller": "anonymous", "channel": "api", "input": {}}


@pytest.fixture
def around_midnight(store: AuditStore) -> tuple[str, str]:
    """One record a minute before DAY's midnight (UTC) and one an hour after it."""
    before = add_record(store, created_at=DAY - timedelta(minutes=1), document=EXPORTABLE)
    after = add_record(store, created_at=DAY + timedelta(hours=1), document=EXPORTABLE)
    return before, after


@pytest.mark.parametrize("since", ["2026-06-01", "2026-06-01T00:00:00", "2026-06-01T00:00"])
def test_browse_reads_dates_and_naive_times_as_utc(
    audit_client: TestClient, around_midnight: tuple[str, str], since: str
) -> None:
    before, after = around_midnight
    r = audit_client.get("/v1/explanations", params={"since": since})
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["explanations"]] == [after]
    r = audit_client.get("/v1/explanations", params={"until": since})
    assert [x["id"] for x in r.json()["explanations"]] == [before]


def test_samples_exports_and_reports_take_dates(
    audit_client: TestClient, around_midnight: tuple[str, str]
) -> None:
    before, after = around_midnight
    sample = audit_client.post("/v1/samples", json={"filters": {"since": "2026-06-01"}, "seed": 1})
    assert sample.status_code == 201, sample.text
    assert {i["record_id"] for i in sample.json()["items"]} == {after}
    assert sample.json()["definition"]["filters"]["since"].startswith("2026-06-01T00:00:00")
    export = audit_client.post(
        "/v1/exports", json={"filters": {"until": "2026-06-01T00:00:00"}, "format": "csv"}
    )
    assert export.status_code == 200, export.text
    assert before in export.text
    assert after not in export.text
    report = audit_client.get("/v1/models/tiny_credit/report", params={"since": "2026-06-01"})
    assert report.status_code == 200, report.text
    assert report.json()["since"].startswith("2026-06-01T00:00:00")


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
def test_a_time_utc_cannot_hold_is_422_naming_the_field(
    audit_client: TestClient, value: str
) -> None:
    answers = {
        "query.since": audit_client.get("/v1/explanations", params={"since": value}),
        "filters.until": audit_client.post("/v1/samples", json={"filters": {"until": value}}),
        "filters.since": audit_client.post(
            "/v1/exports", json={"filters": {"since": value}, "format": "jsonl"}
        ),
    }
    for field, r in answers.items():
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["details"][0]["field"] == field
        assert "UTC" in error["message"]


def test_an_impossible_date_is_422_naming_the_field(audit_client: TestClient) -> None:
    r = audit_client.get("/v1/explanations", params={"until": "2026-13-45"})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "query.until"


def test_record_filter_normalises_for_every_caller(
    store: AuditStore, around_midnight: tuple[str, str]
) -> None:
    _, after = around_midnight
    where = RecordFilter(since=datetime(2026, 6, 1))  # naive: UTC
    assert where.since == DAY
    assert [x.id for x in store.browse(where, limit=10).records] == [after]
    late = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-12)))
    with pytest.raises(InvalidInput, match="until"):
        RecordFilter(until=late)
