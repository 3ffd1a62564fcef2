"""Starting the workspace, and the API beside it, as child processes (`clarion ui`, `up`).

Each runs in its own process, exactly as a user would start it by hand: the API with
``uvicorn --factory service.api.app:create_app``, the workspace with ``streamlit run
widgets/app.py`` (headless, no usage statistics). ``run_up`` starts the API, waits for
``/health/ready``, starts the workspace, waits for ``/_stcore/health``, says where both
are, and stops both when either stops or on Ctrl-C. Importing this module imports
neither Streamlit nor the service.

    LaunchError         a process did not come up (it exited, or timed out)
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx

__all__ = [
    "LaunchError",
    "api_command",
    "clean_environment",
    "free_port",
    "run_ui",
    "run_up",
    "serve_command",
    "stop",
    "wait_until_ready",
    "workspace_app",
    "workspace_command",
]


def workspace_app() -> Path:
    """``widgets/app.py``, found without importing the workspace package."""
    spec = importlib.util.find_spec("widgets")
    if spec is None or not spec.submodule_search_locations:
        raise LaunchError("the workspace package 'widgets' is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "app.py"


Echo = Callable[[str], None]


class LaunchError(Exception):
    """A child process did not come up."""


def workspace_command(
    api_url: str, *, port: int, address: str = "127.0.0.1", options: Sequence[str] = ()
) -> list[str]:
    """``streamlit run widgets/app.py`` on ``address:port``, pointed at ``api_url``.

    ``options`` are more Streamlit options (``--server.fileWatcherType none``, ...).
    """
    return [
        sys.executable, "-m", "streamlit", "run", str(workspace_app()),
        "--server.address", address,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        *options,
        "--", "--api-url", api_url,
    ]  # fmt: skip


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any CLARION_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLARION_")}
    return env | extra


def api_command(*, host: str, port: int) -> list[str]:
    """The service, as ``uvicorn --factory`` runs it."""
    return [
        sys.executable, "-m", "uvicorn", "--factory", "service.api.app:create_app",
        "--no-proxy-headers",  # X-Forwarded-For is trusted only from CLARION_TRUSTED_PROXIES
        "--host", host, "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip


def serve_command(*, host: str, port: int, workers: int | None = None) -> list[str]:
    """``clarion serve``: the service as an operator runs it, ``workers`` processes
    (default: ``CLARION_WORKERS``, else the number of CPUs)."""
    command = [sys.executable, "-m", "service.cli", "serve", "--host", host, "--port", str(port)]
    return command + (["--workers", str(workers)] if workers is not None else [])


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes], *, what: str, timeout: float
) -> None:
    """Poll ``url`` until it answers 200; LaunchError if ``process`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise LaunchError(f"the {what} exited with status {code} before it was ready")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise LaunchError(f"the {what} was not ready at {url} within {timeout:.0f} s")


def wait_until_warm(url: str, *, timeout: float, answers: int = 8) -> None:
    """Poll a service's ``/health/ready`` until ``answers`` answers in a row say its
    methods are warm (with several workers, each answer may come from another one): for
    benchmarks, which should not time a worker's first imports. LaunchError past
    ``timeout``."""
    deadline = time.monotonic() + timeout
    streak = 0
    while time.monotonic() < deadline:
        try:
            warm = httpx.get(url, timeout=2.0).json().get("methods") == "warm"
        except (httpx.HTTPError, ValueError):
            warm = False
        streak = streak + 1 if warm else 0
        if streak >= answers:
            return
        time.sleep(0.1 if warm else 0.25)
    raise LaunchError(f"the service's methods were not warm at {url} within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes], *, grace: float = 10.0) -> int:
    """Ask politely (SIGINT, as Ctrl-C would), then terminate, then kill; the exit status."""
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5.0)):
        if process.poll() is not None:
            break
        process.send_signal(sig)
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    if process.poll() is None:
        process.kill()
    return process.wait()


def _start(command: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(command), env=dict(env))


def _interrupt_on_sigterm() -> Callable[[], None]:
    """Treat SIGTERM like Ctrl-C, so the children are stopped too; returns the undo."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _wait_any(processes: Sequence[subprocess.Popen[bytes]]) -> int:
    while True:
        for process in processes:
            code = process.poll()
            if code is not None:
                return code
        time.sleep(0.5)


def run_ui(api_url: str, *, port: int, api_key: str | None, echo: Echo) -> int:
    """Run the workspace against ``api_url`` until it stops or Ctrl-C; its exit status."""
    env = dict(os.environ)
    if api_key:
        env["CLARION_API_KEY"] = api_key  # not on the command line, where `ps` would show it
    restore = _interrupt_on_sigterm()
    ui = _start(workspace_command(api_url, port=port), env)
    echo(f"Clarion workspace: http://127.0.0.1:{port} (API {api_url}); Ctrl-C stops it")
    try:
        return ui.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop(ui)
        restore()


def run_up(
    *,
    port: int,
    ui_port: int,
    models_dir: Path | None,
    echo: Echo,
    ready_timeout: float = 300.0,
) -> int:
    """The API and the workspace together on this machine; both stop together."""
    host = "127.0.0.1"
    env = {k: v for k, v in os.environ.items() if k not in ("CLARION_HOST", "CLARION_PORT")}
    env.update(CLARION_HOST=host, CLARION_PORT=str(port))
    if models_dir is not None:
        env["CLARION_MODELS_DIR"] = str(models_dir)
    api_url = f"http://{host}:{port}"
    processes: list[subprocess.Popen[bytes]] = []
    restore = _interrupt_on_sigterm()
    try:
        processes.append(_start(serve_command(host=host, port=port), env))
        echo(f"Starting the Clarion API on {api_url} (loading the models)…")
        wait_until_ready(f"{api_url}/health/ready", processes[0], what="API", timeout=ready_timeout)
        processes.append(_start(workspace_command(api_url, port=ui_port), env))
        ui_url = f"http://{host}:{ui_port}"
        wait_until_ready(f"{ui_url}/_stcore/health", processes[1], what="workspace", timeout=120)
        echo(f"Clarion API:       {api_url}  (docs: {api_url}/docs)")
        echo(f"Clarion workspace: {ui_url}")
        echo("Ctrl-C stops both.")
        return _wait_any(processes)
    except KeyboardInterrupt:
        return 0
    except LaunchError as exc:
        echo(f"error: {exc}")
        return 1
    finally:
        for process in reversed(processes):
            stop(process)
        restore()
