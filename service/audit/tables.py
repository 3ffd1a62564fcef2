"""The audit store's tables, as SQLAlchemy 2 typed declarative models.

    explanation_records  one row per explanation request: the whole record as a JSON
                         document plus the columns browse filters on, and the sealed
                         (encrypted) sensitive values
    decisions            one row per explained instance of a record: outcome, score,
                         confidence, margin, risk flags, and its non-sensitive values
    annotations          append-only reviewer verdicts and sign-offs; a correction is a
                         new row that ``supersedes`` the one it corrects
    samples              a review sample's definition, seed and frame hash
    sample_items         the decisions a sample drew, in order
    legal_holds          records (or whole models) that retention must not purge
    purges               what each retention purge removed
    api_keys             API keys, stored as SHA-256 hashes, with their role
    jobs                 one row per batch explanation job: its audit record (caller,
                         model and hashes, method and parameters, input and result
                         hashes, times, status) and its progress

Records and annotations are never updated; the only UPDATEs the service issues are
releasing a legal hold, revoking an API key, a job's progress until it ends (a
finished job's row is final, its ``record_sha256`` taken over it then), and
``clarion audit rotate-key`` re-sealing a record's ``sealed`` column under a new key
(the document, and so the record's hash, stays as it was). Times are
timezone-aware UTC on the way in and out (SQLite stores them naive, in UTC); ids are
UUID hex strings. The Alembic migrations in ``migrations/versions`` create exactly
these tables, and a test compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Annotation",
    "ApiKey",
    "Base",
    "Decision",
    "ExplanationRecord",
    "JobRecord",
    "LegalHold",
    "Purge",
    "Sample",
    "SampleItem",
    "UtcDateTime",
]


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases; a naive datetime is a bug and is refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the audit store takes timezone-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


_ID = String(32)
_HASH = String(64)


class ExplanationRecord(Base):
    __tablename__ = "explanation_records"
    __table_args__ = (
        Index("ix_records_created", "created_at", "id"),
        Index("ix_records_model", "model_name", "model_version", "created_at"),
    )

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    created_at: Mapped[datetime]
    request_id: Mapped[str | None] = mapped_column(String(64))
    caller: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    model_sha256: Mapped[str] = mapped_column(_HASH)
    method: Mapped[str] = mapped_column(String(32), index=True)
    output_space: Mapped[str] = mapped_column(String(16))
    n_instances: Mapped[int] = mapped_column(Integer)
    quality_failed: Mapped[bool] = mapped_column(Boolean, index=True)
    proxy_flag: Mapped[bool] = mapped_column(Boolean, index=True)
    review_required: Mapped[bool] = mapped_column(Boolean)
    input_sha256: Mapped[str] = mapped_column(_HASH)
    record_sha256: Mapped[str] = mapped_column(_HASH)
    document: Mapped[dict[str, Any]]
    sealed: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(200), index=True)
    """The caller's business reference (an application or loan number), if given."""
    purpose: Mapped[str] = mapped_column(
        String(16), index=True, default="decision", server_default=text("'decision'")
    )
    """``decision`` (about a person) or ``preview`` (the workspace trying things out)."""


class Decision(Base):
    __tablename__ = "decisions"

    record_id: Mapped[str] = mapped_column(
        ForeignKey("explanation_records.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    outcome: Mapped[str | None] = mapped_column(String(128), index=True)
    score: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    margin: Mapped[float | None] = mapped_column(Float)
    confidence_bucket: Mapped[str | None] = mapped_column(String(32))
    quality_failed: Mapped[bool] = mapped_column(Boolean)
    proxy_flag: Mapped[bool] = mapped_column(Boolean)
    review_required: Mapped[bool] = mapped_column(Boolean)
    features: Mapped[dict[str, Any]]


class Annotation(Base):
    __tablename__ = "annotations"

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    record_id: Mapped[str] = mapped_column(
        ForeignKey("explanation_records.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(128))
    caller: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    record_sha256: Mapped[str] = mapped_column(_HASH)
    supersedes: Mapped[str | None] = mapped_column(
        ForeignKey("annotations.id", ondelete="CASCADE"), unique=True
    )
    signs_off: Mapped[str | None] = mapped_column(
        ForeignKey("annotations.id", ondelete="CASCADE"), unique=True
    )


class Sample(Base):
    __tablename__ = "samples"

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]]
    seed: Mapped[int] = mapped_column(BigInteger)
    frame_size: Mapped[int] = mapped_column(Integer)
    frame_sha256: Mapped[str] = mapped_column(_HASH)
    items_sha256: Mapped[str] = mapped_column(_HASH)


class SampleItem(Base):
    __tablename__ = "sample_items"

    sample_id: Mapped[str] = mapped_column(
        ForeignKey("samples.id", ondelete="CASCADE"), primary_key=True
    )
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[str] = mapped_column(
        ForeignKey("explanation_records.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    part: Mapped[str] = mapped_column(String(16))
    stratum: Mapped[dict[str, Any]]
    risk: Mapped[list[Any]]


class LegalHold(Base):
    __tablename__ = "legal_holds"

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str | None] = mapped_column(ForeignKey("explanation_records.id"), index=True)
    model_name: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    released_at: Mapped[datetime | None]
    released_by: Mapped[str | None] = mapped_column(String(64))


class Purge(Base):
    __tablename__ = "purges"

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    created_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    cutoff: Mapped[datetime]
    removed_count: Mapped[int] = mapped_column(Integer)
    held_count: Mapped[int] = mapped_column(Integer)
    removed: Mapped[list[Any]]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    key_sha256: Mapped[str] = mapped_column(_HASH, unique=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class JobRecord(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_created", "created_at", "id"),
        Index("ix_jobs_model", "model_name", "created_at"),
    )

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    request_id: Mapped[str | None] = mapped_column(String(64))
    caller: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    model_sha256: Mapped[str] = mapped_column(_HASH)
    method: Mapped[str] = mapped_column(String(32))
    output_space: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    n_rows: Mapped[int] = mapped_column(Integer)
    n_partitions: Mapped[int] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer)
    rows_failed: Mapped[int] = mapped_column(Integer)
    input_sha256: Mapped[str] = mapped_column(_HASH)
    result_sha256: Mapped[str | None] = mapped_column(_HASH)
    error: Mapped[str | None] = mapped_column(Text)
    document: Mapped[dict[str, Any]]
    record_sha256: Mapped[str | None] = mapped_column(_HASH)
    run_id: Mapped[str | None] = mapped_column(_ID)
