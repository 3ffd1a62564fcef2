"""Test support for batch jobs: a Dask cluster, settings over the example models, input
files, and waiting for a job through the API."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from service.settings import Settings
from tests.support import make_settings

__all__ = [
    "EXAMPLE_MODELS",
    "WORKER_ENV",
    "background_rows",
    "job_settings",
    "parquet_of",
    "rows_csv",
    "submit",
    "wait_for",
]

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE_MODELS = ROOT / "models"
# One thread per worker process, its libraries' pools included (as the runner's cluster).
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def job_settings(tmp_path: Path, scheduler: str | None, **overrides: Any) -> Settings:
    """Settings over the example models, with the audit store and job files in tmp_path."""
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{(tmp_path / 'audit.db').as_posix()}",
        "jobs_dir": (tmp_path / "jobs").as_posix(),
        "dask_scheduler": scheduler,
        "job_partition_rows": 50,
        "anonymous_rate_limit_per_minute": None,
        **overrides,
    }
    return make_settings(EXAMPLE_MODELS, **values)


def background_rows(model: str) -> list[str]:
    """The lines of an example model's background.csv (header first)."""
    return (EXAMPLE_MODELS / model / "background.csv").read_text().splitlines()


def rows_csv(model: str, n: int, *, reference: bool = False) -> bytes:
    """``n`` rows cycled from the model's background, as CSV (optionally with references)."""
    lines = background_rows(model)
    body = [lines[1 + i % (len(lines) - 1)] for i in range(n)]
    if reference:
        header = f"{lines[0]},reference"
        body = [f"{line},case-{i}" for i, line in enumerate(body)]
        return ("\n".join([header, *body]) + "\n").encode()
    return ("\n".join([lines[0], *body]) + "\n").encode()


def parquet_of(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def submit(client: TestClient, spec: dict[str, Any], data: bytes, name: str = "rows.csv") -> Any:
    return client.post("/v1/jobs", files={"data": (name, data)}, data={"spec": json.dumps(spec)})


def wait_for(client: TestClient, job_id: str, timeout_s: float = 600.0) -> dict[str, Any]:
    """Poll ``GET /v1/jobs/{id}`` until the job has ended; its last state."""
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} did not end in {timeout_s} s: {job}")
        time.sleep(0.1)
