"""The audit store: the database, its transactions, and explanation records.

``AuditStore.open(url)`` creates the SQLAlchemy engine and brings the schema to the
newest migration; the lifespan owns it. Every write is one transaction
(``writing()``): it commits as a whole or not at all, and a database failure becomes
``Unavailable`` (503), so a caller never sees success for something not stored.

SQLite (the default, one file) runs in WAL mode, foreign keys on, and write
transactions opened with ``BEGIN IMMEDIATE`` so concurrent writers queue on the busy
timeout instead of failing when a read lock cannot be upgraded. ``sync`` sets how far a
commit is durable before the caller is answered: ``normal`` (the default,
``synchronous=NORMAL``) once it is in the write-ahead log, which survives any crash or
kill of the service; ``full`` (``synchronous=FULL``) once the log is on disk, which also
survives an OS crash or power loss, at the cost of an fsync per transaction (about 4 ms
on a cloud disk; group commit shares it between concurrent requests). PostgreSQL
decides with its own ``synchronous_commit`` (on by default: like ``full``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
import structlog
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from service.audit import migrations
from service.audit._canonical import sha256_json
from service.audit.filters import Cursor, RecordFilter
from service.audit.tables import Annotation, Decision, ExplanationRecord
from service.errors import ClarionError, Conflict, NotFound, Unavailable

__all__ = ["AuditStore", "Page"]

log = structlog.get_logger(__name__)

_WRITE = "clarion_write"
_SQLITE_BUSY_S = 30.0


def _dumps(value: Any) -> str:
    # The stored text needs to be JSON, not canonical: hashes use _canonical's bytes.
    return orjson.dumps(value).decode("utf-8")


def _sqlite_connect(sync: str) -> Callable[[Any, Any], None]:
    def connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that "begin" below decides how to BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={'FULL' if sync == 'full' else 'NORMAL'}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return connect


def _sqlite_begin(connection: Any) -> None:
    write = connection.get_execution_options().get(_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_db_engine(url: str, *, sync: Literal["normal", "full"] = "normal") -> Engine:
    """An engine for ``url``; for a SQLite file, its folder is made if missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"timeout": _SQLITE_BUSY_S},
            json_serializer=_dumps,
            json_deserializer=orjson.loads,
        )
        event.listen(engine, "connect", _sqlite_connect(sync))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        parsed, pool_pre_ping=True, json_serializer=_dumps, json_deserializer=orjson.loads
    )


@dataclass(frozen=True)
class Page:
    """One page of browse: summaries of records (newest first) and where the next starts."""

    records: list[ExplanationRecord]
    decisions: dict[str, list[Decision]]
    next_cursor: str | None


