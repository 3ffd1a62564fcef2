"""Widget themes: two palettes, the stylesheet built from them, and the WCAG contrast maths.

The palettes are data so that tests can compute every contrast ratio that matters
(WCAG 2.2: 4.5:1 for text, 3:1 for graphical objects such as bars and focus rings)
in both themes. The diverging pair is orange against blue (Okabe-Ito hues, darkened
for the light theme until they also pass as text colours): it stays distinct under
the common colour-vision deficiencies, and the sign of a contribution is never shown
by colour alone anyway (bar side, a +/- badge and words carry it too).

What the colours mean, everywhere (this widget, the case packet and the workspace's
analyst charts, whose palette ``widgets/palette.py`` copies): **orange (``raises``)
raised the model's score** (a binary classifier's positive class, e.g. german_credit's
risk of "bad"; a regressor's estimate), **blue (``lowers``) lowered it**. The end-user
chart places bars toward or against the person's result, so an approved applicant's
bars toward approval are blue (they lowered the estimated risk), as in the analyst view.

The stylesheet is scoped to ``.clarion`` so that an embedding page is not restyled,
uses CSS custom properties for the palette, follows ``prefers-color-scheme`` when the
theme is ``auto`` and pins a palette for ``light`` or ``dark``. It references nothing
outside itself: no fonts, images, ``url()`` or ``@import``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

__all__ = [
    "CHART_TEXT_PX",
    "GRAPHIC_COLOURS",
    "PALETTES",
    "TEXT_COLOURS",
    "Theme",
    "contrast_ratio",
    "relative_luminance",
    "stylesheet",
]

Theme = Literal["auto", "light", "dark"]
# The end-user chart's text size in CSS px: the SVG is never scaled, so this is what a
# reader gets at every width (at least 12 px is the floor a browser test holds it to).
CHART_TEXT_PX = 14

PALETTES: Mapping[str, Mapping[str, str]] = {
    "light": {
        "bg": "#FFFFFF",
        "surface": "#F4F5F7",
        "review": "#FFF4E0",
        "fg": "#1A1C20",
        "muted": "#4A5160",
        "border": "#6B7280",
        "raises": "#B34700",
        "lowers": "#0061A0",
        "on_bar": "#FFFFFF",
        "focus": "#1F4FD1",
    },
    "dark": {
        "bg": "#15171B",
        "surface": "#1F2228",
        "review": "#2E2414",
        "fg": "#ECEEF2",
        "muted": "#B4BAC5",
        "border": "#8B93A1",
        "raises": "#E69F00",
        "lowers": "#56B4E9",
        "on_bar": "#15171B",
        "focus": "#8AB4F8",
    },
}
# Which colours are used for text, on which backgrounds (each pair must reach 4.5:1) ...
TEXT_COLOURS: tuple[tuple[str, str], ...] = (
    ("fg", "bg"),
    ("fg", "surface"),
    ("fg", "review"),
    ("muted", "bg"),
    ("muted", "surface"),
    ("raises", "bg"),
    ("lowers", "bg"),
    ("on_bar", "raises"),
    ("on_bar", "lowers"),
)
# ... and which are graphical objects against which backgrounds (3:1).
GRAPHIC_COLOURS: tuple[tuple[str, str], ...] = (
    ("raises", "bg"),
    ("lowers", "bg"),
    ("raises", "surface"),
    ("lowers", "surface"),
    ("border", "bg"),
    ("border", "surface"),
    ("focus", "bg"),
    ("focus", "surface"),
    ("fg", "bg"),  # the zero line
)


def relative_luminance(colour: str) -> float:
    """WCAG 2.2 relative luminance of an sRGB ``#RRGGBB`` colour."""
    value = colour.lstrip("#")
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio (L1 + 0.05) / (L2 + 0.05), from 1 to 21."""
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _variables(scheme: str) -> str:
    palette = PALETTES[scheme]
    names = " ".join(f"--c-{name.replace('_', '-')}: {value};" for name, value in palette.items())
    return f"color-scheme: {scheme}; {names}"


_RULES = """
.clarion { background: var(--c-bg); color: var(--c-fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; padding: 1rem 1.25rem; max-width: 42rem; border-radius: 8px;
  border: 1px solid var(--c-border); }
.clarion * { box-sizing: border-box; }
.clarion h1, .clarion h2, .clarion h3 { line-height: 1.25; margin: 1.25rem 0 0.5rem; }
.clarion h1 { font-size: 1.375rem; margin-top: 0; }
.clarion h2 { font-size: 1.125rem; }
.clarion h3 { font-size: 1rem; }
.clarion p, .clarion ul, .clarion ol { margin: 0.5rem 0; }
.clarion .lead { font-size: 1.0625rem; }
.clarion .muted, .clarion .scope, .clarion .note { color: var(--c-muted); }
.clarion ol.reasons, .clarion ul.options { padding-left: 0; list-style: none; }
.clarion ol.reasons li, .clarion ul.options li { display: flex; gap: 0.6rem;
  align-items: flex-start; margin: 0.4rem 0; }
.clarion .badge { flex: none; display: inline-block; min-width: 1.5rem; text-align: center;
  border-radius: 4px; font-weight: 700; line-height: 1.5rem; color: var(--c-on-bar); }
.clarion .badge.raises { background: var(--c-raises); }
.clarion .badge.lowers { background: var(--c-lowers); }
.clarion .badge.option { background: var(--c-fg); color: var(--c-bg); }
.clarion .review { background: var(--c-review); border: 2px solid var(--c-border);
  border-radius: 6px; padding: 0.75rem 1rem; }
.clarion .review h2 { margin-top: 0; }
.clarion figure { margin: 1rem 0; padding: 0.5rem; border-radius: 6px;
  background: var(--c-surface); }
.clarion figcaption { font-weight: 600; }
.clarion svg.bars { width: 100%; display: block; overflow: visible; }
.clarion svg text { fill: var(--c-fg); font: __CHART_PX__px/1 system-ui, -apple-system, "Segoe UI",
  Roboto, Arial, sans-serif; }
.clarion .chart-key { display: flex; flex-wrap: wrap; justify-content: space-between;
  gap: 0 0.75rem; margin: 0.25rem 0; color: var(--c-muted); font-size: 0.875rem; }
.clarion .chart-key.against-only { justify-content: flex-end; }
.clarion svg .bar.raises { fill: var(--c-raises); }
.clarion svg .bar.lowers { fill: var(--c-lowers); }
.clarion svg .zero { stroke: var(--c-fg); stroke-width: 2; }
.clarion table { border-collapse: collapse; width: 100%; margin: 0.5rem 0; }
.clarion th, .clarion td { text-align: left; padding: 0.3rem 0.5rem;
  border-bottom: 1px solid var(--c-border); vertical-align: top;
  overflow-wrap: anywhere; }  /* a phone: break a long value rather than overflow */
.clarion caption { text-align: left; font-weight: 600; padding: 0.25rem 0; }
.clarion details { margin: 0.5rem 0; }
.clarion summary { cursor: pointer; font-weight: 600; }
.clarion summary:focus-visible, .clarion figure:focus-visible,
.clarion [tabindex]:focus-visible { outline: 3px solid var(--c-focus); outline-offset: 2px; }
.clarion .counterfactuals { border: 1px solid var(--c-border); border-radius: 6px;
  padding: 0.25rem 1rem; background: var(--c-surface); }
.clarion article + article { margin-top: 2rem; }
"""


def stylesheet(theme: Theme = "auto", *, page: bool = False) -> str:
    """The CSS for widgets; ``auto`` follows the reader's colour-scheme preference.

    ``page``: also colour the document around the widget (for ``render_page``).
    """
    light, dark = _variables("light"), _variables("dark")
    scope = ":root, .clarion" if page else ".clarion"
    if theme == "light":
        palette = f"{scope} {{ {light} }}"
    elif theme == "dark":
        palette = f"{scope} {{ {dark} }}"
    else:
        palette = (
            f"{scope} {{ {light} }}\n@media (prefers-color-scheme: dark) {{ {scope} {{ {dark} }} }}"
        )
    around = "\nbody { margin: 0; padding: 1rem; background: var(--c-bg); }" if page else ""
    return palette + around + _RULES.replace("__CHART_PX__", str(CHART_TEXT_PX))
