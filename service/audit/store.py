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

A SQLite file's folder must exist (``make_folder``: it is made, as for the default
``./data/clarion.db``): a mistyped path is an error, not a new empty store
somewhere. ``open(url, read_only=True)`` (``clarion audit verify``) opens an existing store without
writing a byte; a missing one is ``Unavailable``. ``check_writable`` is the
readiness probe: a no-op write, rolled back, with a short lock timeout.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
import structlog
from sqlalchemy import Dialect, Engine, Table, create_engine, event, func, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from service.audit import migrations
from service.audit._canonical import record_text, sha256_hex
from service.audit.checkpoints import SAFETY_PAGES, Checkpointer
from service.audit.filters import Cursor, RecordFilter
from service.audit.tables import Annotation, Decision, ExplanationRecord
from service.audit.writelock import WriteLock, sqlite_file
from service.errors import ClarionError, Conflict, NotFound, Unavailable

__all__ = ["AuditStore", "Columns", "JsonText", "Page"]

log = structlog.get_logger(__name__)

_WRITE = "clarion_write"
_RECORDS: Table = ExplanationRecord.__table__  # type: ignore[assignment]
_DECISIONS: Table = Decision.__table__  # type: ignore[assignment]
_SQLITE_BUSY_S = 30.0

Columns = tuple[dict[str, Any], Sequence[dict[str, Any]]]
"""A record's column values and its decisions' (``AuditStore.add_rows``)."""


_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


class JsonText(str):
    """A JSON column's value already written as JSON text: the store writes it as it is.

    The recorder hashes a record's document in canonical form (``_canonical``) and hands
    the store those same bytes as text, so a document is serialised once per request,
    not once for its hash and again for its column (487 KB for 100 german_credit rows)."""

    __slots__ = ()


def _dumps(value: Any) -> str:
    if type(value) is JsonText:
        return value
    # The stored text needs to be JSON, not canonical: hashes use _canonical's bytes. It
    # reads back as the same values canonical form 2 hashes (non-finite floats as null).
    return orjson.dumps(value, option=_JSON_OPTIONS).decode("utf-8")


def _sqlite_connect(sync: str) -> Callable[[Any, Any], None]:
    def connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that "begin" below decides how to BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={'FULL' if sync == 'full' else 'NORMAL'}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Checkpoints run on a thread of their own (``checkpoints``); SQLite's inline
        # ones only past SAFETY_PAGES, should that thread fall behind.
        cursor.execute(f"PRAGMA wal_autocheckpoint={SAFETY_PAGES}")
        cursor.close()

    return connect


