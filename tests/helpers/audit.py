"""Test support for the audit trail: both databases, a bundle with sensitive features,
API keys, and a real server process for the crash test."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import create_engine

from service.launch import free_port
from service.settings import Settings
from tests.support import _csv, _to_onnx, make_settings, write_bundle

__all__ = [
    "ENCRYPTION_KEY",
    "POSTGRES_URL",
    "ServerProcess",
    "add_record",
    "audit_settings",
    "bearer",
    "free_port",
    "hiring_bundle",
    "postgres_schema",
]

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ENCRYPTION_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode("ascii")
ROOT = Path(__file__).resolve().parent.parent.parent


def audit_settings(models_dir: Path, database_url: str, **overrides: Any) -> Settings:
    """Test settings with an encryption key, on ``database_url``."""
    values: dict[str, Any] = {"audit_encryption_key": ENCRYPTION_KEY, **overrides}
    return make_settings(models_dir, database_url=database_url, **values)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh, uniquely named schema on the local PostgreSQL, dropped afterwards.

    Fails loudly when the server is missing: CI has one, and so must a developer.
    """
    name = f"clarion_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        try:
            yield f"{POSTGRES_URL}?options=-csearch_path%3D{name}"
        finally:
            with admin.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        admin.dispose()


def hiring_bundle(root: Path, name: str = "tiny_hiring") -> Path:
    """A hiring screen with a protected, sensitive ``gender`` and a sensitive proxy ``gap``."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    n = 400
    score = rng.uniform(0, 100, n)
    gap = rng.uniform(0, 60, n)
    gender = rng.integers(0, 2, n).astype(float)
    X = np.column_stack([score, gap, gender])
    y = (0.06 * score - 0.04 * gap + 0.6 * gender - 2.5 + rng.normal(0, 0.5, n) > 0).astype(int)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    genders = ["female", "male"]
    card: dict[str, Any] = {
        "name": name,
        "version": "1.0",
        "task": "classification",
        "domain": "hiring",
        "classes": ["reject", "advance"],
        "positive_class": "advance",
        "output": {"default": "probability"},
        "features": [
            {"name": "score", "label": "Test score", "range": [0, 100]},
            {"name": "gap", "label": "Career gap", "range": [0, 240], "sensitive": True,
             "proxy_for": "gender"},
            {"name": "gender", "type": "categorical", "categories": genders, "protected": True,
             "sensitive": True},
        ],
    }  # fmt: skip
    rows = [[round(r[0], 2), round(r[1], 2), genders[int(r[2])]] for r in X[:30]]
    return write_bundle(
        root / name, _to_onnx(model, 3), card, _csv(["score", "gap", "gender"], rows)
    )


class ServerProcess:
    """``uvicorn --factory service.api.app:create_app`` in a subprocess, on a loopback port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, **env, "CLARION_PORT": str(self.port)}
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "service.api.app:create_app",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
        ]  # fmt: skip
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self._env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self._log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise TimeoutError(f"the server did not become ready: {self._log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; what was committed is all there is."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def add_record(
    store: Any,
    *,
    created_at: Any = None,
    model: str = "m",
    version: str = "1",
    method: str = "exact_shap",
    caller: str = "anonymous",
    decisions: list[dict[str, Any]] | None = None,
    document: dict[str, Any] | None = None,
    record_id: str | None = None,
) -> str:
    """Write a synthetic record (a stand-in document, updated by ``document``); its id.

    The id is random unless ``record_id`` is given: a test whose outcome depends on the
    ids (a seeded sample ranks decisions by a hash of their id) must pass its own.
    """
    from datetime import UTC, datetime

    from service.audit._canonical import record_text, sha256_hex
    from service.audit.tables import Decision, ExplanationRecord

    created_at = created_at or datetime.now(UTC)
    decisions = decisions if decisions is not None else [{"outcome": "declined"}]
    record_id = record_id or uuid.uuid4().hex
    document = {
        "id": record_id,
        "model": {"name": model, "version": version},
        "note": "synthetic",
        **(document or {}),
    }
    rows = [
        Decision(
            record_id=record_id,
            position=i,
            outcome=d.get("outcome"),
            score=d.get("score"),
            confidence=d.get("confidence"),
            margin=d.get("margin"),
            confidence_bucket=d.get("confidence_bucket"),
            quality_failed=d.get("quality_failed", False),
            proxy_flag=d.get("proxy_flag", False),
            review_required=d.get("review_required", False),
            features=d.get("features", {}),
        )
        for i, d in enumerate(decisions)
    ]
    store.add_record(
        ExplanationRecord(
            id=record_id,
            created_at=created_at,
            request_id=None,
            caller=caller,
            channel="test",
            model_name=model,
            model_version=version,
            model_sha256="0" * 64,
            method=method,
            output_space="probability",
            n_instances=len(rows),
            quality_failed=any(r.quality_failed for r in rows),
            proxy_flag=any(r.proxy_flag for r in rows),
            review_required=any(r.review_required for r in rows),
            input_sha256="1" * 64,
            record_sha256=sha256_hex(record_text(document)),
            document=document,
            sealed=None,
        ),
        rows,
    )
    return record_id
