"""Alembic's environment: migrate over the connection that ``upgrade`` hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from service.audit.tables import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError("run migrations through service.audit.migrations.upgrade(engine)")
_run(_connection)
