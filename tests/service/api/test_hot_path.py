"""The serving path around the maths: truthful timing, a bounded compute pool that keeps the
event loop free, and ``clarion serve --workers``."""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from service import cores
from service.api.app import create_app
from service.api.pool import ComputePool
from service.errors import Overloaded
from service.launch import stop
from tests.helpers.server import serving
from tests.support import make_settings

CASE = {"income": 173.1379, "debt": 30.0, "employment": "part_time", "has_guarantor": 1}


def test_timing_covers_the_audit_write_and_server_timing_names_each_stage(
    tiny_models_dir: Path,
) -> None:
    with TestClient(create_app(make_settings(tiny_models_dir))) as c:
        r = c.post("/v1/models/tiny_credit/explain", json={"instances": [CASE]})
        assert r.status_code == 200, r.text
        timing = r.json()["timing"]
        stages = {"validate_ms", "compute_ms", "explain_ms", "people_ms", "audit_ms", "total_ms"}
        assert stages <= set(timing)
        parts = timing["validate_ms"] + timing["compute_ms"] + timing["people_ms"]
        assert timing["total_ms"] >= parts + timing["audit_ms"]
        header = r.headers["server-timing"]
        named = dict(part.strip().split(";dur=") for part in header.split(","))
        assert list(named) == ["validate", "compute", "people", "audit", "total"]
        assert float(named["total"]) == timing["total_ms"]


def test_a_full_pool_refuses_at_once_with_retry_after() -> None:
    release = threading.Event()

    async def scenario() -> None:
        pool = ComputePool(threads=1, queue=0)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(pool.run, release.wait)
            while pool.admitted == 0:
                await anyio.sleep(0.001)
            with pytest.raises(Overloaded) as refused:
                await pool.run(time.sleep, 0)
            assert refused.value.status_code == 503
            assert refused.value.headers["Retry-After"] == "1"
            release.set()
        assert pool.admitted == 0
        assert await pool.run(sum, [1, 2]) == 3  # free again

    anyio.run(scenario)


def test_an_overloaded_service_answers_503_overloaded(tiny_models_dir: Path) -> None:
    with TestClient(create_app(make_settings(tiny_models_dir))) as c:
        pool = c.app.state.pool  # type: ignore[attr-defined]
        pool.admitted = pool.capacity  # as if every thread and queue place were taken
        r = c.post("/v1/models/tiny_credit/explain", json={"instances": [CASE]})
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "overloaded"
        assert r.headers["retry-after"] == "1"
        assert c.get("/health/live").status_code == 200
        pool.admitted = 0
        assert c.post("/v1/models/tiny_credit/explain", json={"instances": [CASE]}).is_success


def test_health_answers_while_explanations_run(tiny_models_dir: Path, tmp_path: Path) -> None:
    """Explanations run on the compute threads; the event loop stays free for health checks
    (the bound is generous on purpose: a busy 2-core machine, not a benchmark)."""
    with serving(tiny_models_dir, tmp_path) as (url, _):
        heavy = {"instances": [CASE] * 20, "method": "kernel_shap", "options": {"nsamples": 8000}}
        done = threading.Event()

        def explain() -> None:
            with httpx.Client(base_url=url, timeout=120) as client:
                while not done.is_set():
                    client.post("/v1/models/tiny_credit/explain", json=heavy)

        workers = [threading.Thread(target=explain) for _ in range(2)]
        for w in workers:
            w.start()
        time.sleep(1.0)  # both explanations running
        latencies = []
        with httpx.Client(base_url=url, timeout=10) as client:
            for _ in range(20):
                start = time.perf_counter()
                assert client.get("/health/live").status_code == 200
                latencies.append((time.perf_counter() - start) * 1000)
                time.sleep(0.05)
        done.set()
        for w in workers:
            w.join(timeout=120)
        assert statistics.median(latencies) < 50, latencies
        assert max(latencies) < 250, latencies


