"""notebooks/01_quickstart.ipynb runs top to bottom against a real server it starts."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from service.launch import (
    LaunchError,
    api_command,
    clean_environment,
    free_port,
    stop,
    wait_until_ready,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("server")
    port = free_port()
    env = clean_environment(
        CLARION_MODELS_DIR=str(ROOT / "models"),
        CLARION_DATABASE_URL=f"sqlite:///{folder / 'audit.db'}",
    )
    url = f"http://127.0.0.1:{port}"
    with (folder / "server.log").open("wb") as log:
        process = subprocess.Popen(
            api_command(host="127.0.0.1", port=port), cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            wait_until_ready(f"{url}/health/ready", process, what="service", timeout=90)
        except LaunchError as exc:
            stop(process)
            pytest.fail(f"{exc}\n{(folder / 'server.log').read_text()[-3000:]}")
        yield url
        stop(process)


def test_quickstart_notebook_runs(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARION_URL", server)
    nb = nbformat.read(  # type: ignore[no-untyped-call]  # nbformat ships no annotations
        ROOT / "notebooks" / "01_quickstart.ipynb", as_version=4
    )
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(str(o.get("text", "")) for o in outputs)
    assert "method:" in text
    assert "model output" in text
