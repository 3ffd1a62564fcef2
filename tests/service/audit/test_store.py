"""The audit store on SQLite and PostgreSQL: schema, records, browse, atomic writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, select, text, update

from service.audit import AuditStore, RecordFilter, migrations
from service.audit.tables import Base, Decision, ExplanationRecord
from service.errors import InvalidInput, NotFound, Unavailable
from tests.helpers.audit import add_record

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_migrations_create_exactly_the_declared_tables(store: AuditStore) -> None:
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_opening_again_migrates_nothing_and_keeps_records(
    store: AuditStore, database_url: str
) -> None:
    record_id = add_record(store)
    again = AuditStore.open(database_url)
    try:
        assert again.get_record(record_id).id == record_id
        with again.engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version"))
            assert [row[0] for row in version] == [migrations.HEAD]
    finally:
        again.close()


def test_a_record_reads_back_whole_with_utc_times(store: AuditStore) -> None:
    when = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    record_id = add_record(store, created_at=when, decisions=[{"outcome": "a"}, {"outcome": "b"}])
    record = store.get_record(record_id)
    assert record.created_at == when
    assert record.created_at.tzinfo is not None
    assert record.document["id"] == record_id
    assert [d.outcome for d in store.decisions_of(record_id)] == ["a", "b"]
    assert store.verify() == []


def test_naive_datetimes_are_refused(store: AuditStore) -> None:
    with pytest.raises(Unavailable):
        add_record(store, created_at=datetime(2026, 1, 1))
    assert store.count() == 0


def test_unknown_record_is_not_found(store: AuditStore) -> None:
    with pytest.raises(NotFound, match="no explanation record"):
        store.get_record("f" * 32)


def test_browse_filters_on_every_column(store: AuditStore) -> None:
    a = add_record(store, created_at=T0, model="credit", version="1", caller="k1")
    b = add_record(
        store,
        created_at=T0 + timedelta(hours=1),
        model="credit",
        version="2",
        method="lime",
        decisions=[{"outcome": "approved", "quality_failed": True}],
    )
    c = add_record(
        store,
        created_at=T0 + timedelta(hours=2),
        model="hiring",
        decisions=[{"outcome": "reject", "proxy_flag": True}, {"outcome": "advance"}],
    )

    def ids(**kw: object) -> set[str]:
        page = store.browse(RecordFilter(**kw), limit=50)  # type: ignore[arg-type]
        return {r.id for r in page.records}

    assert ids() == {a, b, c}
    assert ids(model="credit") == {a, b}
    assert ids(model="credit", version="2") == {b}
    assert ids(since=T0 + timedelta(minutes=30)) == {b, c}
    assert ids(until=T0 + timedelta(hours=1)) == {a, b}
    assert ids(outcome="advance") == {c}
    assert ids(method="lime") == {b}
    assert ids(quality_failed=True) == {b}
    assert ids(proxy_flag=True) == {c}
    assert ids(proxy_flag=False) == {a, b}
    assert ids(caller="k1") == {a}


def test_pagination_visits_every_record_once_newest_first(store: AuditStore) -> None:
    # Ties on created_at are broken by id, so a page boundary inside a tie loses nothing.
    made = [add_record(store, created_at=T0 + timedelta(seconds=i // 3)) for i in range(23)]
    seen: list[ExplanationRecord] = []
    cursor = None
    pages = 0
    while True:
        page = store.browse(RecordFilter(), limit=5, cursor=cursor)
        seen += page.records
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 5
    assert sorted(r.id for r in seen) == sorted(made)
    keys = [(r.created_at, r.id) for r in seen]
    assert keys == sorted(keys, reverse=True)


def test_a_cursor_not_from_the_service_is_422(store: AuditStore) -> None:
    with pytest.raises(InvalidInput, match="cursor"):
        store.browse(RecordFilter(), limit=5, cursor="bm90IGEgY3Vyc29y")


def test_a_failed_write_leaves_nothing_half_written(store: AuditStore) -> None:
    kept = add_record(store)
    with store.engine.begin() as connection:
        connection.execute(text("DROP TABLE decisions"))
    with pytest.raises(Unavailable, match="could not be written"):
        add_record(store)
    with store.reading() as session:
        assert list(session.scalars(select(ExplanationRecord.id))) == [kept]


def test_verify_finds_a_tampered_document(store: AuditStore) -> None:
    record_id = add_record(store)
    assert store.verify() == []
    with store.engine.begin() as connection:
        connection.execute(update(ExplanationRecord).values(document={"id": record_id, "x": 1}))
    assert store.verify() == [f"record {record_id}: hash does not match its document"]


def test_verify_reads_records_of_both_canonical_forms(store: AuditStore) -> None:
    # Records written before schema 2 were hashed in form 1 (Python's json, ASCII escapes,
    # "1e-05"); newer ones in form 2 (orjson: UTF-8, "0.00001"). A store holding both
    # verifies each by the form its schema_version names, and still finds tampering.
    values = {"text": "Lücke", "small": 1e-05, "big": 1e16}
    old = add_record(store, document={"values": values})
    new = add_record(store, document={"schema_version": 2, "values": values})
    assert store.verify() == []
    with store.engine.begin() as connection:
        connection.execute(
            update(ExplanationRecord)
            .where(ExplanationRecord.id == new)
            .values(document={"id": new, "schema_version": 2, "values": {**values, "small": 2e-05}})
        )
    assert store.verify() == [f"record {new}: hash does not match its document"]
    assert old != new


def test_verify_finds_missing_decisions(store: AuditStore) -> None:
    record_id = add_record(store, decisions=[{"outcome": "a"}, {"outcome": "b"}])
    with store.engine.begin() as connection:
        connection.execute(delete(Decision).where(Decision.position == 1))
    assert store.verify() == [f"record {record_id}: decisions do not match its instances"]
