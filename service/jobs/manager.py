"""Jobs as the API and the CLI see them: submit, follow, cancel, read results, replay rows.

``JobManager.submit`` checks the input file and resolves the spec with a one-row
explanation of a background row (so every problem an explain request would have is a
422 now, not a failed job), stores the input, writes the job's record and hands the
missing partitions to the runner; a thread per running job follows its partitions,
counts progress into the record, and when all are done joins them into
``result.parquet`` and seals the record with the result's SHA-256. ``resume`` picks up
the jobs a stopped service left unfinished, from their completed partitions.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from service.audit.store import AuditStore
from service.audit.tables import JobRecord
from service.engine import Engine
from service.errors import BundleRejected, ClarionError, Conflict, NotFound, Unavailable
from service.jobs.files import JobFiles
from service.jobs.inputs import JobInput, fetch_input, read_input, table_ipc
from service.jobs.partitions import Partition, split
from service.jobs.results import assemble, read_table, result_formats
from service.jobs.runner import DaskRunner
from service.jobs.spec import JobSpec, Plan, ResultFormat
from service.jobs.store import TERMINAL, JobFilter, JobPage, JobStore
from service.jobs.worker import BundleParts, PartitionTask, explain_table
from service.models.registry import LoadedModel
from service.results import Origin
from service.settings import Settings

__all__ = ["JobManager", "JobStatus", "RowReplay"]

log = structlog.get_logger(__name__)

_POLL_S = 0.25


@dataclass(frozen=True)
class JobStatus:
    """A job's record with what only the running service knows: speed, ETA, dashboard."""

    record: JobRecord
    rows_per_s: float | None
    eta_s: float | None
    dashboard: str | None


@dataclass(frozen=True)
class RowReplay:
    """One row explained again and compared, column by column, bitwise."""

    job_id: str
    row: int
    identical: bool
    values_identical: bool
    model_changed: bool
    versions_changed: bool
    differences: list[dict[str, Any]]


@dataclass(eq=False)
class _Run:
    job_id: str
    run_id: str
    futures: list[Any]  # distributed.Future, one per partition left
    held: Any  # the bundle's future, held while the job runs
    rows_done: int
    rows_failed: int
    rows_at_start: int
    started: float = field(default_factory=time.monotonic)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


def _bundle_parts(model: LoadedModel) -> BundleParts:
    b = model.bundle
    return BundleParts.of(b.model_bytes, b.card_text, b.background_csv)


