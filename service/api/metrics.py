"""Prometheus metrics: what the service counts and times, and ``GET /metrics``'s text.

Families (no label ever carries an instance value, a caller or an id):

    clarion_requests_total{route,status}                 route: the route's template
    clarion_request_duration_seconds{route}              histogram
    clarion_explanations_total{model,method}
    clarion_explanation_duration_seconds{model,method}   histogram, validate to recorded
    clarion_audit_write_duration_seconds                 histogram, the committed write
    clarion_explain_pass_requests{model}                 histogram, requests a lane pass answered
    clarion_quality_gate_failures_total{model,gate}
    clarion_models_loaded                                gauge

Under ``clarion serve --workers N`` every worker writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` (set and emptied by the CLI before any worker starts) and
``/metrics`` adds them up across workers. prometheus-client is imported when the app is
built, never at this module's import: it picks its storage from that variable then.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.tracing import Tracing
from service.results import ExplainResult, Origin

__all__ = ["MULTIPROC_ENV", "MeteredRecorder", "Metrics", "MetricsMiddleware"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Request latencies from a health check (ms) to a heavy explanation (a minute).
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Requests per coalesced pass: one at a time, then as many as a worker's clients.
_PASS_REQUESTS = (1, 2, 4, 8, 16, 32, 64)


class Metrics:
    """The service's collectors, on a registry of their own (one per app, so that tests can
    build several apps in one process)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "clarion_requests_total", "HTTP requests answered", ["route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "clarion_request_duration_seconds",
            "HTTP request latency, arrival to the last byte",
            ["route"],
            buckets=_SECONDS,
            registry=r,
        )
        self.explanations = Counter(
            "clarion_explanations_total", "Explanations recorded", ["model", "method"], registry=r
        )
        self.explanation_seconds = Histogram(
            "clarion_explanation_duration_seconds",
            "Time to validate, compute and tell one explanation request",
            ["model", "method"],
            buckets=_SECONDS,
            registry=r,
        )
        self.audit_seconds = Histogram(
            "clarion_audit_write_duration_seconds",
            "Time to write and commit one explanation record",
            buckets=_SECONDS,
            registry=r,
        )
        self.pass_requests = Histogram(
            "clarion_explain_pass_requests",
            "Explain requests answered by one pass of a worker's compute lane "
            "(requests that wait together share a pass: service.api.coalesce)",
            ["model"],
            buckets=_PASS_REQUESTS,
            registry=r,
        )
        self.gate_failures = Counter(
            "clarion_quality_gate_failures_total",
            "Explained rows whose quality gate failed",
            ["model", "gate"],
            registry=r,
        )
        self.models_loaded = Gauge(
            "clarion_models_loaded",
            "Models served",
            multiprocess_mode="livemax",
            registry=r,
        )

    def exposition(self) -> tuple[bytes, str]:
        """The text ``/metrics`` answers, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self.multiprocess_dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """This worker is gone: its live gauges stop counting."""
        if self.multiprocess_dir is not None:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]


class MeteredRecorder:
    """A ``Recorder`` that counts and times each explanation around the audit write (and,
    with ``tracing``, adds the explanation's stage spans)."""

    def __init__(self, recorder: Any, metrics: Metrics, tracing: Tracing | None = None) -> None:
        self.recorder = recorder
        self.metrics = metrics
        self.tracing = tracing

    def record(self, result: ExplainResult, origin: Origin) -> None:
        start = time.perf_counter()
        if self.tracing is None:
            self.recorder.record(result, origin)
        else:  # the stages so far as spans, then the write inside its own
            self.tracing.stages(result.timing, time.time_ns())
            with self.tracing.audit_span():
                self.recorder.record(result, origin)
        self._count(result, time.perf_counter() - start)

    def record_all(
        self, results: Sequence[tuple[ExplainResult, Origin]]
    ) -> list[BaseException | None]:
        if self.tracing is not None:  # each write in its own span, as ``record`` does
            return [self._one(result, origin) for result, origin in results]
        start = time.perf_counter()
        failed: list[BaseException | None] = self.recorder.record_all(results)
        seconds = time.perf_counter() - start
        for (result, _), error in zip(results, failed, strict=True):
            if error is None:
                self._count(result, seconds)
        return failed

    def _one(self, result: ExplainResult, origin: Origin) -> BaseException | None:
        try:
            self.record(result, origin)
        except Exception as exc:
            return exc
        return None

    def _count(self, result: ExplainResult, seconds: float) -> None:
        m, model, method = self.metrics, result.model.name, result.method
        m.audit_seconds.observe(seconds)
        m.explanations.labels(model, method).inc()
        total_ms = result.timing.get("total_ms", 0.0)
        m.explanation_seconds.labels(model, method).observe(total_ms / 1000)
        for instance in result.instances:
            for gate in instance.review.gates:
                if not gate.passed:
                    m.gate_failures.labels(model, gate.name).inc()


class MetricsMiddleware:
    """Counts and times every HTTP request by its route's template (``/v1/models/{name}/
    explain``, never the path a caller sent); unmatched paths count as ``unmatched``.

    Add it innermost: the router writes the matched route into the scope it is given."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.request_seconds.labels(route).observe(time.perf_counter() - start)
