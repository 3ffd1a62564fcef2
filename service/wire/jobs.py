"""The v1 wire contract of batch jobs (``/v1/jobs``), and the mapping from job records.

Field names here are a promise to product apps, as in ``service.wire.schemas``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from service.audit.schemas import Difference
from service.explain.explanation import OutputSpace
from service.jobs import FORMATS, JobSpec, JobStatus, RowReplay
from service.models.versions import VERSION_PATTERN
from service.wire.schemas import ModelRef

__all__ = [
    "Job",
    "JobInput",
    "JobList",
    "JobProgress",
    "JobResult",
    "JobRowReplay",
    "JobSpecIn",
    "JobSubmission",
    "job_out",
    "job_spec",
    "row_replay_out",
]

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]

_SPEC_EXAMPLE: dict[str, Any] = {
    "model": "german_credit",
    "method": "tree_shap",
    "output": "raw",
    "options": {"seed": 0},
}


class JobSpecIn(BaseModel):
    """What to explain the rows with: as an explain request, less instances and wording."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_SPEC_EXAMPLE]})

    model: str = Field(description="Name of a served model.", examples=["german_credit"])
    version: str | None = Field(
        default=None,
        pattern=VERSION_PATTERN,
        description="The model version to explain with (its card's `version`); omitted: the "
        "model's default. An unknown version is 404; the job's `model` says which answered.",
        examples=["2.0"],
    )
    method: str = Field(
        default="auto",
        description="As in explain: `auto`, `tree_shap`, `exact_shap`, `kernel_shap`, "
        "`permutation_shap` or `lime`.",
    )
    output: OutputSpace | None = Field(
        default=None, description="`raw` or `probability`; default from the card."
    )
    target: str | None = Field(default=None, description="Class to explain (as in explain).")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Method options as in explain, e.g. `seed`."
    )


class JobSubmission(JobSpecIn):
    """A job over a file the service reads itself (JSON body instead of an upload)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{**_SPEC_EXAMPLE, "input_uri": "portfolio/2026-q3.parquet"}]
        },
    )

    input_uri: str = Field(
        description="A CSV, Parquet or JSON Lines file: a path under "
        "CLARION_JOBS_INPUT_ROOT, or an fsspec URL (`s3://bucket/rows.parquet`) when its "
        "filesystem package is installed.",
        min_length=1,
    )


class JobProgress(BaseModel):
    """How far a job has come: rows and partitions done."""

    rows_done: int
    rows_total: int
    rows_failed: int = Field(description="Rows reported with an `error` (bad values).")
    partitions: int
    rows_per_s: float | None = Field(description="Speed of the run so far; null until known.")
    eta_s: float | None = Field(description="Seconds left at that speed; null until known.")


class JobResult(BaseModel):
    """A finished job's result file: rows, failures, hash and formats offered."""

    rows: int
    rows_failed: int
    sha256: str = Field(description="SHA-256 of the result's Parquet file.")
    formats: list[Literal["parquet", "csv", "jsonl"]]


class JobInput(BaseModel):
    """A job's input file: its format, hash and number of rows."""

    format: Literal["csv", "parquet", "jsonl"]
    sha256: str
    rows: int
    reference: bool = Field(description="Whether the input has a `reference` column.")
    uri: str | None = None


class Job(BaseModel):
    """A batch explanation job: its audit record, progress and result."""

    id: str
    status: JobState
    model: ModelRef
    method: str = Field(description="The method used (`auto` resolved at submission).")
    output: OutputSpace
    target: str | None
    options: dict[str, Any] = Field(description="Every option, with the seed used.")
    parameters: dict[str, Any] = Field(description="The explainer's parameters.")
    progress: JobProgress
    result: JobResult | None = Field(description="Once the job has succeeded.")
    error: str | None
    input: JobInput
    caller: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    record_sha256: str | None = Field(description="SHA-256 of the record, once the job ended.")
    dashboard: str | None = Field(
        description="The Dask dashboard of the service's local cluster, when it has one."
    )


class JobList(BaseModel):
    """Batch jobs, newest first."""

    jobs: list[Job]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")


class JobRowReplay(BaseModel):
    """One row of a job explained again, compared with the job's result."""

    job_id: str
    row: int
    identical: bool = Field(description="Values, model and libraries all as in the job.")
    values_identical: bool = Field(description="Every number bitwise equal, every text equal.")
    model_changed: bool
    versions_changed: bool
    differences: list[Difference]
    replayed_at: datetime


def job_spec(body: JobSpecIn) -> JobSpec:
    return JobSpec(
        model=body.model,
        version=body.version,
        method=body.method,
        output=body.output,
        target=body.target,
        options=dict(body.options),
    )


def job_out(status: JobStatus) -> Job:
    r = status.record
    doc = r.document
    plan = doc["plan"]
    given = doc["input"]
    result = None
    if r.status == "succeeded" and r.result_sha256 is not None:
        result = JobResult(
            rows=r.n_rows, rows_failed=r.rows_failed, sha256=r.result_sha256, formats=list(FORMATS)
        )
    return Job(
        id=r.id,
        status=cast(JobState, r.status),
        model=ModelRef(name=r.model_name, version=r.model_version, sha256=r.model_sha256),
        method=r.method,
        output="raw" if r.output_space == "raw" else "probability",
        target=plan["target"],
        options=dict(plan["options"]),
        parameters=dict(plan["parameters"]),
        progress=JobProgress(
            rows_done=r.rows_done,
            rows_total=r.n_rows,
            rows_failed=r.rows_failed,
            partitions=r.n_partitions,
            rows_per_s=round(status.rows_per_s, 1) if status.rows_per_s is not None else None,
            eta_s=round(status.eta_s, 1) if status.eta_s is not None else None,
        ),
        result=result,
        error=r.error,
        input=JobInput(
            format=given["format"],
            sha256=given["sha256"],
            rows=given["rows"],
            reference=given["reference"],
            uri=given.get("uri"),
        ),
        caller=r.caller,
        created_at=r.created_at,
        started_at=r.started_at,
        finished_at=r.finished_at,
        record_sha256=r.record_sha256,
        dashboard=status.dashboard if r.status in ("queued", "running") else None,
    )


def row_replay_out(replay: RowReplay, replayed_at: datetime) -> JobRowReplay:
    return JobRowReplay(
        job_id=replay.job_id,
        row=replay.row,
        identical=replay.identical,
        values_identical=replay.values_identical,
        model_changed=replay.model_changed,
        versions_changed=replay.versions_changed,
        differences=[Difference(**d) for d in replay.differences],
        replayed_at=replayed_at,
    )