class AuditStore:
    """Transactions over the audit database, and the explanation records in it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**{_WRITE: True})

    @classmethod
    def open(cls, url: str, *, sync: Literal["normal", "full"] = "normal") -> AuditStore:
        """Connect and migrate to the newest schema; ``Unavailable`` if the database is not."""
        engine = create_db_engine(url, sync=sync)
        try:
            migrations.upgrade(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise Unavailable(f"the audit store at {_safe(url)} cannot be opened: {exc}") from exc
        log.info("audit.opened", database=_safe(url), dialect=engine.dialect.name)
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session; a database failure becomes ``Unavailable``."""
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                yield session
        except ClarionError:
            raise
        except SQLAlchemyError as exc:
            log.error("audit.read_failed", error=type(exc).__name__, detail=str(exc)[:300])
            raise Unavailable(
                "the audit store could not be read", details={"problem": type(exc).__name__}
            ) from exc

    @contextmanager
    def writing(self, *, conflict: str | None = None) -> Iterator[Session]:
        """One transaction, committed at the end or rolled back entirely.

        ``conflict``: the message for a constraint violation (409) where one can mean a
        concurrent write; without it every database failure is ``Unavailable`` (503).
        """
        try:
            with Session(self._writer, expire_on_commit=False) as session, session.begin():
                yield session
        except ClarionError:
            raise
        except IntegrityError as exc:
            if conflict is None:
                raise self._unwritable(exc) from exc
            raise Conflict(conflict) from exc
        except SQLAlchemyError as exc:
            raise self._unwritable(exc) from exc

    @staticmethod
    def _unwritable(exc: SQLAlchemyError) -> Unavailable:
        log.error("audit.write_failed", error=type(exc).__name__, detail=str(exc)[:300])
        return Unavailable(
            "the audit store could not be written; nothing was recorded",
            details={"problem": type(exc).__name__},
        )

    # -- records ---------------------------------------------------------------------------

    def add_record(self, record: ExplanationRecord, decisions: Sequence[Decision]) -> None:
        """Write one record and its decisions in one transaction."""
        self.add_records([(record, decisions)])

    def add_records(self, records: Sequence[tuple[ExplanationRecord, Sequence[Decision]]]) -> None:
        """Write records and their decisions in one transaction (``commits.GroupCommit``)."""
        with self.writing() as session:
            session.add_all([record for record, _ in records])
            session.flush()
            session.add_all([d for _, decisions in records for d in decisions])

    def get_record(self, record_id: str) -> ExplanationRecord:
        with self.reading() as session:
            record = session.get(ExplanationRecord, record_id)
        if record is None:
            raise NotFound(
                f"no explanation record {record_id!r}",
                details={"field": "id", "problem": "unknown record"},
            )
        return record

    def decisions_of(self, record_id: str) -> list[Decision]:
        with self.reading() as session:
            rows = session.scalars(
                select(Decision).where(Decision.record_id == record_id).order_by(Decision.position)
            )
            return list(rows)

    def browse(self, where: RecordFilter, *, limit: int, cursor: str | None = None) -> Page:
        """Records matching ``where``, newest first, ``limit`` at a time (keyset pagination)."""
        r = ExplanationRecord
        query = select(r).where(*where.record_clauses())
        if cursor:
            query = query.where(Cursor.decode(cursor).clause())
        query = query.order_by(r.created_at.desc(), r.id.desc()).limit(limit + 1)
        with self.reading() as session:
            records = list(session.scalars(query))
            more = len(records) > limit
            records = records[:limit]
            decisions: dict[str, list[Decision]] = {x.id: [] for x in records}
            if records:
                rows = session.scalars(
                    select(Decision)
                    .where(Decision.record_id.in_(list(decisions)))
                    .order_by(Decision.record_id, Decision.position)
                )
                for d in rows:
                    decisions[d.record_id].append(d)
        last = records[-1] if records and more else None
        next_cursor = Cursor(last.created_at, last.id).encode() if last else None
        return Page(records, decisions, next_cursor)

    def count(self) -> int:
        with self.reading() as session:
            return int(session.scalar(select(func.count()).select_from(ExplanationRecord)) or 0)

    # -- consistency -----------------------------------------------------------------------

    def verify(self) -> list[str]:
        """Problems found in the database (empty when consistent).

        SQLite's ``integrity_check`` and ``foreign_key_check``; on both databases: every
        record's hash matches its document, its decision count matches its instances, and
        no annotation points at a missing record.
        """
        problems: list[str] = []
        with self.reading() as session:
            if self.dialect == "sqlite":
                status = [row[0] for row in session.execute(text("PRAGMA integrity_check"))]
                if status != ["ok"]:
                    problems += [f"integrity_check: {s}" for s in status]
                problems += [
                    f"foreign_key_check: {tuple(row)}"
                    for row in session.execute(text("PRAGMA foreign_key_check"))
                ]
            counts: dict[str, int] = {
                rid: n
                for rid, n in session.execute(
                    select(Decision.record_id, func.count()).group_by(Decision.record_id)
                )
            }
            for record in session.scalars(select(ExplanationRecord)):
                if sha256_json(record.document) != record.record_sha256:
                    problems.append(f"record {record.id}: hash does not match its document")
                if counts.pop(record.id, 0) != record.n_instances:
                    problems.append(f"record {record.id}: decisions do not match its instances")
            problems += [f"decisions without a record: {rid}" for rid in counts]
            orphans = session.scalars(
                select(Annotation.id).where(~Annotation.record_id.in_(select(ExplanationRecord.id)))
            )
            problems += [f"annotation {a} has no record" for a in orphans]
        return problems


def _safe(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)
