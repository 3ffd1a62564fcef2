"""What a hand-over between an event loop and a compute thread costs, pinned and not.

A one-row explanation crosses from the event loop to the compute lane and back
(``service.api.pool``, ``service.api.coalesce``). This script does only that: an asyncio
loop (uvloop, as uvicorn runs it) submits a task to a one-thread executor and awaits its
result through ``call_soon_threadsafe``, as ``ComputePool`` does. It runs the round trip
with the two threads left to the scheduler, and with both pinned to one core
(``service.cores``, what ``clarion serve`` does), in alternating blocks, with no work and
with some Python work on the thread, and prints the medians and their ratio.

Linux only (thread affinity). Usage: python bench/thread_hop.py [--trips 20000] [--work 0]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable

import uvloop


def _busy(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def _answer(loop: asyncio.AbstractEventLoop, answer: asyncio.Future[None], _: object) -> None:
    """On the thread that ran the work: hand the answer to the loop (``ComputePool``)."""
    loop.call_soon_threadsafe(answer.set_result, None)


async def _trips(
    executor: concurrent.futures.ThreadPoolExecutor, trips: int, work: int
) -> list[float]:
    loop = asyncio.get_running_loop()
    out = []
    for _ in range(trips):
        start = time.perf_counter()
        answer: asyncio.Future[None] = loop.create_future()
        done = executor.submit(_busy, work)
        done.add_done_callback(functools.partial(_answer, loop, answer))
        await answer
        out.append((time.perf_counter() - start) * 1e6)
        await asyncio.sleep(0.0002)  # a gap between requests, as at 1 client
    return out


def _run(pinned: bool, trips: int, work: int) -> float:
    """The median round trip in microseconds, in a fresh loop and executor."""
    cpu = min(os.sched_getaffinity(0))
    every = os.sched_getaffinity(0)

    def here() -> None:
        os.sched_setaffinity(0, {cpu} if pinned else every)

    executor = concurrent.futures.ThreadPoolExecutor(1, initializer=here)

    async def main() -> list[float]:
        here()
        try:
            return await _trips(executor, trips, work)
        finally:
            os.sched_setaffinity(0, every)

    try:
        times = uvloop.run(main())
    finally:
        executor.shutdown()
    return statistics.median(times[trips // 10 :])  # the first tenth warms up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trips", type=int, default=20_000, help="round trips per block")
    parser.add_argument("--blocks", type=int, default=3, help="alternating blocks per variant")
    parser.add_argument(
        "--work", type=int, default=0, help="loop iterations of Python work on the thread"
    )
    args = parser.parse_args()
    if not hasattr(os, "sched_setaffinity"):
        sys.exit("thread affinity is Linux only")
    variants: dict[str, Callable[[], float]] = {
        "unpinned": lambda: _run(False, args.trips, args.work),
        "pinned to one core": lambda: _run(True, args.trips, args.work),
    }
    medians: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.blocks):
        for name, run in variants.items():
            medians[name].append(run())
    for name, values in medians.items():
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name:<20} round trip p50 (us): {shown}; median {statistics.median(values):.1f}")
    ratio = statistics.median(medians["pinned to one core"]) / statistics.median(
        medians["unpinned"]
    )
    print(f"pinned / unpinned: {ratio:.2f}x (work on the thread: {args.work} iterations)")


if __name__ == "__main__":
    main()
