"""The sorted, diverging bar chart as inline SVG (no script, no external reference).

Bars grow right from a zero line when a factor pushed toward the result (regression:
raised the estimate) and left when it pushed against it; each bar also ends in a sign
or a signed value, so the sign never rests on colour. The SVG is ``role="img"`` with
a ``<title>`` and a ``<desc>`` holding the takeaway; the data table beside it (in
``render``) is the full text alternative.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # widgets import nothing of the service at run time (see render)
    from service.wire.schemas import NoticeChart

__all__ = ["bar_chart_svg"]

WIDTH = 680
LABEL_RIGHT = 222  # labels end here, right-aligned
PLOT_LEFT, PLOT_RIGHT = 236, WIDTH - 8
ROW, BAR, TOP = 30, 18, 40
MAX_LABEL = 32


def _clip(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1].rstrip() + "\u2026"


def bar_chart_svg(chart: NoticeChart, ids: str) -> str:
    """SVG markup for ``chart``; ``ids`` prefixes element ids (unique per page)."""
    bars = chart.bars
    centre = (PLOT_LEFT + PLOT_RIGHT) / 2
    room = 64 if chart.show_values else 22  # space kept for the text at a bar's end
    half = (PLOT_RIGHT - PLOT_LEFT) / 2 - room
    biggest = max((abs(b.value) for b in bars), default=1.0) or 1.0
    height = TOP + ROW * len(bars) + 8
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{ids}-svg-title {ids}-svg-desc">',
        f'<title id="{ids}-svg-title">{escape(chart.title)}</title>',
        f'<desc id="{ids}-svg-desc">{escape(chart.alt)}</desc>',
        f'<text class="axis" x="{centre - 8:.0f}" y="18" text-anchor="end">'
        f"\u2190 {escape(chart.against)}</text>",
        f'<text class="axis" x="{centre + 8:.0f}" y="18" text-anchor="start">'
        f"{escape(chart.toward)} \u2192</text>",
    ]
    for i, b in enumerate(bars):
        y = TOP + i * ROW
        width = max(2.0, abs(b.value) / biggest * half)
        toward = b.value > 0
        x = centre if toward else centre - width
        side = "toward" if toward else "against"
        mark = (
            b.shown.replace("-", "\u2212") if chart.show_values else ("+" if toward else "\u2212")
        )
        end = centre + width + 6 if toward else centre - width - 6
        anchor = "start" if toward else "end"
        parts += [
            f'<text x="{LABEL_RIGHT}" y="{y + BAR / 2 + 4:.0f}" text-anchor="end">'
            f"{escape(_clip(b.label))}</text>",
            f'<rect class="bar {side}" x="{x:.1f}" y="{y}" width="{width:.1f}" height="{BAR}" '
            f'rx="2"><title>{escape(b.label)}: {escape(b.text)}</title></rect>',
            f'<text x="{end:.1f}" y="{y + BAR / 2 + 4:.0f}" text-anchor="{anchor}">'
            f"{escape(mark)}</text>",
        ]
    parts.append(
        f'<line class="zero" x1="{centre:.0f}" y1="{TOP - 8}" x2="{centre:.0f}" y2="{height - 4}"/>'
    )
    parts.append("</svg>")
    return "".join(parts)
