"""Crash safety: SIGKILL the server in the middle of a burst of explanations, restart it on
the same database, and every request that got a 2xx has its record; the store is consistent."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from service.audit import AuditStore
from tests.helpers.audit import ENCRYPTION_KEY, ServerProcess, hiring_bundle
from tests.support import credit_bundle

N_REQUESTS = 40
N_THREADS = 8
KILL_AFTER = 10
CASE = {"income": 42.5, "debt": 30.0, "employment": "part_time", "has_guarantor": 1}


@pytest.mark.slow
def test_every_acknowledged_explanation_survives_a_sigkill(
    database_url: str, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    models = tmp_path / "models"
    credit_bundle(models)
    hiring_bundle(models)
    env = {
        "CLARION_MODELS_DIR": str(models),
        "CLARION_DATABASE_URL": database_url,
        "CLARION_AUDIT_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "CLARION_LOG_LEVEL": "warning",
    }
    server = ServerProcess(env, tmp_path / "server.log")
    server.start()
    acknowledged: list[str] = []
    failed = 0
    lock = threading.Lock()
    enough = threading.Event()

    def send(i: int) -> None:
        nonlocal failed
        model, instance = (
            ("tiny_credit", {**CASE, "income": 10.0 + i})
            if i % 2
            else ("tiny_hiring", {"score": float(i), "gap": 12.0, "gender": "female"})
        )
        try:
            with httpx.Client(timeout=30.0) as client:
                r = client.post(
                    f"{server.url}/v1/models/{model}/explain",
                    json={"instances": [instance], "method": "exact_shap"},
                )
        except httpx.TransportError:
            with lock:
                failed += 1
            return
        with lock:
            if 200 <= r.status_code < 300:
                acknowledged.append(r.json()["id"])
                if len(acknowledged) >= KILL_AFTER:
                    enough.set()
            else:
                failed += 1

    try:
        with ThreadPoolExecutor(N_THREADS) as pool:
            futures = [pool.submit(send, i) for i in range(N_REQUESTS)]
            assert enough.wait(timeout=120), "the burst never got going"
            server.kill()
            for f in futures:
                f.result()
    finally:
        server.kill()
    assert len(acknowledged) < N_REQUESTS, "the kill came after the burst: nothing was tested"

    restarted = ServerProcess(env, tmp_path / "server.log")
    restarted.start()
    try:
        with httpx.Client(base_url=restarted.url, timeout=30.0) as client:
            missing = [
                i for i in acknowledged if client.get(f"/v1/explanations/{i}").status_code != 200
            ]
            after = client.post(
                "/v1/models/tiny_credit/explain", json={"instances": [CASE], "method": "exact_shap"}
            )
    finally:
        restarted.stop()
    assert missing == []
    assert after.status_code == 200

    store = AuditStore.open(database_url)
    try:
        problems = store.verify()
        stored = store.count()
    finally:
        store.close()
    assert problems == []
    assert stored >= len(acknowledged) + 1
    summary = (
        f"crash test ({store.dialect}): {len(acknowledged)} acknowledged, {failed} failed or "
        f"never answered, {stored - 1} records before the restart's own, all acknowledged found"
    )
    record_property("crash", summary)
    sys.stderr.write(summary + "\n")
