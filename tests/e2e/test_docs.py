"""The interactive docs work on an air-gapped network: /docs and /redoc load everything
from the service itself (Chromium with every non-loopback request aborted)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

pytestmark = pytest.mark.browser


def _offline(browser: Any) -> tuple[Any, list[str]]:
    """A browser context in which only 127.0.0.1 answers; returns it and what it refused."""
    refused: list[str] = []
    context = browser.new_context()

    def route(r: Any) -> None:
        if urlparse(r.request.url).hostname in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return context, refused


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_name_no_external_host(api_url: str, path: str) -> None:
    html = httpx.get(f"{api_url}{path}").text
    assert "cdn.jsdelivr.net" not in html
    assert "fonts.googleapis.com" not in html
    assert "https://" not in html


def test_swagger_ui_renders_the_operations_with_the_network_blocked(
    browser: Any, api_url: str
) -> None:
    context, refused = _offline(browser)
    page = context.new_page()
    try:
        page.goto(f"{api_url}/docs")
        page.locator(".opblock").first.wait_for(timeout=60_000)
        text = page.locator("#swagger-ui").inner_text()
        assert "/v1/models/{name}/explain" in text
        assert "/v2/models/{name}/infer" in text
        assert page.locator(".opblock").count() > 20
        assert refused == []
    finally:
        context.close()


def test_redoc_renders_with_the_network_blocked(browser: Any, api_url: str) -> None:
    context, refused = _offline(browser)
    page = context.new_page()
    try:
        page.goto(f"{api_url}/redoc")
        page.get_by_text("Predict and explain instances", exact=False).first.wait_for(
            timeout=60_000
        )
        # ReDoc's bundle links the "API docs by Redocly" footer logo from Redocly's CDN: the
        # one request it tries, an image, refused here without changing the page.
        assert [url for url in refused if not url.endswith(".svg")] == []
    finally:
        context.close()
