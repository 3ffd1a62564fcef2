"""The workspace's chart colours: the light palette of the end-user widget.

One meaning on both sides: orange (``raises``) raised the model's score for the
explained target (german_credit: the risk of "bad"), blue (``lowers``) lowered it; the
end-user widget colours its bars the same way (see ``service.html.theme``).

The widget's stylesheet (``service.html.theme``) is the source; the workspace does not
import the service, so ``tests/widgets/test_palette.py`` keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["LIGHT"]

LIGHT: Mapping[str, str] = {
    "fg": "#1A1C20",
    "border": "#6B7280",
    "raises": "#B34700",
    "lowers": "#0061A0",
}
