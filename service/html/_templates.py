"""The Jinja2 environment that renders ``service/html/templates/`` (built on first use).

Autoescape is on and every ``{{ value }}`` is escaped the way ``html.escape`` does it
(``&#x27;`` and ``&quot;`` for quotes, where markupsafe would write ``&#39;`` and
``&#34;``), so the pages keep the bytes their golden files pin; values that are already
markup (a macro's output, the stylesheet) pass through. An undefined name is an error,
never an empty string.

Templates (``*.j2``) are written indented, one element a line, and served compact: a
line break in a template, with the indentation around it, is dropped where it touches a
tag (HTML or Jinja) on either side, and reads as one space inside text or a tag's
attribute list. So ``<ul>⏎  <li>`` renders as ``<ul><li>``, and a start tag may wrap its
attributes over several lines. Other files (``casepacket.css``) are included verbatim.
Only template text is compacted, never a value rendered into it.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any, TypeVar

from jinja2 import Environment, PackageLoader, StrictUndefined
from jinja2.ext import Extension
from jinja2.lexer import TOKEN_DATA, Token, TokenStream
from markupsafe import Markup

from service.html._svg import chart_layout, chart_rows
from service.html._types import Notice, NoticeSection
from service.html.theme import Theme, stylesheet

__all__ = ["compact", "environment", "render"]

T = TypeVar("T")
U = TypeVar("U")

_BREAK = re.compile(r"[ \t]*(?:\n[ \t]*)+")


def compact(text: str) -> str:
    """``text`` with its line breaks dropped next to a tag, or made one space in text."""

    def join(match: re.Match[str]) -> str:
        before = text[match.start() - 1] if match.start() > 0 else ">"
        after = text[match.end()] if match.end() < len(text) else "<"
        return "" if before == ">" or after == "<" else " "

    return _BREAK.sub(join, text)


class _Compact(Extension):
    """Compacts the literal text of ``*.j2`` templates as they are parsed (see ``compact``)."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        squeeze = (stream.name or "").endswith(".j2")
        for token in stream:
            if squeeze and token.type == TOKEN_DATA:
                # Each data token sits between two template tags (or an end of the file),
                # and ``compact`` treats both ends as tags.
                token = Token(token.lineno, token.type, compact(token.value))
            yield token


def _escape(value: object) -> object:
    if hasattr(value, "__html__"):
        return value
    return Markup(html.escape(str(value)))


def _number(value: float, spec: str) -> str:
    """``value`` through a format spec: ``{{ x|number(".1f") }}``."""
    return format(value, spec)


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def _is_json_container(value: object) -> bool:
    return isinstance(value, dict | list)


def _section(notice: Notice, kind: str) -> NoticeSection | None:
    """The notice's first section of ``kind``, or none."""
    return next((s for s in notice.sections if s.kind == kind), None)


def _paired(items: Sequence[T], others: Sequence[U]) -> list[tuple[T, U | None]]:
    """Each item with the other at its position (none where ``others`` is shorter)."""
    return [(item, others[i] if i < len(others) else None) for i, item in enumerate(items)]


def _stylesheet(theme: Theme = "auto", page: bool = False) -> Markup:
    return Markup(stylesheet(theme, page=page))  # our own CSS, built from the palettes


@cache
def environment() -> Environment:
    """The one environment for ``service.html``; templates load from the package's data."""
    env = Environment(
        loader=PackageLoader("service.html", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        finalize=_escape,
        keep_trailing_newline=True,  # included CSS keeps its bytes; ``*.j2`` end compacted
        extensions=[_Compact],
        auto_reload=False,
    )
    env.filters.update(json=_json, number=_number, paired=_paired, section=_section)
    env.tests["json_container"] = _is_json_container
    env.globals.update(chart_layout=chart_layout, chart_rows=chart_rows, stylesheet=_stylesheet)
    return env


def render(name: str, /, **context: Any) -> str:
    """The template ``name`` (relative to ``templates/``) rendered with ``context``."""
    return environment().get_template(name).render(**context)
