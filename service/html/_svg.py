"""Where the sorted, diverging bar chart's marks go; ``widget/_chart.svg.j2`` draws them.

Bars grow right from a zero line when a factor pushed toward the result (regression:
raised the estimate) and left when it pushed against it; each bar also ends in a sign
(analysts: its signed value, written at the end of its label line), so the sign never
rests on colour. Colour says whether the factor raised or lowered the model's score
(``service.html.theme``), the same meaning as in the workspace's analyst charts.

Responsive by construction: the SVG has no ``viewBox``, so nothing is scaled and text
keeps its CSS size (``theme.CHART_TEXT_PX``) at any width, from a 320 px phone to a
desktop. Across, every position is a percentage of the chart's width; down, pixels.
Each label sits on its own lines above its bar, wrapped at ``WRAP`` characters (a word
longer than a line is cut with an ellipsis; the bar's ``<title>``, the ``<desc>`` and
the data table beside the chart hold every label whole), so no label is clipped. The
zero line sits where the two sides' largest bars put it (one scale for both sides): at
the edge when every bar points one way, near it when one side barely counts, so no
half of the plot stays empty.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from service.html._types import ChartBar, NoticeChart

__all__ = ["BarLayout", "ChartLayout", "chart_layout", "chart_rows", "wrap_label"]

WRAP = 30  # characters per label line: about 220 px of 14 px text, a 320 px phone's room
MAX_LINES = 3
LINE, BAR, GAP, TOP = 18, 16, 12, 4  # px: a label line, a bar, between rows, above the first
ROOM = 8.0  # % of the width kept past the longest bar for its sign


@dataclass(frozen=True)
class BarLayout:
    """One bar: its label lines, rectangle (x and width in % of the chart) and end mark."""

    bar: ChartBar
    lines: tuple[str, ...]  # the label, wrapped (the bar's <title> has it whole)
    label_y: tuple[int, ...]  # baseline of each label line, px
    y: int  # top of the rectangle, px
    x: float  # %
    width: float  # %
    toward: bool  # pushed toward the result: grows right, mark after its end
    raises: bool  # raised the model's score: the colour
    mark: str  # the sign (end users) or the signed value (analysts)
    end: float  # % where the sign is anchored (end users)
    mark_y: int  # baseline of the sign, px


@dataclass(frozen=True)
class ChartLayout:
    height: int  # px
    centre: float  # % the zero line
    show_toward: bool  # which axis captions apply (both unless every bar points one way)
    show_against: bool
    values_on_labels: bool  # analysts: the signed value ends the first label line
    bars: tuple[BarLayout, ...]


def wrap_label(label: str, width: int = WRAP, max_lines: int = MAX_LINES) -> tuple[str, ...]:
    """The label on at most ``max_lines`` lines of ``width`` characters; what does not fit
    ends in an ellipsis (a word longer than a line is cut, never pushed past the edge)."""
    lines = textwrap.wrap(label, width, break_long_words=False, break_on_hyphens=True) or [""]
    lines = [line if len(line) <= width else line[: width - 1] + "\u2026" for line in lines]
    if len(lines) > max_lines:
        kept = lines[:max_lines]
        kept[-1] = kept[-1][: width - 1].rstrip() + "\u2026"
        return tuple(kept)
    return tuple(lines)


def chart_layout(chart: NoticeChart) -> ChartLayout:
    """The chart's geometry: one row per bar, scaled to the largest magnitude."""
    bars = chart.bars
    toward_any = any(b.value > 0 for b in bars)
    against_any = any(b.value <= 0 for b in bars)
    most_toward = max((b.value for b in bars if b.value > 0), default=0.0)
    most_against = max((-b.value for b in bars if b.value <= 0), default=0.0)
    left = ROOM if against_any else 0.5  # room for the signs, only on a side with bars
    right = ROOM if toward_any else 0.5
    span = most_toward + most_against or 1.0
    scale = (100.0 - left - right) / span  # % of the width per unit of contribution
    centre = left + most_against * scale if toward_any else 100.0 - right
    width = WRAP - 8 if chart.show_values else WRAP  # analysts: room for the value
    laid = []
    y = TOP
    for b in bars:
        lines = wrap_label(b.label, width)
        label_y = tuple(y + LINE * (i + 1) - 4 for i in range(len(lines)))
        top = y + LINE * len(lines) + 2
        size = max(0.4, abs(b.value) * scale)
        toward = b.value > 0
        laid.append(
            BarLayout(
                bar=b,
                lines=lines,
                label_y=label_y,
                y=top,
                x=centre if toward else centre - size,
                width=size,
                toward=toward,
                raises=toward == chart.toward_raises,
                mark=(
                    b.shown.replace("-", "\u2212")
                    if chart.show_values
                    else ("+" if toward else "\u2212")
                ),
                end=centre + size if toward else centre - size,
                mark_y=top + BAR - 3,
            )
        )
        y = top + BAR + GAP
    return ChartLayout(
        height=y,
        centre=centre,
        show_toward=toward_any or not bars,
        show_against=against_any or not bars,
        values_on_labels=chart.show_values,
        bars=tuple(laid),
    )


def chart_rows(chart: NoticeChart) -> list[list[str]]:
    """The data table's rows, under ``chart.columns``: label, words, and the value if shown."""
    return [[b.label, b.text, *([b.shown] if chart.show_values else [])] for b in chart.bars]
