"""Contrast in both themes, computed with the WCAG 2.2 formula from the palette itself."""

from __future__ import annotations

import pytest

from service.html.theme import (
    GRAPHIC_COLOURS,
    PALETTES,
    TEXT_COLOURS,
    contrast_ratio,
    relative_luminance,
    stylesheet,
)


def test_the_contrast_formula_matches_known_values() -> None:
    assert contrast_ratio("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.01)
    assert relative_luminance("#FFFFFF") == pytest.approx(1.0)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_text_reaches_4_5_to_1(theme: str) -> None:
    palette = PALETTES[theme]
    for fg, bg in TEXT_COLOURS:
        ratio = contrast_ratio(palette[fg], palette[bg])
        assert ratio >= 4.5, (theme, fg, bg, round(ratio, 2))


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_graphics_reach_3_to_1(theme: str) -> None:
    palette = PALETTES[theme]
    for fg, bg in GRAPHIC_COLOURS:
        ratio = contrast_ratio(palette[fg], palette[bg])
        assert ratio >= 3.0, (theme, fg, bg, round(ratio, 2))


def test_the_stylesheet_uses_every_pair_it_is_checked_for() -> None:
    css = stylesheet("auto")
    for theme in ("light", "dark"):
        for value in PALETTES[theme].values():
            assert value in css
    # The colours the CSS paints with are only these variables.
    for name in ("raises", "lowers", "fg", "muted", "bg", "surface", "review", "focus"):
        assert f"var(--c-{name})" in css


def test_both_palettes_define_the_same_roles() -> None:
    assert set(PALETTES["light"]) == set(PALETTES["dark"])
