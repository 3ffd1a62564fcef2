"""The widgets in a real browser (Debian Chromium through Playwright), with no network.

Every request the page makes is routed: anything but a ``data:`` URL fails the test.
The pages are checked for what only a browser can show: the palette really applies
in both themes (computed colours, contrast), the chart has a size, the keyboard
reaches the chart and its data table, and a screenshot of each variant is taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.html import RENDERERS, render_page
from service.html.theme import PALETTES, contrast_ratio
from tests.service.people.narratives.cases import CASES, narrated

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "install Debian's chromium (apt-get install -y chromium)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


def _open(browser: Any, html: str, scheme: str = "light") -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 760, "height": 900}, color_scheme=scheme)
    blocked: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("data:"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.set_content(html, wait_until="load")
    return page, blocked


def _rgb(css: str) -> str:
    r, g, b = (int(v) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    return f"#{r:02X}{g:02X}{b:02X}"


@pytest.mark.parametrize("variant", list(RENDERERS))
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_variant_renders_offline_in_both_themes(
    browser: Any, tmp_path: Path, variant: str, theme: str
) -> None:
    e = narrated(CASES["hiring"], counterfactuals=3)
    page, blocked = _open(browser, render_page([e], variant=variant, theme=theme))  # type: ignore[arg-type]
    try:
        assert blocked == []
        root = page.locator("main.clarion")
        colours = root.evaluate(
            "el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]"
        )
        fg, bg = (_rgb(c) for c in colours)
        assert (fg, bg) == (PALETTES[theme]["fg"], PALETTES[theme]["bg"])
        assert contrast_ratio(fg, bg) >= 4.5
        if variant in ("notice", "chart"):
            box = page.locator("svg[role='img']").bounding_box()
            assert box is not None
            assert box["width"] > 300
            for effect in ("raises", "lowers"):  # the hiring case's bars lowered "advance"
                bars = page.locator(f"rect.bar.{effect}")
                if bars.count():
                    fill = _rgb(bars.first.evaluate("el => getComputedStyle(el).fill"))
                    assert fill == PALETTES[theme][effect]
        page.screenshot(path=str(tmp_path / f"{variant}-{theme}.png"), full_page=True)
        assert (tmp_path / f"{variant}-{theme}.png").stat().st_size > 1000
    finally:
        page.close()


# Each chart text's computed font size, its box, and the chart's box, in CSS px.
_MEASURE = """svg => [...svg.querySelectorAll('text')].map(t => {
  const r = t.getBoundingClientRect(), s = svg.getBoundingClientRect();
  return {text: t.textContent, size: parseFloat(getComputedStyle(t).fontSize),
          height: r.height, left: r.left - s.left, right: s.right - r.right};
})"""


@pytest.mark.parametrize("width", [320, 375, 1024])
@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("persona", ["end_user", "analyst"])
def test_chart_text_is_readable_and_never_clipped_from_phone_to_desktop(
    browser: Any, width: int, locale: str, persona: str
) -> None:
    # Issue 16, defect 3: the chart's 13-unit text in a 680-unit viewBox measured about
    # 7 px in the preview column and 5-6 px on a 375 px phone; German labels were clipped.
    for case in ("credit", "hiring", "health_regression"):
        e = narrated(CASES[case], persona, locale)  # type: ignore[arg-type]
        page = browser.new_page(viewport={"width": width, "height": 900})
        try:
            page.set_content(render_page([e], variant="notice", theme="light"))
            texts = page.locator("svg.bars").evaluate(_MEASURE)
            assert texts, "the chart drew no text"
            for t in texts:
                assert t["size"] >= 12, (case, width, t)
                assert t["height"] >= 12, (case, width, t)
                assert min(t["left"], t["right"]) >= -0.5, (case, width, t)  # clipped
            key = page.locator(".chart-key span").first.evaluate(
                "el => parseFloat(getComputedStyle(el).fontSize)"
            )
            assert key >= 12
            # Nothing overflows the page sideways on a phone either.
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        finally:
            page.close()


def test_auto_theme_follows_the_readers_colour_scheme(browser: Any) -> None:
    html = render_page([narrated(CASES["credit"])], theme="auto")
    for scheme in ("light", "dark"):
        page, blocked = _open(browser, html, scheme)
        try:
            assert blocked == []
            bg = page.locator("main.clarion").evaluate("el => getComputedStyle(el).backgroundColor")
            assert _rgb(bg) == PALETTES[scheme]["bg"]
        finally:
            page.close()


def test_the_keyboard_reaches_the_chart_and_its_data_table(browser: Any) -> None:
    page, _ = _open(browser, render_page([narrated(CASES["credit"])], variant="chart"))
    try:
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.tagName") == "FIGURE"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
        assert not page.locator("details table").is_visible()
        page.keyboard.press("Enter")
        assert page.locator("details table").is_visible()
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid"
    finally:
        page.close()


def test_a_blocked_request_would_be_caught(browser: Any) -> None:
    page, blocked = _open(browser, '<img src="https://example.invalid/x.png">')
    try:
        page.wait_for_timeout(200)
        assert blocked == ["https://example.invalid/x.png"]
    finally:
        page.close()
