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
            bar = page.locator("rect.bar.toward").first
            fill = _rgb(bar.evaluate("el => getComputedStyle(el).fill"))
            assert fill == PALETTES[theme]["toward"]
        page.screenshot(path=str(tmp_path / f"{variant}-{theme}.png"), full_page=True)
        assert (tmp_path / f"{variant}-{theme}.png").stat().st_size > 1000
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
