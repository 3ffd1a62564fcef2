"""The Clarion workspace: one Streamlit entrypoint over file pages, grouped by role.

Run it with ``clarion ui`` (or ``streamlit run widgets/app.py -- --api-url URL``). It talks
to a Clarion service over HTTP like any product app; see ``widgets.session`` for where the
API is and for the test seam. Pages only wire widgets to the client and the pure modules.
"""

from __future__ import annotations

import sys
from pathlib import Path

# A checkout run without `pip install -e .` still finds the `widgets` package.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

import streamlit as st  # noqa: E402

from widgets import session  # noqa: E402

st.set_page_config(page_title="Clarion workspace", page_icon=str(session.PAGE_ICON), layout="wide")

PAGES = {
    "Product and design": [
        st.Page(
            "app_pages/preview.py", title="Preview", icon=":material/visibility:", default=True
        ),
        st.Page("app_pages/compare.py", title="Compare methods", icon=":material/compare:"),
    ],
    "Data science": [
        st.Page("app_pages/model.py", title="Model overview", icon=":material/bar_chart:"),
    ],
    "Compliance": [
        st.Page("app_pages/review.py", title="Review", icon=":material/fact_check:"),
    ],
}

page = st.navigation(PAGES)
with st.sidebar:
    st.caption(f"Clarion API: {session.client().base_url}")
page.run()
