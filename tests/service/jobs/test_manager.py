"""Jobs that survive trouble: a worker killed mid-job, a service restarted mid-job, an
external cluster of ``dask scheduler`` and ``dask worker`` processes."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.audit import AuditStore
from service.jobs.store import JobStore, record_fields
from service.settings import Settings
from tests.helpers.jobs import WORKER_ENV, job_settings, rows_csv, submit, wait_for

ROOT = Path(__file__).resolve().parent.parent.parent.parent
# Slow enough per row (exact_shap over 2**8 coalitions, a row per call: about 30 ms) to
# catch the job mid-way, with no first-call cost on a fresh worker.
SLOW = {"model": "hiring_screen", "method": "exact_shap"}
SLOW_ROWS = 200
SLOW_PARTITION = 10


def _wait_until(client: TestClient, job_id: str, rows: int, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while client.get(f"/v1/jobs/{job_id}").json()["progress"]["rows_done"] < rows:
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def reference_sha256(dask_scheduler: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The result of the slow job run without trouble."""
    settings = job_settings(
        tmp_path_factory.mktemp("reference"), dask_scheduler, job_partition_rows=SLOW_PARTITION
    )
    with TestClient(create_app(settings)) as client:
        job = wait_for(
            client, submit(client, SLOW, rows_csv("hiring_screen", SLOW_ROWS)).json()["id"]
        )
    assert job["status"] == "succeeded", job
    return str(job["result"]["sha256"])


@pytest.mark.slow
def test_a_killed_worker_costs_a_retry_and_changes_nothing(
    dask_scheduler: str, reference_sha256: str, tmp_path: Path
) -> None:
    import distributed

    settings = job_settings(tmp_path, dask_scheduler, job_partition_rows=SLOW_PARTITION)
    with (
        distributed.Client(dask_scheduler, set_as_default=False) as dask,  # type: ignore[no-untyped-call]
        TestClient(create_app(settings)) as client,
    ):
        pids = dask.run(os.getpid)
        job_id = submit(client, SLOW, rows_csv("hiring_screen", SLOW_ROWS)).json()["id"]
        _wait_until(client, job_id, SLOW_PARTITION)
        os.kill(next(iter(pids.values())), signal.SIGKILL)  # its nanny starts a new one
        job = wait_for(client, job_id)
    assert job["status"] == "succeeded", job
    assert job["result"]["sha256"] == reference_sha256


@pytest.mark.slow
def test_a_restarted_service_resumes_from_completed_partitions(
    dask_scheduler: str, reference_sha256: str, tmp_path: Path
) -> None:
    settings = job_settings(tmp_path, dask_scheduler, job_partition_rows=SLOW_PARTITION)
    with TestClient(create_app(settings)) as client:
        job_id = submit(client, SLOW, rows_csv("hiring_screen", SLOW_ROWS)).json()["id"]
        _wait_until(client, job_id, 2 * SLOW_PARTITION)
    # The service stopped mid-job: the record still says running, the finished parts stay.
    store = AuditStore.open(settings.database_url)
    try:
        assert JobStore(store).get(job_id).status == "running"
        with TestClient(create_app(settings)) as client:
            job = wait_for(client, job_id)
        runs = JobStore(store).get(job_id).document["runs"]
    finally:
        store.close()
    assert job["status"] == "succeeded", job
    assert job["result"]["sha256"] == reference_sha256
    assert len(runs) == 2
    assert runs[0]["partitions_done"] == 0
    assert runs[1]["partitions_done"] >= 2  # resumed from them, not from scratch


def _scheduler_address(scheduler_file: Path, process: subprocess.Popen[bytes]) -> str:
    import json

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "dask scheduler exited"
        if scheduler_file.is_file():
            try:
                return str(json.loads(scheduler_file.read_text())["address"])
            except (ValueError, KeyError):
                pass
        time.sleep(0.1)
    raise TimeoutError("dask scheduler did not start")


@pytest.fixture
def external_cluster(tmp_path: Path) -> Iterator[str]:
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, stopped after."""
    dask = str(Path(sys.executable).parent / "dask")
    env = {**os.environ, **WORKER_ENV, "PYTHONPATH": str(ROOT)}
    scheduler_file = tmp_path / "scheduler.json"
    log = (tmp_path / "dask.log").open("wb")
    processes = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address",
             "127.0.0.1:0", "--scheduler-file", str(scheduler_file)],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    ]  # fmt: skip
    try:
        address = _scheduler_address(scheduler_file, processes[0])
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    [dask, "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                     "--dashboard-address", "127.0.0.1:0", "--no-nanny"],
                    cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        import distributed

        with distributed.Client(address, set_as_default=False) as client:  # type: ignore[no-untyped-call]
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


@pytest.mark.slow
def test_a_20000_row_job_on_an_external_cluster(
    external_cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLARION_DASK_SCHEDULER", external_cluster)
    settings = Settings(
        models_dir=ROOT / "models",
        database_url=f"sqlite:///{(tmp_path / 'audit.db').as_posix()}",
        jobs_dir=(tmp_path / "jobs").as_posix(),
        anonymous_rate_limit_per_minute=None,
    )
    assert settings.dask_scheduler == external_cluster
    data = rows_csv("german_credit", 20_000, reference=True)
    spec: dict[str, Any] = {"model": "german_credit", "method": "tree_shap", "output": "raw"}
    with TestClient(create_app(settings)) as client:
        job = wait_for(client, submit(client, spec, data).json()["id"], timeout_s=900)
        assert job["status"] == "succeeded", job
        raw = client.get(f"/v1/jobs/{job['id']}/result").content
        result = pq.read_table(pa.BufferReader(raw))
        samples = client.get("/v1/models/german_credit/samples", params={"limit": 100}).json()
        for row in (0, 1, 4_321, 19_999):  # input row i is background row i % 100
            body = {"instances": [samples["instances"][row % 100]], **spec, "model": None}
            del body["model"]
            item = client.post("/v1/models/german_credit/explain", json=body).json()
            explained = item["explanations"][0]
            got = result.slice(row, 1).to_pylist()[0]
            assert got["reference"] == f"case-{row}"
            assert got["base_value"] == explained["base_value"]
            assert got["output_value"] == explained["output_value"]
            for a in explained["attributions"]:
                assert got[f"attribution.{a['feature']}"] == a["attribution"], (row, a)
        assert client.post(f"/v1/jobs/{job['id']}/rows/19999/replay").json()["identical"]
    # The job's audit record, with its hashes.
    store = AuditStore.open(settings.database_url)
    try:
        record = JobStore(store).get(job["id"])
    finally:
        store.close()
    assert record.status == "succeeded"
    assert record.n_rows == 20_000
    assert record.input_sha256 == hashlib.sha256(data).hexdigest()
    assert record.result_sha256 == hashlib.sha256(raw).hexdigest()
    assert record.model_sha256 == job["model"]["sha256"]
    assert record.document["plan"]["options"] == {"seed": 0}
    from service.audit._canonical import sha256_json

    assert record.record_sha256 == sha256_json(record_fields(record))
