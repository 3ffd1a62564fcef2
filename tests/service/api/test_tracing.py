"""OpenTelemetry tracing (opt-in): the request's span, the audit store's SQL and the
explanation's stages, in one trace, read back from the SDK's in-memory exporter."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from tests.support import make_settings

CASE = {"income": 173.1379, "debt": 30.0, "employment": "part_time", "has_guarantor": 1}


def test_an_explanation_is_traced_with_its_stages(tiny_models_dir: Path) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    app = create_app(make_settings(tiny_models_dir), span_exporter=exporter)
    with TestClient(app) as c:
        exporter.clear()  # start-up's own statements
        r = c.post("/v1/models/tiny_credit/explain", json={"instances": [CASE]})
        assert r.status_code == 200, r.text
    spans = exporter.get_finished_spans()
    by_name = {s.name: s for s in spans}
    request = by_name["POST /v1/models/{name}/explain"]
    stages = [by_name[f"clarion.{stage}"] for stage in ("validate", "compute", "people", "audit")]
    trace = request.context.trace_id
    times = []
    for stage in stages:
        assert stage.context.trace_id == trace
        assert stage.start_time is not None
        assert stage.end_time is not None
        assert stage.end_time >= stage.start_time
        times.append((stage.start_time, stage.end_time))
    (_, validated), (computing, computed), (telling, told), (auditing, _) = times
    assert validated <= computing + 1
    assert computed <= telling + 1
    assert told <= auditing
    attributes = stages[1].attributes or {}
    assert attributes["clarion.stage_ms"] == r.json()["timing"]["compute_ms"]
    sql = [s for s in spans if s.attributes and s.attributes.get("db.system") == "sqlite"]
    assert sql, sorted(by_name)


def test_tracing_is_off_without_an_endpoint(
    tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    app = create_app(make_settings(tiny_models_dir))
    assert app.state.tracing is None
