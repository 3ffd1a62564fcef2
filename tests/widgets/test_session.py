"""Where the workspace finds the API: script arguments first, then the environment."""

from __future__ import annotations

import pytest

from widgets.session import DEFAULT_API_URL, api_settings


def test_the_default_is_the_local_service() -> None:
    assert api_settings([]) == (DEFAULT_API_URL, None)


def test_script_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARION_API_URL", "http://env:1/")
    monkeypatch.setenv("CLARION_API_KEY", "env-key")
    assert api_settings([]) == ("http://env:1", "env-key")
    argv = ["--api-url", "http://arg:2/", "--api-key", "arg-key", "--other", "x"]
    assert api_settings(argv) == ("http://arg:2", "arg-key")
