"""Batch explanation jobs: submit a file, follow it, fetch the result, cancel, replay a row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from service.api.routes.auth import AnyCaller, AppCaller, ReviewerCaller
from service.api.routes.deps import RequestIdDep, SettingsDep
from service.api.routes.errors import described, errors
from service.errors import InvalidInput, PayloadTooLarge
from service.jobs import JobFilter, JobManager, ResultFormat
from service.jobs.results import MEDIA_TYPES
from service.results import Origin
from service.wire.jobs import (
    Job,
    JobList,
    JobRowReplay,
    JobSpecIn,
    JobSubmission,
    job_out,
    job_spec,
    row_replay_out,
)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def _jobs(request: Request) -> JobManager:
    return cast(JobManager, request.app.state.jobs)


JobsDep = Annotated[JobManager, Depends(_jobs)]

_UNKNOWN = described(404, "Unknown job")
_ENDED = described(409, "The job has ended (cancel) or has no result yet (result, replay)")

_SUBMIT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["data", "spec"],
                    "properties": {
                        "data": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV, Parquet or JSON Lines: feature names "
                            "as the header, columns or keys, and optionally a "
                            "`reference` column carried into the result.",
                        },
                        "spec": {
                            "type": "string",
                            "description": "JSON: a JobSpecIn (`model`, optional `version`, "
                            "`method`, `output`, `target`, `options`).",
                            "example": json.dumps(
                                {"model": "german_credit", "method": "tree_shap", "output": "raw"}
                            ),
                        },
                    },
                }
            },
            "application/json": {"schema": JobSubmission.model_json_schema()},
        },
    }
}


def _invalid_spec(exc: ValidationError, prefix: str) -> InvalidInput:
    details = [
        {
            "field": ".".join([prefix, *(str(p) for p in e.get("loc", ()))]).strip("."),
            "problem": e.get("msg", "invalid"),
        }
        for e in exc.errors()
    ]
    first = details[0] if details else {"field": prefix, "problem": "invalid"}
    return InvalidInput(f"{first['field']}: {first['problem']}", details=details)


async def _upload(request: Request, limit: int) -> tuple[JobSpecIn, bytes, str | None]:
    """The spec and the input bytes of a multipart or a JSON submission."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form() as form:
            data, spec = form.get("data"), form.get("spec")
            if not isinstance(data, UploadFile):
                raise InvalidInput(
                    "the multipart body needs a file part named 'data' "
                    "(CSV, Parquet or JSON Lines)",
                    details={"field": "data", "problem": "is missing"},
                )
            if not isinstance(spec, str):
                raise InvalidInput(
                    "the multipart body needs a part named 'spec' holding JSON",
                    details={"field": "spec", "problem": "is missing"},
                )
            raw = await data.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(
                f"the uploaded data is over the limit of {limit} bytes "
                "(CLARION_MAX_JOB_UPLOAD_BYTES)",
                details={"field": "data", "problem": f"larger than {limit} bytes"},
            )
        try:
            parsed = JobSpecIn.model_validate_json(spec)
        except ValidationError as exc:
            raise _invalid_spec(exc, "spec") from exc
        return parsed, raw, None
    if content_type.startswith("application/json"):
        try:
            body = JobSubmission.model_validate_json(await request.body())
        except ValidationError as exc:
            raise _invalid_spec(exc, "") from exc
        return body, b"", body.input_uri
    raise InvalidInput(
        "send the job as multipart/form-data (parts 'data' and 'spec') or as JSON with "
        f"'input_uri'; got content type {content_type or 'none'!r}",
        details={"field": "content-type", "problem": "unsupported content type"},
    )


