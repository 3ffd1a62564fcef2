"""The compute pool: explanations and predictions run on a bounded set of threads per
worker process, never on the event loop, behind a bounded queue.

The event loop only parses, routes and writes responses, so health checks and other
light requests answer while explanations run. When every thread is busy and the queue
is full, a request is refused at once with 503 and ``Retry-After`` (``Overloaded``)
instead of joining an unbounded backlog that would time every caller out.

Time limits are answered from here: the work tells the pool when its deadline starts
(``service.explain.deadline``), and the pool answers 503 at that moment even if the
work is between two of its checks. The work keeps its thread (and its place in the
count) until it has actually stopped, so the bound on threads and memory holds.

The work tells the pool by putting its deadline where the loop looks, not by waking the
loop: a wake-up in the middle of a computation takes the GIL from it, and on an idle host
each cost a one-row explanation some 0.3 ms (``bench/hot_path.py``). The loop looks
``LOOK_S`` after a run starts and every ``LOOK_S`` after that while it runs, and sets an
exact timer for each deadline it finds: a run shorter than that is never looked at, and
a limit is answered at its time, or ``LOOK_S`` late for a limit shorter than that.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from service.errors import Overloaded
from service.explain.deadline import Deadline, watch_deadlines

__all__ = ["LOOK_S", "ComputePool"]

T = TypeVar("T")

LOOK_S = 0.02
"""How often the loop looks for the deadlines of a run in progress."""


class ComputePool:
    """``threads`` running at once, ``queue`` more waiting; beyond that, ``Overloaded``.
    Each thread calls ``initializer`` first (``service.cores``: where it runs).

    Create it inside the event loop (the lifespan) and ``close`` it there. Admission is
    counted on the event loop's own thread, so it needs no lock.
    """

    def __init__(
        self, *, threads: int, queue: int, initializer: Callable[[], None] | None = None
    ) -> None:
        self.threads = threads
        self.capacity = threads + queue
        self.admitted = 0
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="clarion-compute", initializer=initializer
        )

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on a compute thread; its result, or what it raised.
        Cancelled (the client went away): the work is cancelled too (``start``)."""
        return await self.start(fn, *args, **kwargs)

    def start(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        """Admit ``fn(*args, **kwargs)`` (``Overloaded`` when the pool is full) and start it
        on a compute thread; the future of its result, set on the loop. Cancelling the
        future cancels the work if it has not started, and abandons its time limits if it
        has. On the event loop's thread. ``run`` awaits it; ``Coalescer`` hands the result
        on from a done callback, with no task of its own in between."""
        if self.admitted >= self.capacity:
            raise Overloaded(
                f"the service is busy: {self.threads} explanations are running and "
                f"{self.capacity - self.threads} are waiting; retry shortly",
                details={"problem": "compute queue full", "capacity": self.capacity},
            )
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[T] = loop.create_future()
        limits: list[Deadline] = []  # appended by the compute thread (atomic under the GIL)
        timers: list[asyncio.TimerHandle] = []
        armed = 0  # limits[:armed] have their timers
        looking: asyncio.TimerHandle | None = None

        def expire(limit: Deadline) -> None:  # on the loop, at the deadline
            if not answer.done() and limit.abandon():
                answer.set_exception(limit.error())

        def look() -> None:  # on the loop, every LOOK_S while the work runs
            nonlocal armed, looking
            while armed < len(limits):
                limit = limits[armed]
                armed += 1
                wait = max(0.0, limit.expires - time.monotonic())
                timers.append(loop.call_later(wait, expire, limit))
            looking = loop.call_later(LOOK_S, look)

        def done(work: concurrent.futures.Future[T]) -> None:  # on the loop, once it stopped
            self.admitted -= 1
            if looking is not None:
                looking.cancel()
            for timer in timers:
                timer.cancel()
            if answer.done():
                if not work.cancelled():
                    work.exception()  # retrieved: an abandoned run's timeout is expected
                return
            if work.cancelled():
                answer.cancel()
            elif (exc := work.exception()) is not None:
                answer.set_exception(exc)
            else:
                answer.set_result(work.result())

        def given_up(answer: asyncio.Future[T]) -> None:  # the client went away: stop the work
            if answer.cancelled():
                work.cancel()  # if it has not started
                for limit in limits:
                    limit.abandon()

        context = contextvars.copy_context()  # logging, tracing and metrics go along
        context.run(watch_deadlines, limits.append)
        call = functools.partial(context.run, fn, *args, **kwargs)
        self.admitted += 1
        # The executor's future, handed to the loop by one callback: ``run_in_executor``
        # chains a second, asyncio future to it, some 20 us more of the loop's time per run.
        work = self._executor.submit(call)
        work.add_done_callback(functools.partial(_on_loop, loop, done))
        looking = loop.call_later(LOOK_S, look)
        answer.add_done_callback(given_up)
        return answer

    def close(self) -> None:
        """Let queued work go; running work ends at its next check (``cancel_runs``)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _on_loop(
    loop: asyncio.AbstractEventLoop,
    callback: Callable[[concurrent.futures.Future[T]], None],
    work: concurrent.futures.Future[T],
) -> None:
    """``callback(work)`` on ``loop``, from the thread that ended the work; nothing once the
    loop is closed (the service stopped while the work ran)."""
    with contextlib.suppress(RuntimeError):  # closed
        loop.call_soon_threadsafe(callback, work)
