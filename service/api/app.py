"""The FastAPI application factory.

Run with ``uvicorn --factory service.api.app:create_app`` or ``clarion serve``.
Nothing happens at import: ``create_app`` builds the app, and the lifespan
loads the models and owns them until shutdown.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from service import cores
from service.api import hot
from service.api.coalesce import Coalescer
from service.api.metrics import MeteredRecorder, Metrics, MetricsMiddleware
from service.api.middleware import (
    BodyLimitMiddleware,
    CurlFriendlyJsonMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
)
from service.api.pool import ComputePool
from service.api.ratelimit import RateLimiter
from service.api.routes import (
    coverage,
    explanations,
    health,
    holds,
    inference,
    jobs,
    keys,
    kserve,
    metrics,
    models,
    predictions,
    records,
    reviews,
    vocabulary,
)
from service.api.routes.errors import document_middleware_errors, without_default_422
from service.api.tracing import Tracing
from service.audit import AuditTrail
from service.engine import Engine
from service.errors import (
    ClarionError,
    HttpError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
)
from service.heap import freeze_long_lived, thaw
from service.jobs import JobManager
from service.logs import configure_logging
from service.models.registry import ModelRegistry
from service.models.runtime import cancel_runs
from service.settings import Settings

__all__ = ["create_app"]

log = structlog.get_logger(__name__)

DESCRIPTION = """
Clarion loads ONNX models and explains their predictions with exact and sampled
SHAP values and LIME, every explanation seeded and reproducible.

Errors always have the shape `{"error": {"code", "message", "details", "request_id"}}`;
`details` names each offending field and what is wrong with it.
"""


def _request_id(request: Request) -> str | None:
    state: dict[str, Any] = request.scope.get("state", {})
    return state.get("request_id")


def _speaks_protocol(path: str) -> bool:
    """Open Inference Protocol (``/v2/...``) and KServe v1 (``...:predict``, ``...:explain``)
    routes, whose clients expect the protocols' own error shape."""
    return path.startswith("/v2/") or path == "/v2" or path.endswith((":predict", ":explain"))


def _error(request: Request, status: int, body: dict[str, Any]) -> JSONResponse:
    if _speaks_protocol(request.url.path):
        # {"error": "..."}; the protocols answer an invalid request with 400.
        status = 400 if status == 422 else status
        return JSONResponse({"error": body["message"]}, status_code=status)
    body["request_id"] = _request_id(request)
    return JSONResponse({"error": body}, status_code=status)


async def _clarion_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ClarionError)
    if exc.status_code >= 500:
        log.error("request.failed", code=exc.code, message=exc.message)
    response = _error(request, exc.status_code, exc.to_dict())
    response.headers.update(exc.headers)
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        details.append({"field": ".".join(loc) or "body", "problem": err.get("msg", "invalid")})
    first = details[0] if details else {"field": "body", "problem": "invalid"}
    error = InvalidRequest(f"{first['field']}: {first['problem']}", details=details)
    return _error(request, error.status_code, error.to_dict())


