"""The notice: everything a person is shown about one decision, composed once.

``narratives.compose`` builds it; ``narratives.render_text`` writes it as the
``narrative`` string and ``service.html`` renders it as the widget, so the two cannot
say different things. Plain frozen values: the wire schemas mirror these fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from service.vocabulary import Persona

__all__ = ["ChartBar", "Notice", "NoticeChart", "NoticeSection", "NoticeTable"]


@dataclass(frozen=True)
class NoticeTable:
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class NoticeSection:
    """One block of a notice; ``kind`` names it (reasons, counterfactuals, confidence, ...)."""

    kind: str
    heading: str | None = None
    paragraphs: Sequence[str] = ()
    items: Sequence[str] = ()
    table: NoticeTable | None = None


@dataclass(frozen=True)
class ChartBar:
    code: str
    label: str
    value: float  # toward the outcome (negative: against it)
    text: str  # the bar's meaning in words: the sign is never colour alone
    shown: str = ""  # the value as printed for analysts, in the locale's format


@dataclass(frozen=True)
class NoticeChart:
    title: str
    alt: str  # the text alternative: the chart's takeaway
    toward: str
    against: str
    bars: Sequence[ChartBar]
    show_values: bool  # never for end users
    table_caption: str
    columns: Sequence[str]
    # Whether bars toward the result raised the model's score (the positive class's
    # probability, the estimate): the colours mean raised/lowered everywhere.
    toward_raises: bool = True


@dataclass(frozen=True)
class Notice:
    template_version: str
    locale: str
    persona: Persona
    domain: str
    title: str
    lead: str
    sections: Sequence[NoticeSection] = field(default_factory=tuple)
    chart: NoticeChart | None = None
