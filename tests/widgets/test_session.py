"""Where the workspace finds the API: script arguments first, then the environment."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

import widgets
from widgets.session import DEFAULT_API_URL, PAGE_ICON, api_settings


def test_the_default_is_the_local_service() -> None:
    assert api_settings([]) == (DEFAULT_API_URL, None)


def test_script_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARION_API_URL", "http://env:1/")
    monkeypatch.setenv("CLARION_API_KEY", "env-key")
    assert api_settings([]) == ("http://env:1", "env-key")
    argv = ["--api-url", "http://arg:2/", "--api-key", "arg-key", "--other", "x"]
    assert api_settings(argv) == ("http://arg:2", "arg-key")


def test_the_page_icon_is_a_local_file_shipped_with_the_package() -> None:
    # A Material icon as page_icon makes the browser fetch it from Google's font host.
    assert PAGE_ICON.parent == Path(widgets.__file__).parent
    assert PAGE_ICON.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    app = ast.parse((PAGE_ICON.parent / "app.py").read_text())
    (call,) = [
        n
        for n in ast.walk(app)
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "st.set_page_config"
    ]
    (icon,) = [k.value for k in call.keywords if k.arg == "page_icon"]
    assert ast.unparse(icon) == "str(session.PAGE_ICON)"
    project = tomllib.loads((PAGE_ICON.parents[1] / "pyproject.toml").read_text())
    assert PAGE_ICON.name in project["tool"]["setuptools"]["package-data"]["widgets"]