class JobManager:
    """Batch explanation jobs over the engine's models, recorded in the audit store."""

    def __init__(
        self,
        engine: Engine,
        store: AuditStore,
        settings: Settings,
        runner: DaskRunner | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.jobs = JobStore(store)
        self.files = JobFiles(settings.jobs_dir)
        self.runner = runner or DaskRunner(settings)
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()
        self._resumer: threading.Thread | None = None

    # -- submit ----------------------------------------------------------------------------

    def read_uri(self, uri: str) -> bytes:
        return fetch_input(
            uri, root=self.settings.jobs_input_root, max_bytes=self.settings.max_job_upload_bytes
        )

    def plan(self, model: LoadedModel, spec: JobSpec) -> Plan:
        """Resolve the spec by explaining one background row exactly as a job row would be:
        the method ``auto`` picks, the output space, the seed; any refusal is a 422."""
        card = model.bundle.card
        probe = self.engine.explain_numbers(model, model.bundle.background[:1], spec.explain_spec())
        return Plan(
            model=card.name,
            version=card.version,
            model_sha256=model.bundle.model_sha256,
            bundle_sha256=_bundle_parts(model).sha256,
            method=probe.method,
            output=probe.output,
            target=spec.target,
            options={"seed": probe.provenance.seed, **spec.options},
            quality=tuple(probe.explanation.quality),
            parameters=dict(probe.provenance.parameters),
            algorithm=probe.provenance.algorithm,
        )

    def submit(
        self, spec: JobSpec, data: bytes, origin: Origin, *, input_uri: str | None = None
    ) -> JobRecord:
        """Check, record and start a job with ``spec.version`` of the model (None: its
        default); 404 for an unknown model or version, 422 for bad input."""
        model = self.engine.registry.get(spec.model, spec.version)
        job_input = read_input(model.bundle.card, data, max_rows=self.settings.max_job_rows)
        plan = self.plan(model, spec)
        job_id = uuid.uuid4().hex
        self.files.write(self.files.input_path(job_id, job_input.format), data)
        partition_rows = self.settings.job_partition_rows
        p = self.engine.model_ref(model)
        record = JobRecord(
            id=job_id,
            created_at=datetime.now(UTC),
            request_id=origin.request_id,
            caller=origin.caller,
            channel=origin.channel,
            model_name=p.name,
            model_version=p.version,
            model_sha256=p.sha256,
            method=plan.method,
            output_space=plan.output,
            status="queued",
            n_rows=job_input.n_rows,
            n_partitions=len(split(job_input.n_rows, partition_rows)),
            rows_done=0,
            rows_failed=0,
            input_sha256=job_input.sha256,
            document={
                "spec": {**asdict(spec), "options": dict(spec.options)},
                "plan": plan.to_dict(),
                "input": {
                    "format": job_input.format,
                    "sha256": job_input.sha256,
                    "rows": job_input.n_rows,
                    "reference": job_input.has_reference,
                    "uri": input_uri,
                },
                "partition_rows": partition_rows,
                "provenance": {
                    "background_sha256": model.bundle.background_sha256,
                    "background_rows": int(model.bundle.background.shape[0]),
                    "provider": model.runtime.providers_in_use[0],
                    "versions": dict(self.engine.versions),
                },
            },
        )
        self.jobs.add(record)
        log.info(
            "jobs.submitted",
            job=job_id,
            model=p.name,
            method=plan.method,
            rows=job_input.n_rows,
            caller=origin.caller,
        )
        self._start(record, job_input, model)
        return self.jobs.get(job_id)

    # -- run -------------------------------------------------------------------------------

    def _input(self, record: JobRecord, model: LoadedModel) -> JobInput:
        fmt = record.document["input"]["format"]
        data = self.files.read(self.files.input_path(record.id, fmt))
        return read_input(model.bundle.card, data, max_rows=max(record.n_rows, 1))

    def _partitions(self, record: JobRecord) -> list[Partition]:
        return split(record.n_rows, int(record.document["partition_rows"]))

    def _start(self, record: JobRecord, job_input: JobInput, model: LoadedModel) -> None:
        plan = Plan.from_dict(record.document["plan"])
        bundle = _bundle_parts(model)
        if bundle.sha256 != plan.bundle_sha256:
            self._fail(
                record.id,
                f"model {plan.model!r} changed since the job was submitted "
                "(its bundle's SHA-256 differs); submit the job again",
            )
            return
        parts = self._partitions(record)
        done = self.files.done_parts(record.id)
        todo = [p for p in parts if p.index not in done]
        rows_done = sum(p.n_rows for p in parts if p.index in done)
        rows_failed = self._failed_in(record.id, done)
        run_id = uuid.uuid4().hex
        tasks = [
            PartitionTask(
                job_id=record.id,
                run_id=run_id,
                partition=p,
                plan=plan,
                rows_ipc=table_ipc(job_input.table.slice(p.start, p.n_rows)),
                text=job_input.format == "csv",
                files=self.files,
            )
            for p in todo
        ]
        claimed = self.jobs.claim(
            record.id,
            expected=record.run_id,
            run_id=run_id,
            rows_done=rows_done,
            rows_failed=rows_failed,
            partitions_done=len(done),
        )
        if not claimed:  # ended meanwhile, or another service resumed it first
            return
        if done:
            log.info("jobs.resumed", job=record.id, done=len(done), todo=len(todo))
        try:
            held, futures = self.runner.submit(bundle, tasks) if tasks else (None, [])
        except ClarionError as exc:
            self._fail(record.id, exc.message, run_id=run_id)
            raise
        run = _Run(
            record.id, run_id, futures, held, rows_done, rows_failed, rows_at_start=rows_done
        )
        run.thread = threading.Thread(
            target=self._follow, args=(run,), name=f"clarion-job-{record.id[:8]}", daemon=True
        )
        with self._lock:
            self._runs[record.id] = run
        run.thread.start()

    def _failed_in(self, job_id: str, done: set[int]) -> int:
        if not done:
            return 0
        import pyarrow.parquet as pq

        failed = 0
        for index in done:
            with self.files.open(self.files.part_path(job_id, index)) as fh:
                column = pq.read_table(fh, columns=["error"]).column("error")
                failed += len(column) - column.null_count
        return failed

    def _follow(self, run: _Run) -> None:
        """Count finished partitions into the record; assemble the result at the end."""
        try:
            if self._wait(run):
                self._complete(run)
        except ClarionError as exc:
            self._fail(run.job_id, exc.message, run_id=run.run_id)
        except Exception as exc:  # the follower must end the job whatever happens
            log.error("jobs.follow_crashed", job=run.job_id, exc_info=exc)
            self._fail(
                run.job_id, f"the job failed: {type(exc).__name__}: {exc}", run_id=run.run_id
            )
        finally:
            with self._lock:
                if self._runs.get(run.job_id) is run:
                    del self._runs[run.job_id]

    def _wait(self, run: _Run) -> bool:
        """True when every partition is done; False when stopped, cancelled or failed.

        Polls the futures' states (the client updates them from its own thread), which
        needs no default client and stops within ``_POLL_S`` of ``run.stop``."""
        pending = list(run.futures)
        while pending:
            if run.stop.wait(_POLL_S):
                return False
            still = []
            for future in pending:
                if not future.done():
                    still.append(future)
                    continue
                if future.status == "finished":
                    part = future.result()
                    run.rows_done += part.rows
                    run.rows_failed += part.failed
                    if not self.jobs.progress(
                        run.job_id,
                        run_id=run.run_id,
                        rows_done=run.rows_done,
                        rows_failed=run.rows_failed,
                    ):  # cancelled meanwhile, or taken over by another service
                        self.runner.cancel([f for f in pending if not f.done()])
                        return False
                    continue
                if future.status == "cancelled":
                    return False
                error = future.exception()
                self.runner.cancel([f for f in pending if not f.done()])
                self._fail(
                    run.job_id,
                    f"a partition failed: {type(error).__name__}: {error}",
                    run_id=run.run_id,
                )
                return False
            pending = still
        return not run.stop.is_set()

    def _complete(self, run: _Run) -> None:
        record = self.jobs.get(run.job_id)
        parts = self._partitions(record)
        data, rows, failed = assemble(
            [self.files.read(self.files.part_path(run.job_id, p.index)) for p in parts]
        )
        if rows != record.n_rows:
            raise Unavailable(f"the partitions hold {rows} rows, not {record.n_rows}")
        self.files.write(self.files.result_path(run.job_id), data)
        digest = hashlib.sha256(data).hexdigest()
        try:
            self.jobs.finish(
                run.job_id,
                "succeeded",
                result_sha256=digest,
                rows_failed=failed,
                run_id=run.run_id,
            )
        except Conflict:
            return  # cancelled (or taken over) while assembling: that stands
        self.files.remove_parts(run.job_id)
        seconds = time.monotonic() - run.started
        log.info(
            "jobs.succeeded",
            job=run.job_id,
            rows=rows,
            failed=failed,
            seconds=round(seconds, 3),
            result_sha256=digest[:12],
        )

    def _fail(self, job_id: str, message: str, *, run_id: str | None = None) -> None:
        try:
            self.jobs.finish(job_id, "failed", error=message, run_id=run_id)
        except Conflict:
            return
        log.error("jobs.failed", job=job_id, error=message)

    def resume(self) -> list[str]:
        """Start again the jobs a stopped service left queued or running."""
        resumed = []
        for record in self.jobs.unfinished():
            with self._lock:
                if record.id in self._runs:
                    continue
            try:
                model = self.engine.registry.get(record.model_name, record.model_version)
                self._start(record, self._input(record, model), model)
            except ClarionError as exc:
                self._fail(record.id, f"the job could not be resumed: {exc.message}")
                continue
            resumed.append(record.id)
        return resumed

    def resume_in_background(self) -> None:
        """``resume`` on a thread if any job is unfinished, so start-up does not wait for
        the cluster."""
        if not self.jobs.unfinished():
            return
        thread = threading.Thread(target=self._resume_logged, name="clarion-jobs-resume")
        self._resumer = thread
        thread.start()

    def _resume_logged(self) -> None:
        try:
            resumed = self.resume()
        except Exception as exc:  # a thread's failure must be seen in the log
            log.error("jobs.resume_failed", exc_info=exc)
            return
        log.info("jobs.resumed_all", jobs=len(resumed))

    # -- read, cancel ----------------------------------------------------------------------

    def status(self, job_id: str) -> JobStatus:
        record = self.jobs.get(job_id)
        with self._lock:
            run = self._runs.get(job_id)
        rate = eta = None
        if record.status == "running":
            if run is not None:
                elapsed = time.monotonic() - run.started
                new_rows = record.rows_done - run.rows_at_start
            else:
                started = record.started_at or record.created_at
                elapsed = (datetime.now(UTC) - started).total_seconds()
                new_rows = record.rows_done
            if new_rows > 0 and elapsed > 0:
                rate = new_rows / elapsed
                eta = (record.n_rows - record.rows_done) / rate
        return JobStatus(record, rate, eta, self.runner.dashboard_link)

    def browse(self, where: JobFilter, *, limit: int, cursor: str | None = None) -> JobPage:
        return self.jobs.browse(where, limit=limit, cursor=cursor)

    def cancel(self, job_id: str, *, by: str) -> JobRecord:
        """Cancel a queued or running job; 409 if it has ended."""
        record = self.jobs.finish(job_id, "cancelled", error=f"cancelled by {by}")
        with self._lock:
            run = self._runs.pop(job_id, None)
        if run is not None:
            run.stop.set()
            self.runner.cancel(run.futures)
        log.info("jobs.cancelled", job=job_id, by=by)
        return record

    def wait(self, job_id: str, *, timeout_s: float | None = None) -> JobRecord:
        """Block until the job ends (the CLI, tests)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            record = self.jobs.get(job_id)
            if record.status in TERMINAL:
                return record
            if deadline is not None and time.monotonic() > deadline:
                raise Unavailable(f"job {job_id} did not end within {timeout_s} s")
            time.sleep(_POLL_S)

    def _result_bytes(self, record: JobRecord) -> bytes:
        if record.status != "succeeded":
            raise Conflict(
                f"job {record.id} has no result: it is {record.status}",
                details={"field": "id", "problem": f"job {record.status}"},
            )
        data = self.files.read(self.files.result_path(record.id))
        if hashlib.sha256(data).hexdigest() != record.result_sha256:
            raise Unavailable(
                f"the result file of job {record.id} does not match its recorded SHA-256",
                details={"field": "result", "problem": "hash mismatch"},
            )
        return data

    def result(self, job_id: str, fmt: ResultFormat) -> Iterator[bytes]:
        """The result as ``fmt``; 409 unless the job succeeded."""
        return result_formats(self._result_bytes(self.jobs.get(job_id)), fmt)

    # -- replay ----------------------------------------------------------------------------

    def replay_row(self, job_id: str, row: int) -> RowReplay:
        """Explain row ``row`` of the input again with the job's model version (served, or
        kept in the archive after it was deleted) and compare it with the job's result row,
        column by column (numbers bitwise); no record is written."""
        record = self.jobs.get(job_id)
        result = read_table(self._result_bytes(record))
        if not 0 <= row < record.n_rows:
            raise NotFound(
                f"job {job_id} has rows 0 to {record.n_rows - 1}; there is no row {row}",
                details={"field": "row", "problem": "no such row"},
            )
        plan = Plan.from_dict(record.document["plan"])
        try:
            model = self.engine.registry.recorded(plan.model, plan.version, plan.model_sha256)
        except (NotFound, BundleRejected) as exc:
            raise Conflict(
                f"job {job_id} cannot be replayed: version {plan.version!r} of model "
                f"{plan.model!r} is not served and not archived"
            ) from exc
        job_input = self._input(record, model)
        replayed = explain_table(
            self.engine,
            model,
            plan,
            job_input.table.slice(row, 1),
            text=job_input.format == "csv",
            start=row,
        ).to_pylist()[0]
        recorded = result.slice(row, 1).to_pylist()[0]
        differences: list[dict[str, Any]] = []
        if model.bundle.model_sha256 != record.model_sha256:
            differences.append(
                {
                    "kind": "model_changed",
                    "path": "model.sha256",
                    "recorded": record.model_sha256,
                    "replayed": model.bundle.model_sha256,
                }
            )
        was = record.document["provenance"]["versions"]
        for library in sorted(set(was) | set(self.engine.versions)):
            if was.get(library) != self.engine.versions.get(library):
                differences.append(
                    {
                        "kind": "library_version",
                        "path": f"provenance.versions.{library}",
                        "library": library,
                        "recorded": was.get(library),
                        "replayed": self.engine.versions.get(library),
                    }
                )
        values = [
            {"kind": "value", "path": column, "recorded": recorded.get(column), "replayed": value}
            for column, value in replayed.items()
            if not _same(recorded.get(column), value)
        ]
        values += [
            {"kind": "structure", "path": column, "recorded": recorded[column], "replayed": None}
            for column in recorded
            if column not in replayed
        ]
        differences += values
        log.info("jobs.row_replayed", job=job_id, row=row, differences=len(differences))
        return RowReplay(
            job_id=job_id,
            row=row,
            identical=not differences,
            values_identical=not values,
            model_changed=any(d["kind"] == "model_changed" for d in differences),
            versions_changed=any(d["kind"] == "library_version" for d in differences),
            differences=differences,
        )

    def close(self) -> None:
        """Stop following jobs and let go of the cluster; unfinished jobs stay ``running``
        in their records and resume at the next start."""
        if self._resumer is not None:
            self._resumer.join(timeout=60)
        with self._lock:
            runs = list(self._runs.values())
            self._runs.clear()
        for run in runs:
            run.stop.set()
        for run in runs:
            if run.thread is not None:
                run.thread.join(timeout=10)
        self.runner.close()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    return type(a) is type(b) and bool(a == b)
