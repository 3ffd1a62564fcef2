"""Widgets: pure renderers of explanations for people, self-contained HTML for embedding.

Renderers take an ``InstanceExplanation`` as the API returns it and return HTML; they
never import shap, lime or onnxruntime and never touch the network.
"""

from __future__ import annotations

from widgets.render import (
    CONTENT_SECURITY_POLICY,
    RENDERERS,
    Variant,
    render_bar_chart,
    render_counterfactual_card,
    render_notice,
    render_page,
    render_reason_list,
)
from widgets.theme import PALETTES, Theme, contrast_ratio, relative_luminance, stylesheet

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
