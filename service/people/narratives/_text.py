"""The ``narrative`` string: a notice written out as plain text."""

from __future__ import annotations

from service.people.notice import Notice, NoticeSection

__all__ = ["render_text"]


def _section(section: NoticeSection) -> list[str]:
    lines = [section.heading] if section.heading else []
    numbered = section.kind == "reasons"
    lines += [
        f"{i}. {item}" if numbered else f"- {item}" for i, item in enumerate(section.items, 1)
    ]
    lines += [p for p in section.paragraphs if p]
    if section.table is not None:
        lines.append(" | ".join(section.table.columns))
        lines += [" | ".join(row) for row in section.table.rows]
    return lines


def render_text(notice: Notice) -> str:
    """Title, lead and sections, separated by blank lines; reasons numbered, other lists dashed.

    The chart is left out: its text equivalent is the reason list (and, for
    analysts, the contributions printed with each reason).
    """
    blocks = [[notice.title], [notice.lead]] + [_section(s) for s in notice.sections]
    return "\n\n".join("\n".join(b) for b in blocks if b)
