"""Which core a worker's event loop and its compute lane share.

A one-row explanation crosses two threads of its worker: the event loop reads the request
and writes the answer, the compute lane (``service.api.coalesce``) explains and records
it in between. The two never run Python at once (the GIL), yet left to the scheduler they
sit on different cores: each hand-over wakes a sleeping thread on another core, and each
finds its core's caches holding something else. ``clarion serve`` gives each worker one
core of its own for the two (Linux; when there are at least as many CPUs as workers,
``CLARION_PIN_CORES``, default on). Two 2-worker servers taking turns with the bare predict
service in 1-s slices on the 2-core development host: at 1 client, pinned 2.87-2.90x the
bare service's p50 against 3.07-3.13x unpinned (0.93x); at 16 clients 1.06-1.07x the
explanations/s. Pinning either thread alone did nothing (3.01-3.05x), and pinning whole
worker processes made a 100-row request 10-20% slower: its kernel then ran on one core
(``docs/performance.md``). The hand-over alone (``bench/thread_hop.py``): a round trip
from the loop to a thread and back took 79-83 us unpinned and 14 us on one core.

A thread starts with the CPUs of the thread that started it, so only these two are
pinned, and threads that do work of their own and may be started by them (the shared
compute pool, SQLite's checkpoints) call ``spread`` first; ``unpinned`` covers the start
of child processes (the local Dask cluster). The threads FastAPI starts for routes declared
with ``def`` (reads and administration, light) stay on the loop's core. A pinned thread runs
numba kernels on itself: the team of threads it started would share its core (``pinned``).

Workers claim a core each with a lock file in a folder that ``clarion serve`` makes for
them (``Settings.cores_dir``); a worker that restarts takes the core its predecessor held,
which the operating system let go of with it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from pathlib import Path

import structlog

__all__ = ["available", "claim", "pin", "pinned", "spread", "unpinned"]

log = structlog.get_logger(__name__)

_spread: frozenset[int] | None = None  # this process's CPUs, recorded by the first ``pin``
_held: list[int] = []  # the claim's lock file, open for the process's life


def available() -> frozenset[int]:
    """The CPUs this thread may run on; empty where the platform cannot pin threads."""
    if not hasattr(os, "sched_setaffinity"):
        return frozenset()
    return frozenset(os.sched_getaffinity(0))


def claim(folder: Path) -> int | None:
    """The first of this process's CPUs that no other worker has claimed in ``folder``,
    held until the process ends; None when every one is taken or none can be pinned."""
    cpus = sorted(available())
    if not cpus:
        return None
    import fcntl  # POSIX, as pinning is

    folder.mkdir(parents=True, exist_ok=True)
    for cpu in cpus:
        fd = os.open(folder / f"cpu-{cpu}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another worker's
            os.close(fd)
            continue
        _held.append(fd)
        return cpu
    return None


def pin(cpu: int) -> None:
    """Run the calling thread on ``cpu`` alone (the first call records the process's CPUs,
    which ``spread`` gives back). Never raises: a thread pool whose initializer raised
    would refuse all its work, and a thread that cannot be pinned still serves."""
    global _spread
    if _spread is None:
        _spread = available()
    _set({cpu})


def spread() -> None:
    """Let the calling thread run on all of the process's CPUs again (a no-op until a
    thread of this process has been pinned). Never raises, as ``pin``."""
    if _spread:
        _set(_spread)


def _set(cpus: AbstractSet[int]) -> None:
    try:
        os.sched_setaffinity(0, cpus)  # 0: the calling thread (Linux)
    except OSError as exc:  # the CPU went away (a container's cpuset changed): run anywhere
        log.warning("service.pin_failed", cpus=sorted(cpus), error=str(exc))


def pinned() -> bool:
    """Whether the calling thread may run on one CPU only."""
    return len(available()) == 1


@contextlib.contextmanager
def unpinned() -> Iterator[None]:
    """The calling thread on all of the process's CPUs for the block (what it starts
    meanwhile, a process or a thread, starts so), then back on its own."""
    before = available()
    if not _spread or before == _spread:
        yield
        return
    os.sched_setaffinity(0, _spread)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
