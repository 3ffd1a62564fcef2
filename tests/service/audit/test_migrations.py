"""Revision 0003 on SQLite and PostgreSQL: records made before it keep their history."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from service.audit import AuditStore, RecordFilter, migrations
from tests.helpers.audit import add_record


def test_records_made_before_reference_and_purpose_keep_their_history(database_url: str) -> None:
    store = AuditStore.open(database_url)
    try:
        record_id = add_record(store)
        before = store.get_record(record_id).record_sha256
        cfg = migrations.alembic_config()
        with store.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "0002")
        with store.engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("explanation_records")}
        assert not {"reference", "purpose"} & columns  # the store as it was

        migrations.upgrade(store.engine)
        record = store.get_record(record_id)
        assert (record.reference, record.purpose) == (None, "decision")
        assert record.record_sha256 == before
        assert store.verify() == []
        page = store.browse(RecordFilter(), limit=10, cursor=None)
        assert [r.id for r in page.records] == [record_id]
    finally:
        store.close()
