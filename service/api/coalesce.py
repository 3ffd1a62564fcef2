"""Explain requests that wait together are explained together.

Under load a worker's explain requests queue for its compute threads. Most ask the same
thing of the same model (one applicant's row, ``tree_shap``, the app's options), and each
alone spends most of its time fetching what the previous one used from memory: the path
tables (1.3 MB for german_credit), the model's trees in ONNX Runtime, the code and data of
what people are told, the audit store's pages. Explained one at a time on a busy 2-core
machine, one german_credit row cost the compute thread 2.4-2.7 ms, where the same row in a
tight loop costs 1.4 ms; eight rows in one pass cost 1.0-1.45 ms each (measured in process
with the caches cleared between passes, as other requests clear them in a server).

``Coalescer.explain`` lets a request join the batch of the same model and spec that is
waiting for a compute thread, when the rows would get the same numbers together as alone
(``Engine.stacks``: exact tree_shap from the path tables, every step row by row). The
compute thread that takes the batch closes it (later requests gather in the next one) and
runs ``Engine.explain_batch``: each request is still validated, answered and recorded as
its own explanation, and one that fails (an invalid instance) fails alone. With one request
at a time a batch holds one request, explained as ``Engine.explain`` explains it.

Batches run on a compute pool of their own with one thread (the ``lane``), one batch per
model and spec at a time: the next gathers the requests that arrive while one runs and
goes in when it ends, so under load a batch holds what arrives during one pass, and each
pass finds in its caches what the last one used, where the shared pool's threads took turns
(under 16 clients, one thread against two per worker: 1.09-1.17x the explanations/s).
Requests that cannot share a pass (the sampled methods, which may run for seconds) go to
the shared pool and never hold up the lane. A batch is one run of the lane: it waits in its
queue, counts once against its bound, and shares its time limit. It holds at most
``max_rows`` rows (``CLARION_COALESCE_ROWS``; 0 turns coalescing off). Operators see what
coalescing does in ``clarion_explain_pass_requests{model}``, the requests each pass answered.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from service.api.metrics import Metrics
from service.api.pool import ComputePool
from service.engine import Engine
from service.results import ExplainResult, ExplainSpec, Origin

__all__ = ["Coalescer"]

log = structlog.get_logger(__name__)


@dataclass(eq=False)
class _Entry:
    instances: Sequence[Any]
    origin: Origin
    answer: asyncio.Future[ExplainResult]


@dataclass(eq=False)
class _Batch:
    name: str
    spec: ExplainSpec
    entries: list[_Entry]
    rows: int
    run: asyncio.Future[Sequence[ExplainResult | BaseException]] | None = field(
        default=None, repr=False
    )  # the lane's future, once the batch is started


class Coalescer:
    """Explains requests that can share a pass in batches on ``lane``, the others one by
    one on ``pool`` (the module docstring says when and why)."""

    def __init__(
        self,
        engine: Engine,
        pool: ComputePool,
        *,
        lane: ComputePool,
        max_rows: int,
        metrics: Metrics | None = None,
    ) -> None:
        self.engine = engine
        self.pool = pool  # requests that cannot share a pass
        self.lane = lane  # batches: one thread, so that each pass finds the last one's caches
        self.max_rows = max_rows
        self.metrics = metrics  # clarion_explain_pass_requests: what coalescing does
        self.batches = 0  # batches run, and the requests they carried (tests, logs)
        self.requests = 0
        self._open: dict[tuple[str, str], _Batch] = {}  # gathering requests
        self._running: set[tuple[str, str]] = set()  # a batch of these is in the lane
        self._lock = threading.Lock()  # the loop adds to a batch, a compute thread closes it

    async def explain(
        self, name: str, instances: Sequence[Any], spec: ExplainSpec, origin: Origin
    ) -> ExplainResult:
        if len(instances) >= self.max_rows or not self._stacks(name, spec):
            return await self.pool.run(self.engine.explain, name, instances, spec, origin=origin)
        loop = asyncio.get_running_loop()
        entry = _Entry(instances, origin, loop.create_future())
        key = (name, repr(spec))
        start = False
        with self._lock:
            batch = self._open.get(key)
            joined = batch is not None and batch.rows + len(instances) <= self.max_rows
            if batch is not None and joined:
                batch.entries.append(entry)
                batch.rows += len(instances)
            else:
                batch = self._open[key] = _Batch(name, spec, [entry], len(instances))
                start = key not in self._running  # else it starts when the running one ends
                self._running.add(key)
        if start:
            self._start(key, batch)
        try:
            return await entry.answer
        except asyncio.CancelledError:  # the client went away: if all did, stop the work
            if batch.run is not None and all(e.answer.cancelled() for e in batch.entries):
                batch.run.cancel()
            raise

    def _stacks(self, name: str, spec: ExplainSpec) -> bool:
        try:
            return self.engine.stacks(name, spec)
        except Exception:  # an unknown model or output: the request's own run says so
            return False

    def _start(self, key: tuple[str, str], batch: _Batch) -> None:
        """Hand ``batch`` to the lane; ``_finish`` answers its callers when it ends, refused
        (``Overloaded``) or not. No task stands in between: a task per batch cost the loop
        two more turns per request."""
        try:
            batch.run = self.lane.start(self._work, key, batch)
        except Exception as exc:  # refused: the batch ends at once, as any batch ends
            batch.run = asyncio.get_running_loop().create_future()
            batch.run.set_exception(exc)
        batch.run.add_done_callback(functools.partial(self._finish, key, batch))

    def _finish(
        self,
        key: tuple[str, str],
        batch: _Batch,
        run: asyncio.Future[Sequence[ExplainResult | BaseException]],
    ) -> None:
        """On the loop, once the lane is done with ``batch``: answer its callers, start the
        next batch of ``key``. Cancelled, every caller had gone away. A batch the lane never
        took (refused, or cancelled first) is still open; ``_next`` drops it once every
        caller has its answer, or runs it for callers that joined after the others left."""
        try:
            if run.cancelled():
                return
            exc = run.exception()
            outcomes = [exc] * len(batch.entries) if exc is not None else run.result()
            for entry, outcome in zip(batch.entries, outcomes, strict=True):
                if entry.answer.done():  # its caller went away
                    continue
                if isinstance(outcome, BaseException):
                    entry.answer.set_exception(outcome)
                else:
                    entry.answer.set_result(outcome)
        finally:  # whatever happened, the next batch of this key is not left waiting
            self._next(key)

    def _next(self, key: tuple[str, str]) -> None:
        """A batch of ``key`` ended: start the one that gathered meanwhile, if any."""
        with self._lock:
            waiting = self._open.get(key)
            if waiting is not None and all(e.answer.done() for e in waiting.entries):
                del self._open[key]  # everyone has an answer, or went away, while it gathered
                waiting = None
            if waiting is None:
                self._running.discard(key)
                return
        self._start(key, waiting)

    def _work(self, key: tuple[str, str], batch: _Batch) -> Sequence[ExplainResult | BaseException]:
        """On a compute thread: close the batch, then explain what it holds."""
        self._close(key, batch)
        entries = batch.entries  # final once closed
        self.batches += 1
        self.requests += len(entries)
        if self.metrics is not None:
            self.metrics.pass_requests.labels(model=batch.name).observe(len(entries))
        if len(entries) > 1:
            log.debug("explain.coalesced", model=batch.name, requests=len(entries), rows=batch.rows)
        requests = [(e.instances, e.origin) for e in entries]
        return self.engine.explain_batch(batch.name, requests, batch.spec)

    def _close(self, key: tuple[str, str], batch: _Batch) -> None:
        with self._lock:
            if self._open.get(key) is batch:
                del self._open[key]
