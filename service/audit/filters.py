"""Which records a question is about: one filter type for browse, samples, exports and reports.

``RecordFilter`` turns into SQL ``WHERE`` clauses over ``explanation_records`` (and,
for outcomes, an ``EXISTS`` over ``decisions``); ``Cursor`` is the keyset position of
browse's pagination (newest first: ``created_at`` then ``id``, both descending).

Times are compared in UTC. ``UtcDatetime`` is how the API takes them: an ISO 8601
date-time or a date (midnight); one without a UTC offset is read as UTC; one that
cannot be expressed in UTC (``9999-12-31T23:59:59-12:00``) is a validation error
naming the field. ``RecordFilter`` normalises the same way for every other caller.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator
from sqlalchemy import ColumnElement, and_, exists, or_

from service.audit.tables import Decision, ExplanationRecord
from service.errors import InvalidInput

__all__ = ["TIME_BOUND", "Cursor", "RecordFilter", "UtcDatetime", "as_utc"]

TIME_BOUND = (
    "ISO 8601 date-time or date (a date means its midnight), inclusive; "
    "without a UTC offset it is read as UTC."
)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC, a naive one taken as UTC; ``OverflowError`` if UTC cannot hold it."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _utc(value: datetime) -> datetime:
    try:
        return as_utc(value)
    except OverflowError as exc:
        raise ValueError("is out of range once converted to UTC") from exc


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""A datetime read as UTC (see the module docstring); for request fields and query parameters."""


@dataclass(frozen=True)
class RecordFilter:
    """Every field is optional; ``None`` means "any". Times are inclusive bounds, in UTC."""

    model: str | None = None
    version: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    outcome: str | None = None
    method: str | None = None
    quality_failed: bool | None = None
    proxy_flag: bool | None = None
    caller: str | None = None
    reference: str | None = None
    purpose: Literal["decision", "preview"] = "decision"
    """Decisions only unless previews are asked for (the workspace's own explanations)."""

    def __post_init__(self) -> None:
        # SQLite cannot compare a naive bound with stored aware times: normalise here too.
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                object.__setattr__(self, name, as_utc(value))
            except OverflowError as exc:
                raise InvalidInput(
                    f"{name} is out of range once converted to UTC",
                    details={"field": name, "problem": "out of range in UTC"},
                ) from exc

    def record_clauses(self) -> list[ColumnElement[bool]]:
        """Clauses on ``explanation_records`` (outcome: any of the record's decisions)."""
        r = ExplanationRecord
        clauses: list[ColumnElement[bool]] = []
        if self.model is not None:
            clauses.append(r.model_name == self.model)
        if self.version is not None:
            clauses.append(r.model_version == self.version)
        if self.since is not None:
            clauses.append(r.created_at >= self.since)
        if self.until is not None:
            clauses.append(r.created_at <= self.until)
        if self.method is not None:
            clauses.append(r.method == self.method)
        if self.quality_failed is not None:
            clauses.append(r.quality_failed == self.quality_failed)
        if self.proxy_flag is not None:
            clauses.append(r.proxy_flag == self.proxy_flag)
        if self.caller is not None:
            clauses.append(r.caller == self.caller)
        if self.reference is not None:
            clauses.append(r.reference == self.reference)
        clauses.append(r.purpose == self.purpose)
        if self.outcome is not None:
            clauses.append(
                exists().where(Decision.record_id == r.id, Decision.outcome == self.outcome)
            )
        return clauses

    def decision_clauses(self) -> list[ColumnElement[bool]]:
        """Clauses for a join of decisions and records, with the flags per decision."""
        plain = RecordFilter(
            model=self.model,
            version=self.version,
            since=self.since,
            until=self.until,
            method=self.method,
            caller=self.caller,
            reference=self.reference,
            purpose=self.purpose,
        )
        clauses = plain.record_clauses()
        if self.outcome is not None:
            clauses.append(Decision.outcome == self.outcome)
        if self.quality_failed is not None:
            clauses.append(Decision.quality_failed == self.quality_failed)
        if self.proxy_flag is not None:
            clauses.append(Decision.proxy_flag == self.proxy_flag)
        return clauses


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: strictly older than (created_at, id)."""

    created_at: datetime
    id: str

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), self.id]).encode("utf-8")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            when, record_id = json.loads(raw)
            created_at = datetime.fromisoformat(when)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise InvalidInput(
                "the cursor is not one this service returned",
                details={"field": "cursor", "problem": "invalid cursor"},
            ) from exc
        if created_at.tzinfo is None or not isinstance(record_id, str):
            raise InvalidInput(
                "the cursor is not one this service returned",
                details={"field": "cursor", "problem": "invalid cursor"},
            )
        return cls(created_at, record_id)

    def clause(self) -> ColumnElement[bool]:
        r = ExplanationRecord
        return or_(
            r.created_at < self.created_at,
            and_(r.created_at == self.created_at, r.id < self.id),
        )
