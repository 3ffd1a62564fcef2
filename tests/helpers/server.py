"""A real ``clarion serve`` for tests that need processes: a free loopback port, the audit
store and the service's own files (``CLARION_DATA_DIR``) in the test's folder, never the
checkout's ``data/``; stopped at the end unless the test stopped it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from service.launch import (
    LaunchError,
    clean_environment,
    free_port,
    serve_command,
    stop,
    wait_until_ready,
)

__all__ = ["serving"]


@contextmanager
def serving(
    models: Path,
    folder: Path,
    *,
    workers: int = 1,
    timeout: float = 120,
    log: Path | None = None,
    **env: str,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``clarion serve`` over ``models`` with its audit store at ``folder/audit.db``; yields
    its base URL and process once ready. ``env``: more environment variables; ``log``: a
    file for the server's output, whose tail a failed start reports (else discarded)."""
    port = free_port()
    environment = clean_environment(
        CLARION_MODELS_DIR=str(models),
        CLARION_DATABASE_URL=f"sqlite:///{folder / 'audit.db'}",
        CLARION_DATA_DIR=str(folder),
        CLARION_LOG_LEVEL="warning",
        **env,
    )
    output = log.open("wb") if log is not None else None
    process = subprocess.Popen(
        serve_command(host="127.0.0.1", port=port, workers=workers),
        env=environment,
        stdout=output if output is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if output is not None else subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_ready(f"{url}/health/ready", process, what="service", timeout=timeout)
        except LaunchError as exc:
            if log is None:
                raise
            raise AssertionError(log.read_text(errors="replace")[-3000:]) from exc
        yield url, process
    finally:
        if process.poll() is None:
            stop(process)
        if output is not None:
            output.close()
