"""Retention: cutoffs in calendar months, legal holds, and a purge that logs what it removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from service.audit import AuditStore
from service.audit.annotations import annotate
from service.audit.retention import cutoff_for, list_holds, place_hold, purge, release_hold
from service.audit.sampling import draw_sample
from service.audit.schemas import AnnotationRequest, SampleRequest
from service.audit.tables import Annotation, Decision, Purge, SampleItem
from service.errors import InvalidInput, NotFound
from tests.helpers.audit import add_record

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("400d", datetime(2025, 10, 22, 12, 0, tzinfo=UTC)),
        ("2w", datetime(2026, 11, 12, 12, 0, tzinfo=UTC)),
        ("25m", datetime(2024, 10, 26, 12, 0, tzinfo=UTC)),
        ("7y", datetime(2019, 11, 26, 12, 0, tzinfo=UTC)),
    ],
)
def test_cutoffs(text: str, expected: datetime) -> None:
    assert cutoff_for(text, NOW) == expected


def test_a_month_back_from_the_31st_lands_on_the_last_day() -> None:
    assert cutoff_for("1m", datetime(2026, 3, 31, tzinfo=UTC)) == datetime(2026, 2, 28, tzinfo=UTC)


@pytest.mark.parametrize("text", ["25", "m", "3 months", "-1d", ""])
def test_bad_ages_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="older_than"):
        cutoff_for(text, NOW)


def _count(store: AuditStore, table: type) -> int:
    with store.reading() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_purge_keeps_held_records_and_logs_what_it_removed(store: AuditStore) -> None:
    old = datetime.now(UTC) - timedelta(days=900)
    gone = [add_record(store, created_at=old, model="credit") for _ in range(3)]
    held_one = add_record(store, created_at=old, model="credit")
    held_model = add_record(store, created_at=old, model="hiring")
    fresh = add_record(store, model="credit")
    annotate(store, gone[0], AnnotationRequest(verdict="ok"), caller="k")
    draw_sample(store, SampleRequest(size=10, seed=1), created_by="k")
    place_hold(store, record_id=held_one, reason="case 17", created_by="k")
    place_hold(store, model_name="hiring", reason="audit 2026", created_by="k")
    released = place_hold(store, record_id=gone[1], reason="closed", created_by="k")
    release_hold(store, released.id, released_by="k")

    dry = purge(store, older_than="25m", actor="test", dry_run=True)
    assert sorted(dry.removed) == sorted(gone)
    assert store.count() == 6

    with capture_logs() as logs:
        result = purge(store, older_than="25m", actor="test")
    assert sorted(result.removed) == sorted(gone)
    assert sorted(result.held) == sorted([held_one, held_model])
    (line,) = [e for e in logs if e["event"] == "audit.purged"]
    assert line["removed"] == 3
    assert line["held"] == 2
    assert sorted(line["ids"]) == sorted(gone)
    with pytest.raises(NotFound):
        store.get_record(gone[0])
    for kept in (held_one, held_model, fresh):
        store.get_record(kept)
    assert _count(store, Annotation) == 0
    assert _count(store, Decision) == 3
    with store.reading() as session:
        items = set(session.scalars(select(SampleItem.record_id)))
        (log_row,) = session.scalars(select(Purge))
    assert items == {held_one, held_model, fresh}
    assert sorted(log_row.removed) == sorted(gone)
    assert log_row.held_count == 2
    assert store.verify() == []
    assert {h.reason for h in list_holds(store)} == {"case 17", "audit 2026"}


def test_holds_name_one_existing_record_or_one_model(store: AuditStore) -> None:
    with pytest.raises(InvalidInput):
        place_hold(store, reason="x", created_by="k")
    with pytest.raises(NotFound):
        place_hold(store, record_id="0" * 32, reason="x", created_by="k")
    with pytest.raises(NotFound):
        release_hold(store, "0" * 32, released_by="k")


def test_a_model_hold_needs_a_served_model_or_its_records(store: AuditStore) -> None:
    add_record(store, model="retired")
    with pytest.raises(NotFound, match="no model 'credti'"):
        place_hold(store, model_name="credti", reason="typo", created_by="k")
    assert list_holds(store) == []
    place_hold(store, model_name="retired", reason="has records", created_by="k")
    place_hold(store, model_name="new", reason="served", created_by="k", served={"new"})
    assert {h.model_name for h in list_holds(store)} == {"retired", "new"}
