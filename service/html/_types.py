"""What the renderers read from their inputs: attribute names and types, nothing more.

Structural types (``Protocol``), so that the v1 wire schemas, the engine's frozen
dataclasses or a test's fake all render alike, and ``service.html`` imports none of them.
Members are read-only properties: a frozen dataclass or a pydantic model both satisfy
them, and a ``list`` field satisfies a ``Sequence`` member.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

__all__ = [
    "Annotation",
    "ChartBar",
    "Explained",
    "Notice",
    "NoticeChart",
    "NoticeSection",
    "NoticeTable",
    "Reason",
]


class Reason(Protocol):
    """A principal reason: its sign and its direction on the card's reference score."""

    @property
    def contribution(self) -> float: ...
    @property
    def direction(self) -> str: ...  # "raises" or "lowers"


class NoticeTable(Protocol):
    @property
    def columns(self) -> Sequence[str]: ...
    @property
    def rows(self) -> Sequence[Sequence[str]]: ...


class NoticeSection(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def heading(self) -> str | None: ...
    @property
    def paragraphs(self) -> Sequence[str]: ...
    @property
    def items(self) -> Sequence[str]: ...
    @property
    def table(self) -> NoticeTable | None: ...


class ChartBar(Protocol):
    @property
    def label(self) -> str: ...
    @property
    def value(self) -> float: ...  # toward the outcome (negative: against it)
    @property
    def text(self) -> str: ...
    @property
    def shown(self) -> str: ...


class NoticeChart(Protocol):
    @property
    def title(self) -> str: ...
    @property
    def alt(self) -> str: ...
    @property
    def toward(self) -> str: ...
    @property
    def against(self) -> str: ...
    @property
    def bars(self) -> Sequence[ChartBar]: ...
    @property
    def show_values(self) -> bool: ...
    @property
    def table_caption(self) -> str: ...
    @property
    def columns(self) -> Sequence[str]: ...
    @property
    def toward_raises(self) -> bool: ...  # bars toward the outcome raised the model's score


class Notice(Protocol):
    @property
    def template_version(self) -> str: ...
    @property
    def locale(self) -> str: ...
    @property
    def persona(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def lead(self) -> str: ...
    @property
    def sections(self) -> Sequence[NoticeSection]: ...
    @property
    def chart(self) -> NoticeChart | None: ...


class Explained(Protocol):
    """One explained instance as the widgets read it: its notice and its reasons."""

    @property
    def notice(self) -> Notice | None: ...
    @property
    def reasons(self) -> Sequence[Reason]: ...
    @property
    def counterfactual_note(self) -> str | None: ...


class Annotation(Protocol):
    """A reviewer's verdict or sign-off, as the case packet lists it."""

    @property
    def id(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def reviewer(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def verdict(self) -> str | None: ...
    @property
    def note(self) -> str: ...
    @property
    def supersedes(self) -> str | None: ...
    @property
    def signed_off_by(self) -> str | None: ...
    @property
    def superseded_by(self) -> str | None: ...
    @property
    def current(self) -> bool: ...
