"""The sandbox: a bundle's graph runs first in a child process with a CPU-time and an
address-space limit, before the service creates its own session for it.

The ONNX checker accepts graphs that never end or that allocate gigabytes from a few
hundred bytes (``Loop``, ``Scan``, ``ConstantOfShape``: TRAPS.md), and a Python thread
running one cannot be stopped. So each bundle, at start-up and at upload, is loaded
and run over its whole background (every row the service itself will score while
loading it) by a child Python (``runtime.CHECK_SCRIPT``: numpy and ONNX Runtime only)
with ``resource.setrlimit`` limits: ``CLARION_MODEL_CHECK_CPU_S`` seconds of CPU time and
``CLARION_MODEL_CHECK_MEMORY_BYTES`` of address space beyond what the child holds once
its imports are done. A child that overruns is killed by the kernel and the bundle is
refused with one line; the service goes on serving the others.

A bundle that passed (by the SHA-256 of its three files and the limits) is not checked
again in the same process.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from service.errors import BundleRejected
from service.models.bundle import Bundle
from service.models.runtime import CHECK_SCRIPT, check_inputs
from service.settings import Settings

__all__ = ["check_in_child"]

_passed: set[str] = set()
_passed_lock = threading.Lock()


def _key(bundle: Bundle, settings: Settings) -> str:
    parts = (
        bundle.model_sha256,
        bundle.card_sha256,
        bundle.background_sha256,
        str(settings.model_check_cpu_s),
        str(settings.model_check_memory_bytes),
        ",".join(settings.providers),
    )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def check_in_child(bundle: Bundle, settings: Settings) -> None:
    """Run ``bundle``'s graph over its background in a limited child process;
    ``BundleRejected`` with one line when the child refuses it, overruns a limit or dies.
    No-op when ``settings.model_check_cpu_s`` is None."""
    if settings.model_check_cpu_s is None:
        return
    key = _key(bundle, settings)
    with _passed_lock:
        if key in _passed:
            return
    cpu_s = settings.model_check_cpu_s
    memory = settings.model_check_memory_bytes
    inputs = check_inputs(bundle.model, bundle.card, bundle.background)
    wall = 2 * cpu_s + 30  # CPU time is the kernel's limit; this catches a child that waits
    with tempfile.TemporaryDirectory(prefix="clarion-check-") as tmp:
        folder = Path(tmp)
        (folder / "model.onnx").write_bytes(bundle.model_bytes)
        names = {f"f{i}": name for i, name in enumerate(inputs)}
        np.savez(folder / "feeds.npz", **{k: inputs[name] for k, name in names.items()})
        job = {
            "model": str(folder / "model.onnx"),
            "feeds": str(folder / "feeds.npz"),
            "names": names,
            "cpu_s": cpu_s,
            "memory_bytes": memory,
        }
        env = dict(os.environ)
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = "1"  # thread pools reserve address space the limit would count
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-c", CHECK_SCRIPT, json.dumps(job)],
                capture_output=True,
                text=True,
                env=env,
                timeout=wall,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BundleRejected(
                f"checking the model took longer than {wall:g} s of wall time; "
                "the bundle is refused"
            ) from exc
    reason = _verdict(done, cpu_s, memory)
    if reason is not None:
        raise BundleRejected(reason, details={"field": "model", "problem": "model check failed"})
    with _passed_lock:
        _passed.add(key)


def _verdict(done: subprocess.CompletedProcess[str], cpu_s: float, memory: int) -> str | None:
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    answer: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if done.returncode == 0 and answer.get("ok"):
        return None
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return (
            f"running the model over its background took more than {cpu_s:g} s of CPU time "
            "(CLARION_MODEL_CHECK_CPU_S); the bundle is refused"
        )
    if answer.get("memory") or "MemoryError" in done.stderr or "bad_alloc" in done.stderr:
        return (
            f"running the model over its background needed more than {memory / 2**20:,.0f} "
            "MiB of memory (CLARION_MODEL_CHECK_MEMORY_BYTES); the bundle is refused"
        )
    if answer.get("error"):
        return f"running the model over its background failed: {answer['error']}"
    last = done.stderr.strip().splitlines()[-1:] or [""]
    return f"the model check stopped unexpectedly (exit status {done.returncode}) {last[0]}"
