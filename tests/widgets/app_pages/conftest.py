"""AppTest fixtures: the workspace's entrypoint against the fake API, one page at a time.

The seam: a ``ClarionClient`` placed in ``st.session_state[widgets.session.CLIENT_KEY]``
is the one the pages use (see ``widgets/session.py``); here it runs over ``FakeApi``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.widgets.app_pages.fake_api import FakeApi
from widgets.session import CLIENT_KEY

ENTRYPOINT = Path(__file__).resolve().parents[3] / "widgets" / "app.py"

DEFAULT_PAGE = "app_pages/preview.py"
OpenPage = Callable[[str], AppTest]


@pytest.fixture
def fake() -> FakeApi:
    return FakeApi()


@pytest.fixture
def open_page(fake: FakeApi) -> OpenPage:
    """Run the entrypoint with the fake client injected, then switch to ``page``."""

    def open_(page: str) -> AppTest:
        at = AppTest.from_file(str(ENTRYPOINT), default_timeout=30)
        at.session_state[CLIENT_KEY] = fake.client()
        at.run()  # the default page (Preview) first, as a browser would
        if page != DEFAULT_PAGE:
            fake.requests.clear()
            at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_
