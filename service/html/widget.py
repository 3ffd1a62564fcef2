"""Pure HTML renderers for explanations people read; a product app embeds them as they are.

Every renderer takes an ``InstanceExplanation`` (as the API returns it, with its
``notice``) and returns an HTML string. They add no words of their own: every
sentence, heading and caption comes from the notice, which is also what the
``narrative`` string was written from, so the JSON and the HTML cannot disagree.

Variants: ``render_reason_list``, ``render_bar_chart``, ``render_counterfactual_card``
and ``render_notice`` return fragments (style them with ``theme.stylesheet`` or
use ``render_page``); ``render_page`` returns a complete, self-contained document:
inline CSS only, no script, no font, image or other external reference, so that it
works under ``CONTENT_SECURITY_POLICY`` and without a network.

Accessibility (WCAG 2.2 AA): headings in order, the reason list as an ordered list,
direction in words (badges and colours only repeat it), the chart as ``role="img"``
with a title, a takeaway description and a data table in a keyboard-reachable
``<details>``, visible focus outlines, contrast checked in both themes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Literal

from service.html._svg import bar_chart_svg
from service.html.theme import Theme, stylesheet

if TYPE_CHECKING:
    # Only for types: at run time the renderers read attributes, so that importing
    # widgets imports nothing of the service (which itself serves these widgets).
    from service.wire.schemas import InstanceExplanation, Notice, NoticeSection

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "RENDERERS",
    "Variant",
    "render_bar_chart",
    "render_counterfactual_card",
    "render_notice",
    "render_page",
    "render_reason_list",
]

Variant = Literal["notice", "reasons", "chart", "counterfactuals"]

# What an HTML response needs and nothing more (sent as a header by the API).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)


def _notice(e: InstanceExplanation) -> Notice:
    if e.notice is None:
        raise ValueError("the explanation has no notice: it was not narrated")
    return e.notice


def _section(notice: Notice, kind: str) -> NoticeSection | None:
    return next((s for s in notice.sections if s.kind == kind), None)


def _heading(text: str | None, level: int) -> str:
    return f"<h{level}>{escape(text)}</h{level}>" if text else ""


def _paragraphs(paragraphs: Sequence[str], css: str = "") -> str:
    attr = f' class="{css}"' if css else ""
    return "".join(f"<p{attr}>{escape(p)}</p>" for p in paragraphs if p)


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _review(section: NoticeSection, level: int) -> str:
    return (
        f'<section class="review" role="status">{_heading(section.heading, level)}'
        f"{_paragraphs(section.paragraphs)}</section>"
    )


def _reasons(e: InstanceExplanation, section: NoticeSection, level: int) -> str:
    items = []
    for i, text in enumerate(section.items):
        reason = e.reasons[i] if i < len(e.reasons) else None
        if reason is not None:
            side = "toward" if reason.contribution > 0 else "against"
            arrow = "\u25b2" if reason.direction == "raises" else "\u25bc"
            badge = f'<span class="badge {side}" aria-hidden="true">{arrow}</span>'
        else:
            badge = ""
        items.append(f"<li>{badge}<span>{escape(text)}</span></li>")
    listing = f'<ol class="reasons">{"".join(items)}</ol>' if items else ""
    return (
        f'<section class="reasons">{_heading(section.heading, level)}{listing}'
        f"{_paragraphs(section.paragraphs)}</section>"
    )


def _counterfactuals(
    heading: str | None, items: Sequence[str], paragraphs: Sequence[str], level: int
) -> str:
    listed = "".join(
        f'<li><span class="badge option" aria-hidden="true">{i}</span>'
        f"<span>{escape(text)}</span></li>"
        for i, text in enumerate(items, 1)
    )
    listing = f'<ul class="options">{listed}</ul>' if listed else ""
    return (
        f'<section class="counterfactuals">{_heading(heading, level)}{listing}'
        f"{_paragraphs(paragraphs, 'note')}</section>"
    )


def _generic(section: NoticeSection, level: int) -> str:
    items = "".join(f"<li>{escape(i)}</li>" for i in section.items)
    listing = f"<ul>{items}</ul>" if items else ""
    table = section.table
    rendered = _table(table.columns, table.rows) if table is not None else ""
    css = "scope" if section.kind == "scope" else ""
    return (
        f'<section class="{escape(section.kind)}">{_heading(section.heading, level)}'
        f"{_paragraphs(section.paragraphs, css)}{listing}{rendered}</section>"
    )


def _chart(notice: Notice, ids: str) -> str:
    chart = notice.chart
    if chart is None:
        return ""
    rows = [[b.label, b.text, *([b.shown] if chart.show_values else [])] for b in chart.bars]
    table = _table(chart.columns, rows)
    return (
        f'<figure class="chart" tabindex="0" aria-labelledby="{ids}-chart-caption">'
        f'<figcaption id="{ids}-chart-caption">{escape(chart.title)}</figcaption>'
        f"{bar_chart_svg(chart, ids)}"
        f"<details><summary>{escape(chart.table_caption)}</summary>{table}</details>"
        "</figure>"
    )


def _article(notice: Notice, ids: str, body: str) -> str:
    return (
        f'<article class="notice" lang="{escape(notice.locale)}" '
        f'data-persona="{escape(notice.persona)}" '
        f'data-template-version="{escape(notice.template_version)}" id="{ids}">{body}</article>'
    )


def render_reason_list(e: InstanceExplanation, *, ids: str = "clarion") -> str:
    """The reasons as an ordered list (or the review message that replaces them)."""
    notice = _notice(e)
    review = _section(notice, "review")
    if review is not None and notice.persona == "end_user":
        return _article(notice, ids, _review(review, 2))
    section = _section(notice, "reasons")
    return _article(notice, ids, _reasons(e, section, 2) if section else "")


def render_bar_chart(e: InstanceExplanation, *, ids: str = "clarion") -> str:
    """The sorted diverging bar chart with its data table (or the review message)."""
    notice = _notice(e)
    review = _section(notice, "review")
    if notice.chart is None and review is not None:
        return _article(notice, ids, _review(review, 2))
    return _article(notice, ids, _chart(notice, ids))


def render_counterfactual_card(e: InstanceExplanation, *, ids: str = "clarion") -> str:
    """What could change this: the options found, or the note that says why there are none."""
    notice = _notice(e)
    review = _section(notice, "review")
    if review is not None and notice.persona == "end_user":
        return _article(notice, ids, _review(review, 2))
    section = _section(notice, "counterfactuals")
    if section is None:  # none to show (or none asked for): the note says why
        body = _counterfactuals(None, [], [e.counterfactual_note or ""], 2)
    else:
        body = _counterfactuals(section.heading, section.items, section.paragraphs, 2)
    return _article(notice, ids, body)


def render_notice(e: InstanceExplanation, *, ids: str = "clarion") -> str:
    """The full notice: title, outcome, sections in order, the chart after the reasons."""
    notice = _notice(e)
    parts = [f'<h1 id="{ids}-title">{escape(notice.title)}</h1>']
    parts.append(f'<p class="lead">{escape(notice.lead)}</p>')
    for section in notice.sections:
        if section.kind == "review":
            parts.append(_review(section, 2))
        elif section.kind == "reasons":
            parts.append(_reasons(e, section, 2))
            parts.append(_chart(notice, ids))
        elif section.kind == "counterfactuals":
            parts.append(_counterfactuals(section.heading, section.items, section.paragraphs, 2))
        else:
            parts.append(_generic(section, 2))
    return _article(notice, ids, "".join(parts))


RENDERERS: Mapping[Variant, Callable[..., str]] = {
    "notice": render_notice,
    "reasons": render_reason_list,
    "chart": render_bar_chart,
    "counterfactuals": render_counterfactual_card,
}


def render_page(
    explanations: Sequence[InstanceExplanation],
    *,
    variant: Variant = "notice",
    theme: Theme = "auto",
    title: str | None = None,
) -> str:
    """A complete HTML document with one widget per explanation, styled inline."""
    if not explanations:
        raise ValueError("render_page needs at least one explanation")
    first = _notice(explanations[0])
    render = RENDERERS[variant]
    body = "".join(render(e, ids=f"clarion-{i}") for i, e in enumerate(explanations))
    return (
        "<!doctype html>"
        f'<html lang="{escape(first.locale)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title or first.title)}</title>"
        f"<style>{stylesheet(theme, page=True)}</style></head>"
        f'<body><main class="clarion" data-theme="{escape(theme)}">{body}</main></body></html>'
    )
