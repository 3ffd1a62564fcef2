"""The workspace's Streamlit glue: which API to call, the client, per-session memory, errors.

Where the API is: ``--api-url URL`` after ``--`` on the ``streamlit run`` line (``clarion
ui`` passes it), else ``CLARION_API_URL``, else ``http://127.0.0.1:8000``; an API key
likewise from ``--api-key`` or ``CLARION_API_KEY`` (none is needed against a local
service, which is open on a loopback host until a key exists).

The client is shared by every session (``st.cache_resource``). **Test seam:** a client
placed in ``st.session_state[CLIENT_KEY]`` is used instead, which is how the AppTests
run the pages against ``httpx.MockTransport`` (a fake API) without patching anything.

API answers are remembered per session (``remember``), never across sessions: cases
and records are personal data. A ``ClientError`` is shown in the API's own words and
stops the page (``fetch``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import TypeVar

import streamlit as st

from widgets.badges import Badge
from widgets.client import ClarionClient, ClientError

__all__ = [
    "CLIENT_KEY",
    "DEFAULT_API_URL",
    "PAGE_ICON",
    "api_settings",
    "client",
    "fetch",
    "remember",
    "show_badges",
]

T = TypeVar("T")
CLIENT_KEY = "clarion.client"
DEFAULT_API_URL = "http://127.0.0.1:8000"
# A file shipped with the package: a Material icon as favicon is fetched from Google's
# font host, which fails offline and tells a third party who opens the workspace.
PAGE_ICON = Path(__file__).with_name("clarion.png")
_MEMO_KEY = "clarion.memo"
_MEMO_SIZE = 64
_BADGE_COLOURS = {"ok": "blue", "warn": "orange", "info": "gray"}


def api_settings(argv: Sequence[str] | None = None) -> tuple[str, str | None]:
    """(API base URL, API key or None) from the script arguments, then the environment."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--api-url", default=None)
    parser.add_argument("--api-key", default=None)
    args, _ = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    url = args.api_url or os.environ.get("CLARION_API_URL") or DEFAULT_API_URL
    key = args.api_key or os.environ.get("CLARION_API_KEY") or None
    return url.rstrip("/"), key


@st.cache_resource(show_spinner=False)
def _shared_client(base_url: str, api_key: str | None) -> ClarionClient:
    return ClarionClient(base_url, api_key)


def client() -> ClarionClient:
    """The session's API client: the injected one (tests), else the shared one."""
    injected = st.session_state.get(CLIENT_KEY)
    if isinstance(injected, ClarionClient):
        return injected
    return _shared_client(*api_settings())


def remember(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, remembered in this session under ``key`` (the last 64 answers)."""
    memo: OrderedDict[Hashable, object] = st.session_state.setdefault(_MEMO_KEY, OrderedDict())
    if key in memo:
        memo.move_to_end(key)
        return memo[key]  # type: ignore[return-value]
    value = compute()
    memo[key] = value
    while len(memo) > _MEMO_SIZE:
        memo.popitem(last=False)
    return value


def fetch(key: Hashable | None, compute: Callable[[], T], *, what: str) -> T:
    """An API answer (remembered unless ``key`` is None); on an API error, say so and stop."""
    try:
        return compute() if key is None else remember(key, compute)
    except ClientError as exc:
        st.error(f"Could not {what}: {exc.message}", icon=":material/error:")
        st.stop()
        raise  # st.stop raises; this keeps type checkers sure that nothing returns


def show_badges(badges: Sequence[Badge]) -> None:
    """Badges in a row; the state is in the words and the icon, colour only repeats it."""
    text = " ".join(f":{_BADGE_COLOURS[b.state]}-badge[{b.icon} {b.label}]" for b in badges)
    st.markdown(text)
