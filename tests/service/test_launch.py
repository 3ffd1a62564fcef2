"""How `clarion ui` and `clarion up` start their processes, wait for them and stop them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from service.launch import (
    LaunchError,
    api_command,
    stop,
    wait_until_ready,
    workspace_app,
    workspace_command,
)


def test_the_workspace_runs_headless_without_usage_statistics() -> None:
    command = workspace_command(
        "http://api:1", port=8600, options=["--server.fileWatcherType", "none"]
    )
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(workspace_app())]
    assert workspace_app().is_file()
    pairs = dict(zip(command[5::2], command[6::2], strict=False))
    assert pairs["--server.headless"] == "true"
    assert pairs["--browser.gatherUsageStats"] == "false"
    assert pairs["--server.port"] == "8600"
    assert pairs["--server.address"] == "127.0.0.1"
    assert command[-4:] == ["none", "--", "--api-url", "http://api:1"]


def test_the_api_runs_through_the_app_factory() -> None:
    command = api_command(host="127.0.0.1", port=8001)
    assert command[1:5] == ["-m", "uvicorn", "--factory", "service.api.app:create_app"]
    assert command[-4:] == ["--port", "8001", "--log-level", "warning"]


def test_a_process_that_exits_early_is_reported() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(LaunchError, match="the API exited with status 3 before it was ready"):
        wait_until_ready("http://127.0.0.1:9/health", process, what="API", timeout=30)


def test_a_process_that_never_answers_times_out_and_is_stopped() -> None:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(
            LaunchError, match=r"was not ready at http://127\.0\.0\.1:9/ within 1 s"
        ):
            wait_until_ready("http://127.0.0.1:9/", process, what="workspace", timeout=1)
    finally:
        code = stop(process, grace=5)
    assert code != 0
    assert process.poll() is not None