def _sqlite_begin(connection: Any) -> None:
    write = connection.get_execution_options().get(_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _sqlite_read_only(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA query_only=ON")


def _postgres_read_only(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    dbapi_connection.commit()


def _sqlite_file(url: str, parsed: URL, *, read_only: bool, make_folder: bool) -> Path | None:
    """The database file of a SQLite URL (None for memory and ``file:`` URIs), checked."""
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise Unavailable(f"no audit store at {_safe(url)}: {folder} is a file, not a folder")
    if read_only:
        if not path.is_file():
            raise Unavailable(f"no audit store at {_safe(url)}: {path} does not exist")
        return path
    if not folder.exists():
        if not make_folder:
            raise Unavailable(
                f"the audit store at {_safe(url)} cannot be made: the folder {folder} "
                "does not exist"
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Unavailable(
                f"the audit store at {_safe(url)} cannot be made: {exc.strerror} ({folder})"
            ) from exc
    return path


def create_db_engine(
    url: str,
    *,
    read_only: bool = False,
    make_folder: bool = False,
    sync: Literal["normal", "full"] = "normal",
) -> Engine:
    """An engine for ``url`` (see the module docstring for folders and ``read_only``).

    Statement parameters are never rendered into errors: they can hold record values.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_file(url, parsed, read_only=read_only, make_folder=make_folder)
        if read_only and path is not None:
            uri = path.resolve().as_uri() + "?mode=ro"
            engine = create_engine(
                "sqlite://",
                creator=lambda: sqlite3.connect(
                    uri, uri=True, timeout=_SQLITE_BUSY_S, check_same_thread=False
                ),
                json_serializer=_dumps,
                json_deserializer=orjson.loads,
                hide_parameters=True,
            )
            event.listen(engine, "connect", _sqlite_read_only)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        engine = create_engine(
            parsed,
            connect_args={"timeout": _SQLITE_BUSY_S},
            json_serializer=_dumps,
            hide_parameters=True,
            json_deserializer=orjson.loads,
        )
        event.listen(engine, "connect", _sqlite_connect(sync))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(
        parsed,
        pool_pre_ping=True,
        json_serializer=_dumps,
        json_deserializer=orjson.loads,
        hide_parameters=True,
    )
    if read_only:
        event.listen(engine, "connect", _postgres_read_only)
    return engine


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
        database = sqlite_file(engine)  # None: not a SQLite file
        self._write_lock = WriteLock.for_file(database)
        self._checkpointer = (
            Checkpointer(database, self._write_lock) if database is not None else None
        )
        self._inserts: dict[tuple[str, tuple[str, ...]], _Insert] = {}
        # A SQLite file's record writes keep one pooled connection (``_execute``): checking
        # one out of SQLAlchemy's pool and back in cost each explanation some 50 us, and
        # writes take turns under ``_write_lock`` anyway. Other databases check out each
        # time, so the pool's pre-ping still finds a connection the server dropped.
        self._keeps_writer = database is not None
        self._kept: Any = None  # the kept connection, made by the first write
        self.traced = False
        """Set by tracing (``service.api.tracing``): writes go through SQLAlchemy's
        connection, whose events make the statements' spans, at some 0.1 ms a record."""

    @classmethod
    def open(
        cls,
        url: str,
        *,
        read_only: bool = False,
        make_folder: bool = False,
        sync: Literal["normal", "full"] = "normal",
    ) -> AuditStore:
        """Connect and migrate to the newest schema; ``Unavailable`` if the database is not.

        ``read_only``: an existing store at the newest schema, opened without migrating
        or writing; ``Unavailable`` if there is none. ``make_folder``: make a SQLite
        file's missing folder. ``sync``: see the module docstring.
        """
        engine = create_db_engine(url, read_only=read_only, make_folder=make_folder, sync=sync)
        try:
            if read_only:
                cls._check_schema(engine, url)
            else:
                migrations.upgrade(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            problem = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise Unavailable(
                f"the audit store at {_safe(url)} cannot be opened: {problem}"
            ) from exc
        except ClarionError:
            engine.dispose()
            raise
        log.info("audit.opened", database=_safe(url), dialect=engine.dialect.name)
        return cls(engine)

    @staticmethod
    def _check_schema(engine: Engine, url: str) -> None:
        with engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                raise Unavailable(f"no audit store at {_safe(url)}: it has no Clarion tables")
            revision = connection.scalar(text("SELECT version_num FROM alembic_version"))
        if revision != migrations.HEAD:
            raise Unavailable(
                f"the audit store at {_safe(url)} has schema {revision}; this version reads "
                f"{migrations.HEAD} (start the service once to migrate it)"
            )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        with self._write_lock.held():
            if self._kept is not None:
                self._kept.close()  # back to the pool, which dispose closes
                self._kept = None
        self.engine.dispose()
        self._write_lock.close()

    def check_writable(self, timeout_s: float = 1.0) -> str | None:
        """None when a write would go through now, else what stops it (for readiness).

        A no-op update of the migration marker, rolled back, waiting at most
        ``timeout_s`` for a lock: it fails on a read-only or missing database, a lost
        connection, revoked rights or a writer that holds the lock.
        """
        try:
            with self.engine.connect() as connection:
                if self.dialect == "sqlite":
                    raw = connection.connection.driver_connection
                    assert raw is not None
                    raw.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
                    try:
                        raw.execute("BEGIN IMMEDIATE")
                        try:
                            raw.execute("UPDATE alembic_version SET version_num = version_num")
                        finally:
                            raw.execute("ROLLBACK")
                    finally:
                        raw.execute(f"PRAGMA busy_timeout={int(_SQLITE_BUSY_S * 1000)}")
                else:
                    ms = int(timeout_s * 1000)
                    connection.execute(text(f"SET LOCAL lock_timeout = {ms}"))
                    connection.execute(text(f"SET LOCAL statement_timeout = {ms}"))
                    connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
                    connection.rollback()
        except (SQLAlchemyError, sqlite3.Error) as exc:
            log.warning("audit.not_writable", error=type(exc).__name__)
            return type(getattr(exc, "orig", None) or exc).__name__
        return None

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
            with (
                self._write_lock.held(),
                Session(self._writer, expire_on_commit=False) as session,
                session.begin(),
            ):
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
    def _unwritable(exc: Exception) -> Unavailable:
        log.error("audit.write_failed", error=type(exc).__name__, detail=str(exc)[:300])
        return Unavailable(
            "the audit store could not be written; nothing was recorded",
            details={"problem": type(exc).__name__},
        )

    # -- records ---------------------------------------------------------------------------

    def add_record(self, record: ExplanationRecord, decisions: Sequence[Decision]) -> None:
        """Write one record and its decisions in one transaction."""
        self.add_rows([(_columns(record), [_columns(d) for d in decisions])])

    def add_rows(self, records: Sequence[Columns]) -> None:
        """Write records and their decisions, as column values, in one transaction
        (``commits.GroupCommit``)."""
        # Straight to the driver: each INSERT is compiled once per set of columns with the
        # column types' own conversions (``_Insert``), and executed on a pooled DBAPI
        # connection. The ORM's unit of work, then Core's execute, cost more than the
        # write itself on the hot path: Core took 0.50 ms per record where this takes 0.24
        # (SQLite, one german_credit record, medians; bench/profile_explain.py).
        rows = [record for record, _ in records]
        decisions = [d for _, ds in records for d in ds]
        try:  # values the columns refuse (a naive datetime) fail before the transaction
            statements = [
                (insert.sql, insert.params(group))
                for table, values in ((_RECORDS, rows), (_DECISIONS, decisions))
                for group in _by_columns(values)
                for insert in (self._insert(table, tuple(group[0])),)
            ]
        except (ValueError, TypeError) as exc:
            raise self._unwritable(exc) from exc
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        try:
            if self.traced:  # through SQLAlchemy's events, which the tracing listens to
                with self._write_lock.held(), self._writer.begin() as traced:
                    for sql, params in statements:
                        traced.exec_driver_sql(sql, params)
            else:
                with self._write_lock.held():
                    self._execute(statements)
        except (SQLAlchemyError, dbapi_error) as exc:
            raise self._unwritable(exc) from exc
        if self._checkpointer is not None:
            self._checkpointer.wrote()

    def _execute(self, statements: Sequence[tuple[str, Any]]) -> None:
        """``statements`` in one transaction, under ``_write_lock``: on the kept connection
        of a SQLite file, else on a pooled DBAPI connection. A connection that fails is
        given up (a kept one is invalidated: the next write opens another)."""
        connection = self._kept or self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            if self.dialect == "sqlite":  # autocommit driver: the transaction is ours
                cursor.execute("BEGIN IMMEDIATE")
            for sql, params in statements:
                cursor.executemany(sql, params)
            if self.dialect == "sqlite":
                cursor.execute("COMMIT")
            else:
                connection.commit()
        except BaseException:
            try:
                connection.rollback()
            except Exception:
                connection.invalidate()  # unusable: never handed out again
                if connection is self._kept:
                    self._kept = None
            raise
        finally:
            if self._keeps_writer and self._kept is None and connection.is_valid:
                self._kept = connection  # kept checked out for the next write
            elif connection is not self._kept:
                connection.close()  # back to the pool

    def _insert(self, table: Table, columns: tuple[str, ...]) -> _Insert:
        key = (table.name, columns)
        insert = self._inserts.get(key)
        if insert is None:
            insert = self._inserts[key] = _Insert.compile(table, columns, self.engine.dialect)
        return insert

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
                if sha256_hex(record_text(record.document)) != record.record_sha256:
                    problems.append(f"record {record.id}: hash does not match its document")
                if counts.pop(record.id, 0) != record.n_instances:
                    problems.append(f"record {record.id}: decisions do not match its instances")
            problems += [f"decisions without a record: {rid}" for rid in counts]
            orphans = session.scalars(
                select(Annotation.id).where(~Annotation.record_id.in_(select(ExplanationRecord.id)))
            )
            problems += [f"annotation {a} has no record" for a in orphans]
        return problems


@dataclass(frozen=True)
class _Insert:
    """An INSERT of some columns of a table, compiled for one dialect, with the bind
    conversions Core's execute would apply (JSON text, datetimes, booleans), so that
    ``params`` gives the driver what SQLAlchemy would have."""

    sql: str
    binds: tuple[tuple[str, Callable[[Any], Any] | None], ...]  # (column, conversion)
    positional: bool
    defaults: dict[str, Any]  # columns not given, with their scalar defaults

    @classmethod
    def compile(cls, table: Table, columns: tuple[str, ...], dialect: Dialect) -> _Insert:
        compiled = table.insert().compile(dialect=dialect, column_keys=list(columns))
        names = compiled.positiontup or list(compiled.params)
        # each parameter is named after its column; the column type's processor for this
        # dialect is the conversion Core's execute applies (public TypeEngine API)
        binds = tuple(
            (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in names
        )
        # a column left out that has a Python-side default is still bound (Core fills it)
        defaults = {}
        for name in set(names) - set(columns):
            default = table.c[name].default
            if default is None or not default.is_scalar:
                raise TypeError(f"{table.name}.{name} has no scalar default to insert")
            defaults[name] = default.arg  # type: ignore[attr-defined]
        return cls(str(compiled), binds, compiled.positional, defaults)

    def params(
        self, rows: Sequence[dict[str, Any]]
    ) -> Sequence[Sequence[Any]] | Sequence[Mapping[str, Any]]:
        """The driver's parameters for ``rows`` (each with exactly this insert's columns)."""
        if self.defaults:
            rows = [{**self.defaults, **row} for row in rows]
        if self.positional:
            return [
                tuple(
                    row[name] if convert is None else convert(row[name])
                    for name, convert in self.binds
                )
                for row in rows
            ]
        return [
            {
                name: row[name] if convert is None else convert(row[name])
                for name, convert in self.binds
            }
            for row in rows
        ]


def _safe(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


def _by_columns(rows: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows grouped by the columns they set (an executemany takes one set), in order."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    return list(groups.values())


def _columns(row: Any) -> dict[str, Any]:
    """A mapped object's column values, leaving unset ones to the column defaults."""
    values = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key, None)
        if value is not None:
            values[column.key] = value
    return values
