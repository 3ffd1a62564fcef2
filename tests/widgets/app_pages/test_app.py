"""The entrypoint: role-grouped navigation over file pages, the API named in the sidebar."""

from __future__ import annotations

from tests.widgets.app_pages.conftest import OpenPage


def test_the_preview_is_the_default_page_and_names_the_api(open_page: OpenPage) -> None:
    at = open_page("app_pages/preview.py")
    assert [t.value for t in at.title] == ["Preview"]
    assert any("http://clarion.test" in c.value for c in at.sidebar.caption)


def test_every_page_opens_without_an_error(open_page: OpenPage) -> None:
    for page, title in [
        ("app_pages/preview.py", "Preview"),
        ("app_pages/compare.py", "Compare methods"),
        ("app_pages/model.py", "Model overview"),
        ("app_pages/review.py", "Review"),
    ]:
        at = open_page(page)
        assert [t.value for t in at.title] == [title]
        assert not at.error, [e.value for e in at.error]
