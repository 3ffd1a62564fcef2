"""HTML the service serves: the end-user widget page and the reviewer's case packet.

Self-contained documents (inline CSS, no script, no external reference) that work under
``CONTENT_SECURITY_POLICY``; the workspace shows these bytes as the API serves them.
Copy and layout live in Jinja2 templates (``templates/``, shipped as package data); the
renderers read their inputs by attribute only (``_types``), so wire models and the
engine's dataclasses render alike."""

from __future__ import annotations

from service.html.theme import PALETTES, Theme, contrast_ratio, relative_luminance, stylesheet
from service.html.widget import (
    CONTENT_SECURITY_POLICY,
    RENDERERS,
    Variant,
    render_bar_chart,
    render_counterfactual_card,
    render_notice,
    render_page,
    render_reason_list,
)

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "PALETTES",
    "RENDERERS",
    "Theme",
    "Variant",
    "contrast_ratio",
    "relative_luminance",
    "render_bar_chart",
    "render_counterfactual_card",
    "render_notice",
    "render_page",
    "render_reason_list",
    "stylesheet",
]
