"""The workspace's chart colours are the widget's light palette."""

from __future__ import annotations

from service.html.theme import PALETTES
from widgets.palette import LIGHT


def test_workspace_colours_are_the_widget_palette() -> None:
    assert {name: PALETTES["light"][name] for name in LIGHT} == dict(LIGHT)