@pytest.mark.slow
def test_serve_runs_worker_processes_that_share_one_audit_store(
    tiny_models_dir: Path, tmp_path: Path
) -> None:
    import sqlite3

    database = tmp_path / "audit.db"
    with serving(tiny_models_dir, tmp_path, workers=2) as (url, server):
        children = _children(server.pid)
        assert len(children) >= 2, children  # the worker processes

        def explain(n: int) -> int:
            with httpx.Client(base_url=url, timeout=60) as client:
                ok = 0
                for _ in range(n):
                    r = client.post("/v1/models/tiny_credit/explain", json={"instances": [CASE]})
                    ok += r.status_code == 200
                return ok

        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(explain(10))) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(results) == 40
        # each worker's event loop (its main thread) on a core of its own (service.cores)
        workers = [c for c in children if "resource_tracker" not in _command(c)]
        loops = [_cpus(pid, pid) for pid in workers]
        if len(cores.available()) >= 2:
            assert all(len(cpus) == 1 for cpus in loops), loops
            assert len(set().union(*loops)) == 2, loops
            # the other threads that explain (the compute pool's, here) run on every core
            assert all(cores.available() in _thread_cpus(pid) for pid in workers)
        assert stop(server, grace=20.0) in (0, -2, 130)  # a clean stop (SIGINT)
    with sqlite3.connect(database) as db:
        assert db.execute("select count(*) from explanation_records").fetchone()[0] == 40


def _command(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")


def _cpus(pid: int, tid: int) -> frozenset[int]:
    """The CPUs a thread may run on, from /proc."""
    for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            cpus: set[int] = set()
            for part in line.split(":")[1].strip().split(","):
                low, _, high = part.partition("-")
                cpus.update(range(int(low), int(high or low) + 1))
            return frozenset(cpus)
    raise AssertionError(f"no Cpus_allowed_list for thread {tid}")


def _thread_cpus(pid: int) -> list[frozenset[int]]:
    return [_cpus(pid, int(task.name)) for task in Path(f"/proc/{pid}/task").iterdir()]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def test_compact_explanations_carry_the_numbers_without_the_people_layer(
    tiny_models_dir: Path,
) -> None:
    with TestClient(create_app(make_settings(tiny_models_dir))) as c:
        full = c.post("/v1/models/tiny_credit/explain", json={"instances": [CASE]}).json()
        r = c.post("/v1/models/tiny_credit/explain", json={"instances": [CASE], "compact": True})
        assert r.status_code == 200, r.text
        lean, rich = r.json()["explanations"][0], full["explanations"][0]
        for key in ("prediction", "target", "output_value", "base_value", "attributions"):
            assert lean[key] == rich[key]
        assert lean["reasons"] == []
        assert lean["narrative"] == ""
        assert lean["notice"] is None
        assert lean["confidence"] == "not_rated"
        refused = c.post(
            "/v1/models/tiny_credit/explain",
            json={"instances": [CASE], "compact": True, "format": "html"},
        )
        assert refused.status_code == 422
        assert "compact" in refused.json()["error"]["message"]


def test_the_long_lived_objects_are_frozen_while_serving_and_thawed_after(
    tiny_models_dir: Path,
) -> None:
    # Full collections skip what the lifespan built (service.heap): the models, tables and
    # schemas stay out of every collection while the service runs, and are the
    # collector's again once it stops, so a stopped app's cycles can be reclaimed.
    import gc

    app = create_app(make_settings(tiny_models_dir, warm_methods=True))
    with TestClient(app) as c:
        assert gc.get_freeze_count() > 10_000
        app.state.warming.join(timeout=120)
        assert not app.state.warming.is_alive()
        frozen_after_warming = gc.get_freeze_count()
        assert c.post("/v1/models/tiny_credit/explain", json={"instances": [CASE]}).is_success
    assert gc.get_freeze_count() == 0
    assert frozen_after_warming > 10_000
