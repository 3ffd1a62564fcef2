"""The compute pool: explanations and predictions run on a bounded set of threads per
worker process, never on the event loop, behind a bounded queue.

The event loop only parses, routes and writes responses, so health checks and other
light requests answer while explanations run. When every thread is busy and the queue
is full, a request is refused at once with 503 and ``Retry-After`` (``Overloaded``)
instead of joining an unbounded backlog that would time every caller out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from service.errors import Overloaded

__all__ = ["ComputePool"]

T = TypeVar("T")


class ComputePool:
    """``threads`` running at once, ``queue`` more waiting; beyond that, ``Overloaded``.

    Create it inside the event loop (the lifespan). Admission is counted on the event
    loop's own thread, so it needs no lock.
    """

    def __init__(self, *, threads: int, queue: int) -> None:
        self.threads = threads
        self.capacity = threads + queue
        self.admitted = 0
        self._limiter = anyio.CapacityLimiter(threads)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self.admitted >= self.capacity:
            raise Overloaded(
                f"the service is busy: {self.threads} explanations are running and "
                f"{self.capacity - self.threads} are waiting; retry shortly",
                details={"problem": "compute queue full", "capacity": self.capacity},
            )
        self.admitted += 1
        try:
            call = functools.partial(fn, *args, **kwargs)
            return await anyio.to_thread.run_sync(call, limiter=self._limiter)
        finally:
            self.admitted -= 1
