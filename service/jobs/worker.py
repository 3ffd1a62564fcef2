"""What runs on a Dask worker: explain one partition and write its results.

A worker gets the bundle's bytes (no shared filesystem is assumed for models), checks
and loads them once per process, cached by SHA-256 (the tree tables are built then,
once), and explains its partition's rows through the same engine steps as an explain
request (``Engine.explain_numbers``), each row on its own exactly as a one-row request
with the same seed, except where a method's rows are independent of each other
(``Explainer.rows_independent``), which take rows in blocks. Rows whose values fail the
card's checks are written with their problem in ``error``.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog
from numpy.typing import NDArray

from service.jobs.files import JobFiles
from service.jobs.inputs import REFERENCE, table_from_ipc
from service.jobs.partitions import Partition
from service.jobs.results import RowNumbers, parquet_bytes, partition_table
from service.jobs.spec import Plan
from service.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "BundleParts",
    "PartitionDone",
    "PartitionTask",
    "explain_partition",
    "explain_table",
    "hold_bundle",
    "model_for",
    "worker_settings",
]

log = structlog.get_logger(__name__)

# What a worker needs of the service's settings (never its secrets or database).
_WORKER_FIELDS = (
    "providers",
    "ort_intra_op_threads",
    "predict_chunk_rows",
    "max_upload_bytes",
    "max_model_nodes",
    "max_background_rows",
    "default_seed",
    "max_explanation_rows",
    "max_explanation_bytes",
    # Where tree tables are cached on disk (``trees.store``): the service's folder, so a
    # local cluster's workers read the tables the service built; a remote worker that
    # cannot use the path rebuilds them.
    "data_dir",
)
_MAX_BLOCK_ROWS = 1_024
_BLOCK_MODEL_ROWS = 4_000_000  # model rows per block: bounds memory

_MAX_MODELS = 8  # loaded models a worker keeps, least recently used dropped first

_lock = threading.Lock()
_models: OrderedDict[str, Any] = OrderedDict()
_engines: dict[str, Any] = {}


@dataclass(frozen=True)
class BundleParts:
    """A bundle as bytes, as the worker receives it; ``sha256`` names it in caches."""

    model_bytes: bytes
    card_text: bytes
    background_csv: bytes
    sha256: str

    @classmethod
    def of(cls, model_bytes: bytes, card_text: bytes, background_csv: bytes) -> BundleParts:
        digest = hashlib.sha256()
        for part in (model_bytes, card_text, background_csv):
            digest.update(hashlib.sha256(part).digest())
        return cls(model_bytes, card_text, background_csv, digest.hexdigest())


@dataclass(frozen=True)
class PartitionTask:
    """One partition of a job: its rows as Arrow IPC bytes (features in card order, then
    ``reference`` if given), ``text`` for CSV cells."""

    job_id: str
    run_id: str
    partition: Partition
    plan: Plan
    rows_ipc: bytes
    text: bool
    files: JobFiles


@dataclass(frozen=True)
class PartitionDone:
    index: int
    rows: int
    failed: int
    seconds: float


def worker_settings(settings: Settings) -> dict[str, Any]:
    """The settings a worker runs with: no secrets, no database, no explanation deadline
    (a partition is not a request)."""
    return {name: getattr(settings, name) for name in _WORKER_FIELDS}


def hold_bundle(parts: BundleParts) -> BundleParts:
    """The task that holds a bundle's bytes: its result is what partitions depend on, so
    each worker fetches it once and the scheduler can recompute it if a worker dies."""
    return parts


def _engine(fields: Mapping[str, Any]) -> Any:
    from service.engine import Engine
    from service.models.registry import ModelRegistry

    key = repr(sorted(fields.items()))
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            settings = Settings.model_construct(**fields, explain_timeout_s=None)
            engine = _engines[key] = Engine(ModelRegistry(settings), settings)
    return engine


def _model(parts: BundleParts, settings: Settings) -> Any:
    from service.models.bundle import parse_bundle
    from service.models.registry import build_model, limits_from

    with _lock:
        loaded = _models.get(parts.sha256)
        if loaded is not None:
            _models.move_to_end(parts.sha256)
        else:
            start = time.perf_counter()
            bundle = parse_bundle(
                parts.model_bytes, parts.card_text, parts.background_csv, limits_from(settings)
            )
            loaded = _models[parts.sha256] = build_model(bundle, settings)
            while len(_models) > _MAX_MODELS:
                _models.popitem(last=False)
            log.info(
                "jobs.worker_model_loaded",
                model=bundle.card.name,
                sha256=parts.sha256[:12],
                ms=round((time.perf_counter() - start) * 1000, 1),
            )
    return loaded


def _block_rows(engine: Any, model: Any, plan: Plan) -> int:
    """Rows per call. A row must get the bits a one-row request gets, so rows go one at a
    time unless the method computes each row on its own (``rows_independent``; the job
    tests check every example model with every method). Blocks elsewhere
    can change the last bits: sampling methods draw their random numbers across the
    rows of a call, and evaluating coalitions in blocks regroups the sums (measured:
    exact_shap on diabetes_progression differs in the last bits)."""
    from service.explain.explainers import EXPLAINERS

    if not EXPLAINERS[plan.method].rows_independent(plan.output):  # the explainer knows
        return 1
    per_row = (
        EXPLAINERS[plan.method]
        .from_options(plan.options)
        .model_rows(engine.game(model, plan.output), 1)
    )
    return int(max(1, min(_MAX_BLOCK_ROWS, _BLOCK_MODEL_ROWS // max(per_row, 1))))


def _explain(
    engine: Any, model: Any, plan: Plan, X: NDArray[np.float64], ok: NDArray[np.intp]
) -> RowNumbers:
    """Explain rows ``X[ok]`` and gather each toward its target."""
    spec = plan.explain_spec()
    step = _block_rows(engine, model, plan)
    n_players = len(model.bundle.card.players)
    n = len(ok)
    probabilities: list[NDArray[np.float64]] = []
    targets: list[str] = []
    output_value = np.empty(n, dtype=np.float64)
    base_value = np.empty(n, dtype=np.float64)
    attributions = np.empty((n, n_players), dtype=np.float64)
    quality = {name: np.empty(n, dtype=np.float64) for name in plan.quality}
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        done = engine.explain_numbers(model, X[ok[lo:hi]], spec)
        e = done.explanation
        k = np.asarray(done.targets, dtype=np.intp)
        rows = np.arange(hi - lo)
        probabilities.append(done.probabilities)
        targets += [e.output_names[t] for t in k.tolist()]
        output_value[lo:hi] = e.outputs[rows, k]
        base_value[lo:hi] = e.base_values[rows, k]
        attributions[lo:hi] = e.values[rows, :, k]
        for name in plan.quality:
            quality[name][lo:hi] = e.quality[name][rows, k]
    width = model.runtime.n_outputs
    return RowNumbers(
        probabilities=np.concatenate(probabilities) if probabilities else np.empty((0, width)),
        targets=targets,
        output_value=output_value,
        base_value=base_value,
        attributions=attributions,
        quality=quality,
    )


def explain_table(
    engine: Any, model: Any, plan: Plan, table: pa.Table, *, text: bool, start: int
) -> pa.Table:
    """The result rows of input rows ``table`` (features in card order, then
    ``reference`` if given; ``text`` for CSV cells), numbered from ``start``. A job's
    partitions and a replayed row both come through here."""
    from service.models.instances import encode_rows

    card = model.bundle.card
    columns = [table.column(n).to_pylist() for n in card.feature_names]
    rows = list(zip(*columns, strict=True))
    X, problems = encode_rows(card, rows, text=text)
    ok = np.asarray([i for i in range(len(rows)) if i not in problems], dtype=np.intp)
    numbers = _explain(engine, model, plan, X, ok)
    errors = {
        i: "; ".join(f"{p['field']} {p['problem']}" for p in found) for i, found in problems.items()
    }
    reference = table.column(REFERENCE).to_pylist() if REFERENCE in table.column_names else None
    return partition_table(
        card,
        plan,
        start=start,
        n_rows=len(rows),
        reference=reference,
        ok=ok,
        numbers=numbers,
        errors=errors,
    )


def model_for(bundle: BundleParts, fields: Mapping[str, Any]) -> tuple[Any, Any]:
    """This process's engine and the bundle's loaded model (both cached)."""
    engine = _engine(fields)
    return engine, _model(bundle, engine.settings)


def explain_partition(
    bundle: BundleParts, fields: Mapping[str, Any], task: PartitionTask
) -> PartitionDone:
    """Explain one partition and write ``parts/part-NNNNN.parquet``; runs on a worker."""
    started = time.perf_counter()
    engine, model = model_for(bundle, fields)
    part = task.partition
    result = explain_table(
        engine, model, task.plan, table_from_ipc(task.rows_ipc), text=task.text, start=part.start
    )
    failed = int(result.num_rows - result.column("error").null_count)
    task.files.write(task.files.part_path(task.job_id, part.index), parquet_bytes(result))
    seconds = time.perf_counter() - started
    log.info(
        "jobs.partition_done",
        job=task.job_id,
        partition=part.index,
        rows=part.n_rows,
        failed=failed,
        ms=round(seconds * 1000, 1),
        pid=os.getpid(),
    )
    return PartitionDone(part.index, part.n_rows, failed, seconds)
