"""The workspace's chart colours: the light palette of the end-user widget.

The widget's stylesheet (``service.html.theme``) is the source; the workspace does not
import the service, so ``tests/widgets/test_palette.py`` keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["LIGHT"]

LIGHT: Mapping[str, str] = {
    "fg": "#1A1C20",
    "border": "#6B7280",
    "toward": "#B34700",
    "against": "#0061A0",
}