@router.post(
    "",
    operation_id="submit_job",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        202: {
            "description": "Accepted: the job, queued or running; `Location` is its URL.",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        **errors(401, 403, 404, 413, 422, 503),
    },
    openapi_extra=_SUBMIT_BODY,
)
async def submit_job(
    request: Request,
    response: Response,
    jobs: JobsDep,
    settings: SettingsDep,
    caller: AppCaller,
    request_id: RequestIdDep,
) -> Job:
    """Explain every row of a CSV, Parquet or JSON Lines file on the Dask cluster.

    The file is checked at once (a file that is not CSV, Parquet or JSON Lines, unknown or missing
    columns, more than `CLARION_MAX_JOB_ROWS` rows, a spec explain would refuse: 422);
    a row whose values fail the card's checks does not fail the job: its result row
    carries the problem in `error`. Row i of the result equals a one-instance explain of
    input row i with the same method, output, target and seed, bit for bit. The job is
    one audit record (`GET /v1/jobs/{id}`).
    """
    spec_in, data, uri = await _upload(request, settings.max_job_upload_bytes)
    origin = Origin(caller=caller.key_id, channel="api", request_id=request_id)

    def submit() -> Job:
        raw = jobs.read_uri(uri) if uri is not None else data
        record = jobs.submit(job_spec(spec_in), raw, origin, input_uri=uri)
        return job_out(jobs.status(record.id))

    job = await run_in_threadpool(submit)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


@router.get("", operation_id="list_jobs", responses=errors(401, 403, 422, 503))
def list_jobs(
    jobs: JobsDep,
    _: AnyCaller,
    model: str | None = None,
    status: Annotated[
        str | None, Query(description="queued, running, succeeded, failed or cancelled.")
    ] = None,
    caller: Annotated[str | None, Query(description="API key id of the submitter.")] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601, inclusive.")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, inclusive.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> JobList:
    """Jobs, newest first, filtered, a page at a time."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(
                f"{name} needs a time zone (e.g. 2026-01-01T00:00:00Z)",
                details={"field": name, "problem": "no time zone"},
            )
    page = jobs.browse(
        JobFilter(model=model, status=status, caller=caller, since=since, until=until),
        limit=limit,
        cursor=cursor,
    )
    return JobList(
        jobs=[job_out(jobs.status(r.id)) for r in page.jobs], next_cursor=page.next_cursor
    )


@router.get("/{job_id}", operation_id="get_job", responses={**errors(401, 403, 503), **_UNKNOWN})
def get_job(job_id: str, jobs: JobsDep, _: AnyCaller) -> Job:
    """The job: status, progress with rows done and an ETA, result hashes, the record."""
    return job_out(jobs.status(job_id))


_RESULT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One row per input row (see the README for the columns).",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in MEDIA_TYPES.values()
        },
    }
}


@router.get(
    "/{job_id}/result",
    operation_id="get_job_result",
    response_class=StreamingResponse,
    responses={**_RESULT, **errors(401, 403, 422, 503), **_UNKNOWN, **_ENDED},
)
def get_job_result(
    job_id: str,
    jobs: JobsDep,
    _: AnyCaller,
    format: Annotated[ResultFormat, Query(description="parquet, csv or jsonl.")] = "parquet",
) -> StreamingResponse:
    """The result: `row`, `reference`, the prediction, `target`, `output_value`,
    `base_value`, one `attribution.<player>` per player, the quality figures, `error`."""
    chunks = jobs.result(job_id, format)
    return StreamingResponse(
        chunks,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{job_id}.{format}"'},
    )


@router.delete(
    "/{job_id}",
    operation_id="cancel_job",
    responses={**errors(401, 403, 503), **_UNKNOWN, **_ENDED},
)
def cancel_job(job_id: str, jobs: JobsDep, caller: AppCaller) -> Job:
    """Cancel a queued or running job; its record stays, with status `cancelled`."""
    jobs.cancel(job_id, by=caller.key_id)
    return job_out(jobs.status(job_id))


@router.post(
    "/{job_id}/rows/{row}/replay",
    operation_id="replay_job_row",
    responses={**errors(401, 403, 503), **_UNKNOWN, **_ENDED},
)
def replay_job_row(job_id: str, row: int, jobs: JobsDep, _: ReviewerCaller) -> JobRowReplay:
    """Explain one input row again and compare it with the job's result row, bitwise;
    writes no record."""
    return row_replay_out(jobs.replay_row(job_id, row), datetime.now(UTC))
