"""The README's run command: `clarion up` brings up the API and the workspace, Ctrl-C stops both."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from service.launch import clean_environment, free_port, stop, wait_until_ready

pytestmark = pytest.mark.slow


def _wait_for_line(log: Path, line: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while line not in log.read_text(errors="replace"):
        assert process.poll() is None, log.read_text(errors="replace")[-2000:]
        assert time.monotonic() < deadline, f"`clarion up` never printed {line!r}"
        time.sleep(0.2)


def test_clarion_up_serves_both_and_stops_both_on_ctrl_c(tmp_path: Path) -> None:
    api_port, ui_port = free_port(), free_port()
    env = clean_environment(CLARION_DATABASE_URL=f"sqlite:///{tmp_path / 'audit.db'}")
    command = [sys.executable, "-c", "from service.cli import main; main()", "up",
               "--port", str(api_port), "--ui-port", str(ui_port)]  # fmt: skip
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=out, stderr=out)
        try:
            ui = f"http://127.0.0.1:{ui_port}"
            wait_until_ready(f"{ui}/_stcore/health", process, what="clarion up", timeout=240)
            ready = httpx.get(f"http://127.0.0.1:{api_port}/health/ready").json()
            assert ready["models"] == 4, ready
            assert httpx.get(ui).status_code == 200
            _wait_for_line(log, "Ctrl-C stops both.", process)
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=60)
        finally:
            stop(process)
    printed = log.read_text(errors="replace")
    assert f"Clarion API:       http://127.0.0.1:{api_port}" in printed, printed[-2000:]
    assert f"Clarion workspace: http://127.0.0.1:{ui_port}" in printed, printed[-2000:]
    assert code == 0, printed[-2000:]
    for port in (api_port, ui_port):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_clarion_ui_serves_the_workspace_against_a_running_api(
    api_url: str, tmp_path: Path
) -> None:
    port = free_port()
    command = [sys.executable, "-c", "from service.cli import main; main()", "ui",
               "--api-url", api_url, "--port", str(port)]  # fmt: skip
    log = tmp_path / "ui.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=clean_environment(), cwd=tmp_path, stdout=out, stderr=out
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_ready(f"{url}/_stcore/health", process, what="clarion ui", timeout=90)
            _wait_for_line(log, f"Clarion workspace: {url} (API {api_url})", process)
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=30)
        finally:
            stop(process)
    assert code == 0, log.read_text(errors="replace")[-2000:]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
