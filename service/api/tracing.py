"""OpenTelemetry tracing, opt-in (the ``otel`` extra): on when ``OTEL_EXPORTER_OTLP_ENDPOINT``
is set, or when a test hands an exporter in.

FastAPI (one span per request), SQLAlchemy (the audit store's statements) and httpx (calls
the service makes) are instrumented; each recorded explanation adds spans for its stages,
``clarion.validate``, ``clarion.compute``, ``clarion.people`` (timed by the engine,
``result.timing``) and ``clarion.audit`` (the committed write), under the request's span.
The exporter, its headers and the service name come from the standard ``OTEL_*`` variables.
OpenTelemetry is imported only when tracing is on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ENDPOINT_ENV", "Tracing"]

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
_STAGES = (("validate", "validate_ms"), ("compute", "compute_ms"), ("people", "people_ms"))


class Tracing:
    """The tracer provider and the instrumentation of one app; ``close`` undoes it."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("clarion")
        self._undo: list[Callable[[], None]] = []

    @classmethod
    def from_environment(cls, app: Any, exporter: Any = None) -> Tracing | None:
        """Tracing for ``app`` when ``exporter`` is given or OTLP is configured; else None."""
        if exporter is None and not os.environ.get(ENDPOINT_ENV):
            return None
        try:
            from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        except ImportError as exc:  # the variable is set but the extra is not installed
            from service.errors import ClarionError

            raise ClarionError(
                f"{ENDPOINT_ENV} is set but OpenTelemetry is not installed: "
                "pip install 'clarion[otel]'"
            ) from exc
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "clarion")})
        provider = TracerProvider(resource=resource)
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
        return cls(provider)

    def instrument_libraries(self, engine: Any) -> None:
        """SQLAlchemy (the audit store's ``engine``) and httpx, until ``close``."""
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        # The instrumentation declares SQLAlchemy < 2.1; its engine events work on 2.1 too
        # (tests/service/api/test_tracing.py reads the statements' spans).
        SQLAlchemyInstrumentor().instrument(
            engine=engine, tracer_provider=self.provider, skip_dep_check=True
        )
        self._undo.append(SQLAlchemyInstrumentor().uninstrument)
        httpx_instrumentor = HTTPXClientInstrumentor()
        if not httpx_instrumentor.is_instrumented_by_opentelemetry:
            httpx_instrumentor.instrument(tracer_provider=self.provider)
            self._undo.append(httpx_instrumentor.uninstrument)

    def stages(self, timing: Mapping[str, float], ended_ns: int) -> None:
        """Spans for the engine's timed stages, laid end to end up to ``ended_ns``."""
        total_ns = sum(int(timing.get(key, 0.0) * 1e6) for _, key in _STAGES)
        start = ended_ns - total_ns
        for name, key in _STAGES:
            end = start + int(timing.get(key, 0.0) * 1e6)
            span = self.tracer.start_span(f"clarion.{name}", start_time=start)
            span.set_attribute("clarion.stage_ms", float(timing.get(key, 0.0)))
            span.end(end_time=end)
            start = end

    def audit_span(self) -> Any:
        return self.tracer.start_as_current_span("clarion.audit")

    def close(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        self.provider.shutdown()
