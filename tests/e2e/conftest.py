"""End-to-end fixtures: a real service and a real workspace on free loopback ports, and Chromium.

The service runs the bundled models (``models/``) with its audit store in a temporary
SQLite file and an audit encryption key (so records of models with sensitive features
can be replayed); no other ``CLARION_*`` variable of the developer's reaches it. The
workspace runs ``streamlit run widgets/app.py`` against it, as ``clarion ui`` would.
Screenshots go to ``artifacts/screenshots/`` (kept by CI as test artifacts).
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import pytest

from service.launch import (
    LaunchError,
    api_command,
    clean_environment,
    free_port,
    stop,
    wait_until_ready,
    workspace_command,
)

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--no-first-run"]  # fmt: skip
# A fixed test key: 32 bytes, URL-safe base64, as `clarion audit new-encryption-key` makes.
ENCRYPTION_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()


def _serve(
    command: list[str], env: Mapping[str, str], cwd: Path, url: str, what: str, timeout: float
) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    log = (cwd / f"{what}.log").open("wb")
    process = subprocess.Popen(
        command, env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_until_ready(url, process, what=what, timeout=timeout)
    except LaunchError as exc:
        stop(process)
        log.close()
        tail = (cwd / f"{what}.log").read_text(errors="replace")[-3000:]
        pytest.fail(f"{exc}\n--- {what} log ---\n{tail}")
    return process, log


@pytest.fixture(scope="session")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Clarion service on the bundled models."""
    folder = tmp_path_factory.mktemp("api")
    port = free_port()
    env = clean_environment(
        CLARION_MODELS_DIR=str(ROOT / "models"),
        CLARION_DATABASE_URL=f"sqlite:///{folder / 'audit.db'}",
        CLARION_AUDIT_ENCRYPTION_KEY=ENCRYPTION_KEY,
        CLARION_LOG_LEVEL="warning",
        CLARION_PORT=str(port),
    )
    url = f"http://127.0.0.1:{port}"
    command = api_command(host="127.0.0.1", port=port)
    process, log = _serve(command, env, folder, f"{url}/health/ready", "API", 180)
    yield url
    stop(process)
    log.close()


@pytest.fixture(scope="session")
def ui_url(api_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The workspace (`streamlit run widgets/app.py`) pointed at the service."""
    folder = tmp_path_factory.mktemp("ui")
    port = free_port()
    options = ["--server.fileWatcherType", "none", "--global.developmentMode", "false"]
    command = workspace_command(api_url, port=port, options=options)
    url = f"http://127.0.0.1:{port}"
    process, log = _serve(command, clean_environment(), folder, f"{url}/_stcore/health", "UI", 90)
    yield url
    stop(process)
    log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one module: Playwright's sync API allows one driver at a time, and
    ``tests/widgets/test_browser.py`` starts its own."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "install Debian's chromium (apt-get install -y chromium)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, ui_url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 1300}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(45_000)
    yield page
    context.close()


BOOTSTRAP_ADMIN_KEY = "e2e-bootstrap-admin-key"


@pytest.fixture(scope="session")
def fresh_install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A service as a fresh install runs it: no audit encryption key configured (it makes
    one in its data directory), keys required; an app key, two reviewer keys (alice, bob)
    and a workspace that talks to it as bob. Yields the URLs and the keys."""
    import httpx

    folder = tmp_path_factory.mktemp("fresh")
    port = free_port()
    env = clean_environment(
        CLARION_MODELS_DIR=str(ROOT / "models"),
        CLARION_DATABASE_URL=f"sqlite:///{folder / 'audit.db'}",
        CLARION_DATA_DIR=str(folder / "data"),
        CLARION_BOOTSTRAP_ADMIN_KEY=BOOTSTRAP_ADMIN_KEY,
        CLARION_LOG_LEVEL="warning",
        CLARION_PORT=str(port),
    )
    api = f"http://127.0.0.1:{port}"
    process, log = _serve(
        api_command(host="127.0.0.1", port=port), env, folder, f"{api}/health/ready", "API", 180
    )
    admin = {"Authorization": f"Bearer {BOOTSTRAP_ADMIN_KEY}"}
    keys = {}
    for role, name in (("app", "loan portal"), ("reviewer", "alice"), ("reviewer", "bob")):
        r = httpx.post(f"{api}/v1/keys", json={"role": role, "name": name}, headers=admin)
        assert r.status_code == 201, r.text
        keys[name] = r.json()["key"]
    ui_port = free_port()
    options = ["--server.fileWatcherType", "none", "--global.developmentMode", "false"]
    ui = f"http://127.0.0.1:{ui_port}"
    ui_process, ui_log = _serve(
        workspace_command(api, port=ui_port, options=options),
        clean_environment(CLARION_API_KEY=keys["bob"]),
        folder,
        f"{ui}/_stcore/health",
        "UI",
        90,
    )
    yield {"api_url": api, "ui_url": ui, "app": keys["loan portal"], **keys}
    stop(ui_process)
    ui_log.close()
    stop(process)
    log.close()
