"""Where the sorted, diverging bar chart's marks go; ``widget/_chart.svg.j2`` draws them.

Bars grow right from a zero line when a factor pushed toward the result (regression:
raised the estimate) and left when it pushed against it; each bar also ends in a sign
or a signed value, so the sign never rests on colour. The SVG is ``role="img"`` with
a ``<title>`` and a ``<desc>`` holding the takeaway; the data table beside it
(``chart_rows``) is the full text alternative.

Coordinates are in SVG user units; the template formats them (``number(".1f")``).
"""

from __future__ import annotations

from dataclasses import dataclass

from service.html._types import ChartBar, NoticeChart

__all__ = ["BarLayout", "ChartLayout", "chart_layout", "chart_rows"]

WIDTH = 680
LABEL_RIGHT = 222  # labels end here, right-aligned
PLOT_LEFT, PLOT_RIGHT = 236, WIDTH - 8
ROW, BAR, TOP = 30, 18, 40
MAX_LABEL = 32


@dataclass(frozen=True)
class BarLayout:
    """One bar: its label, rectangle and end mark."""

    bar: ChartBar
    label: str  # clipped to MAX_LABEL characters (the bar's <title> has it whole)
    y: int  # top of the rectangle
    text_y: float  # baseline of the label and the end mark
    x: float
    width: float
    toward: bool  # pushed toward the result: grows right, mark after its end
    mark: str  # the signed value (analysts) or just the sign
    end: float  # where the mark is anchored


@dataclass(frozen=True)
class ChartLayout:
    width: int
    height: int
    label_right: int
    bar_height: int
    centre: float  # the zero line
    against_x: float  # the axis captions, either side of the zero line
    toward_x: float
    zero_top: int
    zero_bottom: int
    bars: tuple[BarLayout, ...]


def _clip(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1].rstrip() + "\u2026"


def chart_layout(chart: NoticeChart) -> ChartLayout:
    """The chart's geometry: one row per bar, scaled to the largest magnitude."""
    bars = chart.bars
    centre = (PLOT_LEFT + PLOT_RIGHT) / 2
    room = 64 if chart.show_values else 22  # space kept for the text at a bar's end
    half = (PLOT_RIGHT - PLOT_LEFT) / 2 - room
    biggest = max((abs(b.value) for b in bars), default=1.0) or 1.0
    height = TOP + ROW * len(bars) + 8
    laid = []
    for i, b in enumerate(bars):
        y = TOP + i * ROW
        width = max(2.0, abs(b.value) / biggest * half)
        toward = b.value > 0
        mark = (
            b.shown.replace("-", "\u2212") if chart.show_values else ("+" if toward else "\u2212")
        )
        laid.append(
            BarLayout(
                bar=b,
                label=_clip(b.label),
                y=y,
                text_y=y + BAR / 2 + 4,
                x=centre if toward else centre - width,
                width=width,
                toward=toward,
                mark=mark,
                end=centre + width + 6 if toward else centre - width - 6,
            )
        )
    return ChartLayout(
        width=WIDTH,
        height=height,
        label_right=LABEL_RIGHT,
        bar_height=BAR,
        centre=centre,
        against_x=centre - 8,
        toward_x=centre + 8,
        zero_top=TOP - 8,
        zero_bottom=height - 4,
        bars=tuple(laid),
    )


def chart_rows(chart: NoticeChart) -> list[list[str]]:
    """The data table's rows, under ``chart.columns``: label, words, and the value if shown."""
    return [[b.label, b.text, *([b.shown] if chart.show_values else [])] for b in chart.bars]
