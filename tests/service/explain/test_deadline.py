"""The two halves of a time limit (service.explain.deadline): the work checks it, the
caller answers at it, and exactly one of them wins the race at the deadline."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from service.api.pool import ComputePool
from service.errors import ExplanationTimeout
from service.explain.deadline import Deadline, check_deadline, current_deadline, deadline


def test_work_checks_its_own_deadline_only_inside_the_block() -> None:
    assert current_deadline() is None
    with deadline(0.01):
        limit = current_deadline()
        assert limit is not None
        check_deadline()
        time.sleep(0.02)
        with pytest.raises(ExplanationTimeout, match=r"limit of 0\.01 s"):
            check_deadline()
    assert current_deadline() is None
    check_deadline()  # no limit outside


def test_finished_work_wins_over_a_late_abandon() -> None:
    limit = Deadline(10, "CLARION_EXPLAIN_TIMEOUT_S")
    limit.finish()
    assert limit.abandon() is False  # the caller must wait for the result


def test_abandoned_work_cannot_finish_and_stops_at_its_next_check() -> None:
    limit = Deadline(10, "CLARION_EXPLAIN_TIMEOUT_S")
    assert limit.abandon() is True
    assert limit.expires <= time.monotonic()  # the ONNX Runtime watchdog stops the run now
    with pytest.raises(ExplanationTimeout):
        limit.check()
    with pytest.raises(ExplanationTimeout):
        limit.finish()


def _work(between_checks_s: float, recorded: list[str]) -> str:
    """Work that runs ``between_checks_s`` without looking at its deadline, then records."""
    with deadline(0.2):
        time.sleep(between_checks_s)
        check_deadline()
    recorded.append("record")
    return "done"


def test_the_pool_answers_at_the_deadline_and_the_late_work_records_nothing() -> None:
    recorded: list[str] = []

    async def main() -> tuple[float, float]:
        pool = ComputePool(threads=1, queue=0)
        start = time.monotonic()
        with pytest.raises(ExplanationTimeout):
            await pool.run(_work, 0.6, recorded)
        answered = time.monotonic() - start
        while pool.admitted:  # the work keeps its thread until it stops
            await asyncio.sleep(0.01)
        pool.close()
        return answered, time.monotonic() - start

    answered, stopped = asyncio.run(main())
    assert answered < 0.2 * 1.1, answered  # not at the work's next check (0.6 s)
    assert stopped >= 0.6
    assert recorded == []


def test_work_that_finishes_in_time_is_delivered() -> None:
    recorded: list[str] = []

    async def main() -> str:
        pool = ComputePool(threads=1, queue=0)
        try:
            return await pool.run(_work, 0.0, recorded)
        finally:
            pool.close()

    assert asyncio.run(main()) == "done"
    assert recorded == ["record"]


def test_a_caller_that_goes_away_stops_the_work() -> None:
    seen: list[Deadline] = []
    released = threading.Event()

    def work() -> None:
        with deadline(30):
            limit = current_deadline()
            assert limit is not None
            seen.append(limit)
            while not limit.passed():
                time.sleep(0.01)
            released.set()

    async def main() -> None:
        pool = ComputePool(threads=1, queue=0)
        task = asyncio.create_task(pool.run(work))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        pool.close()

    asyncio.run(main())
    assert released.wait(5), "the work went on after its caller left"