# Starlette's own refusals, in the one error voice; any other status keeps its number and
# reads as an HttpError.
_HTTP_ERRORS: dict[int, type[ClarionError]] = {
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error = _HTTP_ERRORS.get(exc.status_code, HttpError)(str(exc.detail))
    return _error(request, exc.status_code, error.to_dict())


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette calls this outside RequestIdMiddleware, where the id is no longer bound.
    # The exception is logged as its type and place (service.logs), never with locals.
    log.error(
        "request.crashed",
        request_id=_request_id(request),
        method=request.method,
        path=request.url.path,
        exc_info=exc,
    )
    error = ClarionError("an unexpected error occurred")
    return _error(request, error.status_code, error.to_dict())


def _claim_core(settings: Settings) -> int | None:
    """The core this worker's event loop and compute lane share (``service.cores``), or
    None: not under ``clarion serve``, turned off, or every core already claimed."""
    if not settings.pin_cores or settings.cores_dir is None:
        return None
    try:
        core = cores.claim(settings.cores_dir)
    except OSError as exc:  # the folder cannot be written: serve unpinned
        log.warning("service.not_pinned", reason=f"{settings.cores_dir}: {exc}")
        return None
    if core is None:
        log.warning("service.not_pinned", reason="every core is claimed by another worker")
    else:
        log.info("service.pinned", cpu=core, threads="event loop, compute lane")
    return core


def _operation_id(route: APIRoute) -> str:
    return route.operation_id or route.name


def create_app(settings: Settings | None = None, *, span_exporter: Any = None) -> FastAPI:
    """Build the service. ``settings`` defaults to ``Settings()`` (``CLARION_*`` variables);
    ``span_exporter`` turns tracing on with that exporter (tests; else ``OTEL_*``)."""
    settings = settings or Settings()
    configure_logging(settings.log_level, json=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Explainers with pure-Python loops (shap's KernelExplainer) hold the GIL between
        # switches; the event loop needs it a dozen times per request, so a health check
        # waited up to 5 ms each time (Python's default). 0.5 ms keeps it under 100 ms
        # during the heaviest allowed explanation (issue 12, item 5).
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        limiter = RateLimiter.from_settings(settings)
        audit = AuditTrail.open(settings)
        registry = ModelRegistry(settings)
        registry.load_all()
        app.state.settings = settings
        app.state.registry = registry
        app.state.audit = audit
        app.state.limiter = limiter
        tracing = app.state.tracing
        if tracing is not None:
            tracing.instrument_libraries(audit.store.engine)
            audit.store.traced = True  # its writes through SQLAlchemy, whose spans we want
        recorder = MeteredRecorder(audit.recorder, app.state.metrics, tracing)  # counted, timed
        app.state.engine = Engine(registry, settings, recorder=recorder)
        app.state.warming = (  # imports and compilation off the clock, then what they made
            app.state.engine.warm_in_background(then=lambda: freeze_long_lived("warm"))
            if settings.warm_methods
            else None
        )
        # Batch jobs: the Dask cluster starts on first use; unfinished jobs resume now.
        app.state.jobs = JobManager(app.state.engine, audit.store, settings)
        app.state.jobs.resume_in_background()
        # Under ``clarion serve`` the event loop and the lane share a core of the worker's
        # own; the threads they start for other work spread over every core (``cores``).
        core = _claim_core(settings)
        app.state.pool = ComputePool(
            threads=settings.compute_threads, queue=settings.compute_queue, initializer=cores.spread
        )
        lane = functools.partial(cores.pin, core) if core is not None else None
        app.state.coalescer = Coalescer(
            app.state.engine,
            app.state.pool,
            lane=ComputePool(threads=1, queue=settings.compute_queue, initializer=lane),
            max_rows=settings.coalesce_rows,
            metrics=app.state.metrics,
        )
        if core is not None:
            cores.pin(core)  # this thread: the event loop's
        audit.log_auth_mode()
        audit.log_encryption()
        freeze_long_lived("started")  # models, tables, schemas: out of the collector's way
        log.info("service.started", models=len(registry), refused=len(registry.refused))
        try:
            yield
        finally:
            # Runs still in flight after uvicorn's graceful wait end now (503), so the
            # compute threads finish and the process stops (issue 12: SIGTERM within 10 s).
            if cancelled := cancel_runs():
                log.warning("service.runs_cancelled", runs=cancelled)
            app.state.pool.close()
            app.state.coalescer.lane.close()
            app.state.jobs.close()
            limiter.close()
            audit.close()
            app.state.metrics.close()
            if app.state.tracing is not None:
                app.state.tracing.close()
            thaw()
            log.info("service.stopped")

    # /docs and /redoc load Swagger UI and ReDoc from the service itself, never a CDN, so
    # they work on an air-gapped network (fastapi-offline's bundled assets, MIT).
    app = FastAPIOffline(
        title="Clarion",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.add_exception_handler(ClarionError, _clarion_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    for router in (health.router, models.router, predictions.router, explanations.router):
        app.include_router(router)
    hot.install(app)  # POST .../explain without FastAPI's per-request machinery
    app.include_router(inference.router)  # Open Inference Protocol (v2)
    app.include_router(kserve.router)  # KServe v1 :predict, :explain
    for router in (records.router, reviews.router, holds.router, keys.router):
        app.include_router(router)
    app.include_router(coverage.router)
    app.include_router(jobs.router)
    app.include_router(vocabulary.router)
    app.include_router(metrics.router)

    def limit_for(scope: Scope) -> int:
        if scope["path"].rstrip("/") == "/v1/jobs" and scope["method"] == "POST":
            return settings.max_job_upload_bytes + 1_048_576  # the file and its envelope
        is_upload = scope["path"].rstrip("/") == "/v1/models" and scope["method"] == "POST"
        return 3 * settings.max_upload_bytes if is_upload else settings.max_body_bytes

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = without_default_422(FastAPI.openapi(app))
            upload = schema.get("components", {}).get("schemas", {}).get("Body_upload_model")
            if upload is not None:  # FastAPI names and builds this one from the form fields
                upload.setdefault("description", "A model bundle's files, as multipart fields.")
            app.openapi_schema = document_middleware_errors(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override

    # Added innermost first: the request id is bound before anything can refuse a request.
    # Prometheus metrics: built with the app (prometheus-client reads
    # PROMETHEUS_MULTIPROC_DIR then); innermost, where the matched route is known.
    app.state.metrics = Metrics()
    app.state.tracing = Tracing.from_environment(app, span_exporter)  # OTEL_*, opt-in
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(CurlFriendlyJsonMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["authorization", "content-type", "x-request-id"],
        )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app
