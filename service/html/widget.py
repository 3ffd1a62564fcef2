"""Pure HTML renderers for explanations people read; a product app embeds them as they are.

Every renderer takes an explained instance (anything shaped like ``_types.Explained``,
such as the API's ``InstanceExplanation`` or the engine's result, with its ``notice``)
and returns an HTML string, rendered from ``templates/widget/``. They add no words of
their own: every sentence, heading and caption comes from the notice, which is also
what the ``narrative`` string was written from, so the JSON and the HTML cannot disagree.

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
from typing import Literal

from markupsafe import Markup

from service.html._templates import render
from service.html._types import Explained, Notice
from service.html.theme import Theme

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


def _notice(e: Explained) -> Notice:
    if e.notice is None:
        raise ValueError("the explanation has no notice: it was not narrated")
    return e.notice


def _widget(variant: Variant, e: Explained, ids: str) -> str:
    return render(f"widget/{variant}.html.j2", e=e, notice=_notice(e), ids=ids)


def render_reason_list(e: Explained, *, ids: str = "clarion") -> str:
    """The reasons as an ordered list (or the review message that replaces them)."""
    return _widget("reasons", e, ids)


def render_bar_chart(e: Explained, *, ids: str = "clarion") -> str:
    """The sorted diverging bar chart with its data table (or the review message)."""
    return _widget("chart", e, ids)


def render_counterfactual_card(e: Explained, *, ids: str = "clarion") -> str:
    """What could change this: the options found, or the note that says why there are none."""
    return _widget("counterfactuals", e, ids)


def render_notice(e: Explained, *, ids: str = "clarion") -> str:
    """The full notice: title, outcome, sections in order, the chart after the reasons."""
    return _widget("notice", e, ids)


RENDERERS: Mapping[Variant, Callable[..., str]] = {
    "notice": render_notice,
    "reasons": render_reason_list,
    "chart": render_bar_chart,
    "counterfactuals": render_counterfactual_card,
}


def render_page(
    explanations: Sequence[Explained],
    *,
    variant: Variant = "notice",
    theme: Theme = "auto",
    title: str | None = None,
) -> str:
    """A complete HTML document with one widget per explanation, styled inline."""
    if not explanations:
        raise ValueError("render_page needs at least one explanation")
    first = _notice(explanations[0])
    widget = RENDERERS[variant]
    body = "".join(widget(e, ids=f"clarion-{i}") for i, e in enumerate(explanations))
    # ``body`` is our own templates' output, escaped as it was rendered.
    return render("widget/page.html.j2", first=first, title=title, theme=theme, body=Markup(body))
