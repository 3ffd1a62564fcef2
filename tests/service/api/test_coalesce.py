"""Explain requests that wait together are explained together (``service.api.coalesce``),
and each still gets what it would get alone: the same numbers to the bit, the same answer,
its own record, which replays identically; an invalid one fails alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest

from service.api.coalesce import Coalescer
from service.api.pool import ComputePool
from service.audit.replay import replay
from service.audit.trail import AuditTrail
from service.engine import Engine
from service.errors import InvalidInput, Overloaded
from service.models.instances import decode_row
from service.models.registry import ModelRegistry
from service.results import ExplainResult, ExplainSpec, Origin
from service.wire import mapping
from tests.helpers.audit import audit_settings

MODELS = Path(__file__).resolve().parents[3] / "models"
TREES = ["german_credit", "breast_cancer", "diabetes_progression"]  # exact tree_shap, raw
RAW = ExplainSpec(method="tree_shap", output="raw")


@pytest.fixture
def served(database_url: str) -> Iterator[tuple[Engine, AuditTrail]]:
    settings = audit_settings(MODELS, database_url)
    trail = AuditTrail.open(settings)
    registry = ModelRegistry(settings)
    for name in TREES:
        registry.load_one(name)
    yield Engine(registry, settings, recorder=trail.recorder), trail
    trail.store.close()


def _coalescer(engine: Engine, max_rows: int = 16) -> Coalescer:
    """As the service makes it: a shared pool, and a lane of one thread for the batches."""
    pools = [ComputePool(threads=n, queue=8) for n in (2, 1)]
    return Coalescer(engine, pools[0], lane=pools[1], max_rows=max_rows)


def _close(coalescer: Coalescer) -> None:
    coalescer.pool.close()
    coalescer.lane.close()


def _rows(engine: Engine, name: str, n: int) -> list[dict[str, Any]]:
    model = engine.registry.get(name)
    return [decode_row(model.bundle.card, x) for x in model.bundle.background[:n]]


def _together(
    coalescer: Coalescer, name: str, requests: Sequence[Sequence[Any]], spec: ExplainSpec
) -> list[ExplainResult | BaseException]:
    """``requests`` sent at once while the pool's one thread is busy, so that they wait
    together; then the thread is freed."""
    out: list[ExplainResult | BaseException | None] = [None] * len(requests)
    release = threading.Event()

    async def one(i: int) -> None:
        try:
            out[i] = await coalescer.explain(name, requests[i], spec, Origin(request_id=f"r{i}"))
        except Exception as exc:
            out[i] = exc

    async def scenario() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(coalescer.lane.run, release.wait)
            while coalescer.lane.admitted == 0:
                await anyio.sleep(0.001)
            for i in range(len(requests)):
                tasks.start_soon(one, i)
            while sum(len(b.entries) for b in coalescer._open.values()) < len(requests):
                await anyio.sleep(0.001)
            release.set()

    anyio.run(scenario)
    _close(coalescer)
    assert all(r is not None for r in out)
    return [r for r in out if r is not None]


def _wire(result: ExplainResult) -> dict[str, Any]:
    """The response without what differs between two explanations of the same rows."""
    return {k: v for k, v in mapping.explain_json(result).items() if k not in ("id", "timing")}


@pytest.mark.parametrize("name", TREES)
def test_requests_waiting_together_get_what_each_gets_alone(
    served: tuple[Engine, AuditTrail], name: str
) -> None:
    engine, trail = served
    rows = _rows(engine, name, 9)
    requests = [rows[0:1], rows[1:2], rows[2:5], rows[5:6], rows[6:9]]  # 9 rows, 5 requests
    coalescer = _coalescer(engine)
    assert engine.stacks(name, RAW)

    results = _together(coalescer, name, requests, RAW)

    assert (coalescer.batches, coalescer.requests) == (1, len(requests))  # one pass
    assert len({r.id for r in results if isinstance(r, ExplainResult)}) == len(requests)
    for instances, result in zip(requests, results, strict=True):
        assert isinstance(result, ExplainResult)
        alone = engine.explain(name, instances, RAW, record=False)
        for field in ("values", "base_values", "outputs"):  # bit for bit
            got, want = getattr(result.explanation, field), getattr(alone.explanation, field)
            assert got.shape == want.shape, field
            assert np.array_equal(got, want), field
        assert _wire(result) == _wire(alone)
        assert {"validate_ms", "compute_ms", "people_ms", "audit_ms", "total_ms"} <= set(
            result.timing
        )
        # its own record, which replays as the request alone would
        record = trail.store.get_record(result.id)
        assert record.n_instances == len(instances)
        assert replay(trail.store, engine, result.id, trail.sealer).identical


def test_an_invalid_request_fails_alone_with_its_own_error(
    served: tuple[Engine, AuditTrail],
) -> None:
    engine, trail = served
    rows = _rows(engine, "german_credit", 3)
    broken = {k: v for k, v in rows[1].items() if k != "age"}
    coalescer = _coalescer(engine)

    first, failed, last = _together(coalescer, "german_credit", [rows[:1], [broken], rows[2:]], RAW)

    assert coalescer.requests == 3
    with pytest.raises(InvalidInput) as alone:
        engine.explain("german_credit", [broken], RAW, record=False)
    assert isinstance(failed, InvalidInput)
    assert (failed.message, failed.details) == (alone.value.message, alone.value.details)
    for result in (first, last):
        assert isinstance(result, ExplainResult)
        assert trail.store.get_record(result.id).n_instances == 1


@pytest.mark.parametrize(
    ("spec", "max_rows"),
    [
        (ExplainSpec(method="kernel_shap", options={"nsamples": 64}), 16),  # sampled: alone
        (RAW, 0),  # CLARION_COALESCE_ROWS=0
    ],
    ids=["sampled method", "turned off"],
)
def test_requests_that_cannot_share_a_pass_run_one_by_one(
    served: tuple[Engine, AuditTrail], spec: ExplainSpec, max_rows: int
) -> None:
    engine, _ = served
    rows = _rows(engine, "german_credit", 2)
    coalescer = _coalescer(engine, max_rows)

    results = _requests_one_by_one(coalescer, [rows[:1], rows[1:]], spec)

    assert all(isinstance(r, ExplainResult) for r in results)
    assert coalescer.batches == 0  # straight to the pool, one run each


def _requests_one_by_one(
    coalescer: Coalescer, requests: Sequence[Sequence[Any]], spec: ExplainSpec
) -> list[ExplainResult]:
    async def scenario() -> list[ExplainResult]:
        return [await coalescer.explain("german_credit", r, spec, Origin()) for r in requests]

    try:
        return anyio.run(scenario)
    finally:
        _close(coalescer)


def test_a_batch_whose_callers_all_went_away_is_not_run(
    served: tuple[Engine, AuditTrail],
) -> None:
    engine, _ = served
    rows = _rows(engine, "german_credit", 2)
    pool = ComputePool(threads=1, queue=8)
    coalescer = Coalescer(engine, pool, lane=pool, max_rows=16)
    release = threading.Event()

    async def scenario() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(pool.run, release.wait)
            while pool.admitted == 0:
                await anyio.sleep(0.001)
            async with anyio.create_task_group() as callers:
                for row in rows:
                    callers.start_soon(coalescer.explain, "german_credit", [row], RAW, Origin())
                while sum(len(b.entries) for b in coalescer._open.values()) < len(rows):
                    await anyio.sleep(0.001)
                callers.cancel_scope.cancel()  # both clients went away
            release.set()
        while pool.admitted:
            await anyio.sleep(0.001)

    anyio.run(scenario)
    pool.close()
    assert coalescer.batches == 0  # cancelled while it waited: never run


def test_a_batch_the_full_lane_refuses_answers_503_and_the_next_one_runs(
    served: tuple[Engine, AuditTrail],
) -> None:
    """A lane with no room refuses a batch at once (``Overloaded``, 503 with Retry-After)
    and the model and spec are not left marked as running: the next request is served."""
    engine, _ = served
    rows = _rows(engine, "german_credit", 2)
    lane = ComputePool(threads=1, queue=0)
    coalescer = Coalescer(engine, ComputePool(threads=1, queue=0), lane=lane, max_rows=16)
    release = threading.Event()
    out: list[ExplainResult | BaseException] = []

    async def scenario() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(lane.run, release.wait)
            while lane.admitted == 0:
                await anyio.sleep(0.001)
            try:
                await coalescer.explain("german_credit", [rows[0]], RAW, Origin())
            except Overloaded as exc:
                out.append(exc)
            release.set()
        out.append(await coalescer.explain("german_credit", [rows[1]], RAW, Origin()))

    try:
        anyio.run(scenario)
    finally:
        _close(coalescer)
    refused, served_after = out
    assert isinstance(refused, Overloaded)
    assert refused.status_code == 503
    assert isinstance(served_after, ExplainResult)
    assert coalescer._open == {}
    assert coalescer._running == set()


class _Gated(Engine):
    """An engine whose first pass waits for ``gate`` (a pass in progress)."""

    gate = threading.Event()
    first = True

    def explain_batch(self, *args: Any, **kwargs: Any) -> list[ExplainResult | BaseException]:
        if self.first:
            self.first = False
            assert self.gate.wait(timeout=30)
        return super().explain_batch(*args, **kwargs)


def test_requests_arriving_during_a_pass_gather_for_the_next_one(
    served: tuple[Engine, AuditTrail],
) -> None:
    """One batch of a model and spec in the lane at a time: what arrives during a pass
    waits, together, and goes in one pass when the first ends."""
    engine, _ = served
    gated = _Gated(engine.registry, engine.settings, recorder=engine.recorder)
    rows = _rows(engine, "german_credit", 5)
    coalescer = _coalescer(gated)
    out: list[ExplainResult] = []

    async def one(row: dict[str, Any]) -> None:
        out.append(await coalescer.explain("german_credit", [row], RAW, Origin()))

    async def scenario() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(one, rows[0])
            while "german_credit" not in {key[0] for key in coalescer._running}:
                await anyio.sleep(0.001)
            while coalescer.batches == 0:  # the first pass has started (and waits)
                await anyio.sleep(0.001)
            for row in rows[1:]:
                tasks.start_soon(one, row)
            while sum(len(b.entries) for b in coalescer._open.values()) < 4:
                await anyio.sleep(0.001)
            gated.gate.set()

    anyio.run(scenario)
    _close(coalescer)
    assert len(out) == 5
    assert (coalescer.batches, coalescer.requests) == (2, 5)  # 1 request, then 4 together
