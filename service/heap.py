"""The process's long-lived objects and Python's cyclic garbage collector.

A served process holds some 250,000 objects the collector tracks (the models' cards and
sessions, the path tables' Python parts, pydantic schemas, imported libraries) that live
as long as the process. Every full collection walks all of them: with a 100-row explain
request allocating enough to trigger a few, collections took a quarter of its time
(20 ms of 75 ms, in process). ``freeze_long_lived`` moves what exists now into the
collector's permanent generation, which collections skip (``gc.freeze``, the technique
CPython documents for long-lived servers): the same request then spent 1.9 ms collecting.

Reference counting is untouched, so frozen objects are still freed when their last
reference goes; only a reference cycle among them would outlive its use (a model
version deleted while serving can leave one behind). ``thaw``, when the service stops,
hands everything back to the collector: a process that builds and stops several apps
(the tests) does not keep the stopped ones.
"""

from __future__ import annotations

import gc

import structlog

__all__ = ["freeze_long_lived", "thaw"]

log = structlog.get_logger(__name__)


def freeze_long_lived(stage: str) -> None:
    """Collect the young generations' garbage, then freeze everything still alive;
    ``stage`` names the moment in the log (``started``, ``warm``). Not a full collection:
    that walks every object the process has, seconds in a test process that has built
    many apps, and what start-up leaves behind is young."""
    gc.collect(1)
    gc.freeze()
    log.debug("heap.frozen", stage=stage, objects=gc.get_freeze_count())


def thaw() -> None:
    """Give every frozen object back to the collector (the service is stopping)."""
    gc.unfreeze()
