"""``GET /metrics``: the issue's families, moving as requests are served, with no instance
value in any label; summed over worker processes under ``clarion serve --workers``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.api.app import create_app
from tests.helpers.server import serving
from tests.support import make_settings

CASE = {"income": 173.1379, "debt": 30.0, "employment": "part_time", "has_guarantor": 1}
FAMILIES = {
    "clarion_requests",
    "clarion_request_duration_seconds",
    "clarion_explanations",
    "clarion_explanation_duration_seconds",
    "clarion_audit_write_duration_seconds",
    "clarion_quality_gate_failures",
    "clarion_models_loaded",
    "clarion_explain_pass_requests",
}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(text: str, name: str, **labels: str) -> float:
    return _samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def local(tiny_models_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tiny_models_dir))) as c:
        yield c


def test_metrics_expose_the_families_and_move_when_requests_are_served(
    local: TestClient,
) -> None:
    before = local.get("/metrics")
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    names = {f.name for f in text_string_to_metric_families(before.text)}
    assert names >= FAMILIES
    assert _value(before.text, "clarion_models_loaded") == 3

    route = "/v1/models/{name}/explain"
    for _ in range(2):
        assert local.post("/v1/models/tiny_credit/explain", json={"instances": [CASE]}).is_success
    assert local.post("/v1/models/tiny_credit/explain", json={"instances": [{}]}).status_code == 422
    after = local.get("/metrics").text

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before.text, name, **labels)

    assert moved("clarion_requests_total", route=route, status="200") == 2
    assert moved("clarion_requests_total", route=route, status="422") == 1
    assert moved("clarion_request_duration_seconds_count", route=route) == 3
    labels = {"model": "tiny_credit", "method": "exact_shap"}
    assert moved("clarion_explanations_total", **labels) == 2
    assert moved("clarion_explanation_duration_seconds_count", **labels) == 2
    assert moved("clarion_explanation_duration_seconds_sum", **labels) > 0
    assert moved("clarion_audit_write_duration_seconds_count") == 2
    # Labels name routes, models, methods, gates and statuses: never a value someone sent.
    for _, pairs in _samples(after):
        for _, value in pairs:
            assert "173.1379" not in value
            assert "part_time" not in value


def test_unmatched_paths_share_one_label(local: TestClient) -> None:
    local.get("/v1/no/such/path/12345")
    text = local.get("/metrics").text
    assert _value(text, "clarion_requests_total", route="unmatched", status="404") >= 1
    assert "12345" not in text


@pytest.mark.slow
def test_worker_processes_add_up_in_multiprocess_mode(
    tiny_models_dir: Path, tmp_path: Path
) -> None:
    stale = tmp_path / "metrics"
    stale.mkdir()
    (stale / "counter_999.db").write_bytes(b"left by an earlier run")
    with serving(
        tiny_models_dir, tmp_path, workers=2, timeout=180, PROMETHEUS_MULTIPROC_DIR=str(stale)
    ) as (url, _):
        assert not (stale / "counter_999.db").exists()  # cleaned at start-up
        for _ in range(12):  # fresh connections, so both workers take some
            r = httpx.post(f"{url}/v1/models/tiny_credit/predict", json={"instances": [CASE]})
            assert r.status_code == 200
        text = httpx.get(f"{url}/metrics").text
        route = "/v1/models/{name}/predict"
        assert _value(text, "clarion_requests_total", route=route, status="200") == 12
        assert _value(text, "clarion_models_loaded") == 3


def test_each_pass_of_the_compute_lane_counts_the_requests_it_answered(
    tmp_path: Path,
) -> None:
    """Exact tree_shap requests go through the coalescing lane; one at a time, each pass
    answers one, and ``clarion_explain_pass_requests{model}`` counts one pass of one."""
    models = Path(__file__).resolve().parents[4] / "models"
    settings = make_settings(models, database_url=f"sqlite:///{tmp_path / 'audit.db'}")
    with TestClient(create_app(settings)) as client:
        row = client.get("/v1/models/german_credit/samples?limit=1").json()["instances"][0]
        before = client.get("/metrics").text
        body = {"instances": [row], "method": "tree_shap", "output": "raw"}
        for _ in range(3):
            assert client.post("/v1/models/german_credit/explain", json=body).is_success
        body_many = {"instances": [row] * 20, "method": "tree_shap", "output": "raw"}
        assert client.post("/v1/models/german_credit/explain", json=body_many).is_success
        after = client.get("/metrics").text

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    # three passes of one request; the 20-row request is over CLARION_COALESCE_ROWS and
    # goes through the shared pool, not the lane
    assert moved("clarion_explain_pass_requests_count", model="german_credit") == 3
    assert moved("clarion_explain_pass_requests_sum", model="german_credit") == 3
    assert moved("clarion_explain_pass_requests_bucket", model="german_credit", le="1.0") == 3
