"""Which core a worker's event loop and compute lane share (``service.cores``): claims that
workers cannot share, pins that the threads a pinned thread starts inherit, and the ways
back to every core."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
from structlog.testing import capture_logs

from service import cores
from service.cli import _cores
from service.explain.trees.interventional import PARALLEL_MIN_ROWS
from tests.helpers.jobs import EXAMPLE_MODELS
from tests.support import make_settings

pytestmark = pytest.mark.skipif(
    not cores.available(), reason="this platform cannot pin threads (Linux only)"
)

T = TypeVar("T")


def _in_thread(fn: Callable[[], T]) -> T:
    """``fn()`` on a thread of its own (pins never leak into the test's thread)."""
    out: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # re-raised on the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return out[0]


def _spread_and_look() -> frozenset[int]:
    cores.spread()
    return cores.available()


@pytest.fixture
def claims() -> Iterator[None]:
    """Claims made in this process are let go of after the test."""
    before = len(cores._held)
    yield
    while len(cores._held) > before:
        os.close(cores._held.pop())


@pytest.mark.usefixtures("claims")
def test_each_claim_in_a_folder_gets_a_core_of_its_own_until_none_are_left(
    tmp_path: Path,
) -> None:
    cpus = sorted(cores.available())
    got = [cores.claim(tmp_path) for _ in cpus]
    assert got == cpus
    assert cores.claim(tmp_path) is None
    assert cores.claim(tmp_path / "another server") == cpus[0]


@pytest.mark.usefixtures("claims")
def test_a_core_is_free_again_once_the_worker_that_claimed_it_has_ended(tmp_path: Path) -> None:
    script = "import sys; from pathlib import Path; from service import cores; "
    script += "print(cores.claim(Path(sys.argv[1])))"
    first = min(cores.available())
    for _ in range(2):  # the first worker's claim ended with it
        done = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == str(first)
    assert cores.claim(tmp_path) == first


def test_a_pinned_thread_and_the_threads_it_starts_run_on_its_core_until_they_spread() -> None:
    every = cores.available()
    cpu = max(every)

    def pinned() -> tuple[frozenset[int], frozenset[int], frozenset[int], frozenset[int]]:
        cores.pin(cpu)
        started = _in_thread(cores.available)
        spread = _in_thread(_spread_and_look)
        with cores.unpinned():
            during = cores.available()
        return cores.available(), started, spread, during

    mine, started, spread, during = _in_thread(pinned)
    assert mine == started == {cpu}  # inherited
    assert spread == every  # ``spread``: the process's CPUs again
    assert during == every  # ``unpinned``: for the block, then back on its core
    assert cores.available() == every  # the test's own thread was never pinned


def test_a_pinned_thread_explains_many_rows_alone_with_the_numbers_of_the_kernel_s_team() -> None:
    # A team of numba threads started by a pinned thread would share its core: it runs
    # the kernel itself, with the same numbers.
    from service.engine import Engine
    from service.models.registry import ModelRegistry
    from service.results import ExplainSpec

    settings = make_settings(EXAMPLE_MODELS)
    registry = ModelRegistry(settings)
    registry.load_all()
    engine = Engine(registry, settings)
    X = registry.get("german_credit").bundle.background[:80]
    assert len(X) >= PARALLEL_MIN_ROWS  # a team's work, unpinned
    spec = ExplainSpec(method="tree_shap", output="raw", compact=True)

    def values() -> np.ndarray:
        return engine.explain_rows("german_credit", X, spec, record=False).explanation.values

    def pinned_values() -> np.ndarray:
        cores.pin(min(cores.available()))
        assert cores.pinned()
        return values()

    np.testing.assert_array_equal(_in_thread(pinned_values), values())


def test_serve_pins_only_when_on_and_there_is_a_core_for_every_worker(
    tiny_models_dir: Path,
) -> None:
    cpus = len(cores.available())
    made = _cores(make_settings(tiny_models_dir, workers=cpus))
    assert made.cores_dir is not None
    assert made.cores_dir.is_dir()
    made.cores_dir.rmdir()
    assert _cores(make_settings(tiny_models_dir, workers=cpus + 1)).cores_dir is None
    assert _cores(make_settings(tiny_models_dir, workers=1, pin_cores=False)).cores_dir is None
    # a folder the operator gives is used as it is (servers on one host share it), and
    # only while pinning is on
    shared = tiny_models_dir.parent / "cores"
    assert _cores(make_settings(tiny_models_dir, workers=1, cores_dir=shared)).cores_dir == shared
    off = make_settings(tiny_models_dir, workers=1, cores_dir=shared, pin_cores=False)
    assert _cores(off).cores_dir is None


def test_a_thread_that_cannot_be_pinned_still_runs_and_says_so() -> None:
    # A pool's thread whose initializer raised would make the pool refuse all its work.
    missing = max(cores.available()) + 1000  # no such CPU: EINVAL

    def try_pin() -> frozenset[int]:
        cores.pin(missing)
        return cores.available()

    with capture_logs() as logs:
        assert _in_thread(try_pin) == cores.available()
    assert [e["event"] for e in logs] == ["service.pin_failed"]


def test_a_worker_that_cannot_claim_a_core_serves_unpinned(
    tiny_models_dir: Path, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from service.api.app import create_app

    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    settings = make_settings(tiny_models_dir, cores_dir=blocked / "cores")
    app = create_app(settings)
    with capture_logs() as logs, TestClient(app) as client:
        assert client.get("/health/live").status_code == 200
    assert "service.not_pinned" in [e["event"] for e in logs]
