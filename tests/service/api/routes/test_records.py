"""Explanation records through HTTP, on SQLite and PostgreSQL: explain, browse, read, replay."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from service.api.app import create_app
from service.audit import AuditStore
from service.audit._canonical import canonical_bytes, canonical_json, sha256_hex
from service.audit.tables import ExplanationRecord
from tests.helpers.audit import audit_settings
from tests.support import _credit_data, _to_onnx, credit_bundle, write_bundle

CASE = {"income": 42.5, "debt": 30.0, "employment": "part_time", "has_guarantor": 1}
HIRING = {"score": 61.5, "gap": 18.0, "gender": "female"}


def _explain(client: TestClient, model: str, instances: list[Any], **body: Any) -> dict[str, Any]:
    r = client.post(f"/v1/models/{model}/explain", json={"instances": instances, **body})
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def test_every_explanation_is_a_record_with_its_id(audit_client: TestClient) -> None:
    response = _explain(
        audit_client, "tiny_credit", [CASE], method="exact_shap", options={"seed": 3}
    )
    r = audit_client.get(f"/v1/explanations/{response['id']}")
    assert r.status_code == 200, r.text
    record = r.json()
    assert record["id"] == response["id"]
    assert record["model"]["sha256"] == response["model"]["sha256"]
    assert record["provenance"]["seed"] == 3
    assert _sent(record["response"]) == _sent(response)
    # The record keeps the timings known when it was written; the response adds the
    # write itself (audit_ms) and a total that covers it.
    recorded, sent = record["response"]["timing"], response["timing"]
    assert "audit_ms" not in recorded
    assert {k: sent[k] for k in recorded if k != "total_ms"} == {
        k: v for k, v in recorded.items() if k != "total_ms"
    }
    assert sent["total_ms"] >= recorded["total_ms"] + sent["audit_ms"] * 0.999
    assert record["request"]["method"] == "exact_shap"
    assert record["request"]["options"] == {"seed": 3}
    assert record["input"]["features"] == ["income", "debt", "employment", "has_guarantor"]
    assert record["input"]["rows"] == [[42.5, 30.0, 1.0, 1.0]]
    values = [CASE]
    assert record["input"]["sha256"] == sha256_hex(canonical_bytes(values))
    assert record["runtime"]["provider"] == "CPUExecutionProvider"
    assert record["runtime"]["onnxruntime"] == response["provenance"]["versions"]["onnxruntime"]
    assert record["caller"] == "anonymous"
    assert record["channel"] == "api"
    assert record["sealed"] == "clear"
    assert len(record["record_sha256"]) == 64


def test_browse_filters_and_pages_through_http(audit_client: TestClient) -> None:
    made = [
        _explain(audit_client, "tiny_credit", [CASE], method="exact_shap")["id"] for _ in range(3)
    ]
    made.append(_explain(audit_client, "tiny_regression", [[0.1, 0.2, 0.3]])["id"])
    r = audit_client.get("/v1/explanations", params={"model": "tiny_credit", "limit": 2})
    assert r.status_code == 200, r.text
    first = r.json()
    assert [e["id"] for e in first["explanations"]] == made[2:0:-1]
    assert first["explanations"][0]["model"]["name"] == "tiny_credit"
    assert first["explanations"][0]["outcomes"] == ["declined"]
    second = audit_client.get(
        "/v1/explanations",
        params={"model": "tiny_credit", "limit": 2, "cursor": first["next_cursor"]},
    ).json()
    assert [e["id"] for e in second["explanations"]] == [made[0]]
    assert second["next_cursor"] is None
    by_outcome = audit_client.get("/v1/explanations", params={"outcome": "declined"}).json()
    assert {e["id"] for e in by_outcome["explanations"]} == set(made[:3])
    since = first["explanations"][0]["created_at"]
    recent = audit_client.get("/v1/explanations", params={"since": since}).json()
    assert {e["id"] for e in recent["explanations"]} == {made[2], made[3]}
    assert audit_client.get("/v1/explanations", params={"cursor": "x"}).status_code == 422


def test_an_unknown_record_is_404(audit_client: TestClient) -> None:
    r = audit_client.get(f"/v1/explanations/{'0' * 32}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def _available(client: TestClient, model: str) -> list[str]:
    explainers = client.get(f"/v1/models/{model}").json()["explainers"]
    return [m for m, status in explainers.items() if status == "available"]


def test_replay_reproduces_every_available_method_bit_for_bit(audit_client: TestClient) -> None:
    methods = _available(audit_client, "tiny_credit")
    assert "exact_shap" in methods
    for method in methods:
        options = {"seed": 11}
        if method == "kernel_shap":
            options["nsamples"] = 64
        response = _explain(
            audit_client, "tiny_credit", [CASE, CASE], method=method, options=options
        )
        r = audit_client.post(f"/v1/explanations/{response['id']}/replay")
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["identical"], (method, result["differences"])
        assert result["values_identical"]
        assert result["differences"] == []


def test_replay_writes_no_record(audit_client: TestClient) -> None:
    response = _explain(audit_client, "tiny_credit", [CASE], method="exact_shap")
    audit_client.post(f"/v1/explanations/{response['id']}/replay")
    listed = audit_client.get("/v1/explanations").json()["explanations"]
    assert [e["id"] for e in listed] == [response["id"]]


def _retrained_credit(root: Path) -> None:
    """The same card, a different model file: what a silent model swap looks like."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X, y = _credit_data(np.random.default_rng(99), 400)
    model = LogisticRegression(C=0.01, max_iter=1000).fit(X, y)
    original = root / "tiny_credit"
    card = __import__("yaml").safe_load((original / "card.yaml").read_text())
    background = (original / "background.csv").read_bytes()
    shutil.rmtree(original)
    write_bundle(original, _to_onnx(model, 4), card, background)


def test_replay_reports_a_changed_model(
    audit_models_dir: Path, database_url: str, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    credit_bundle(models)
    settings = audit_settings(models, database_url)
    with TestClient(create_app(settings)) as client:
        record_id = _explain(client, "tiny_credit", [CASE], method="exact_shap")["id"]
    _retrained_credit(models)
    with TestClient(create_app(settings)) as client:
        result = client.post(f"/v1/explanations/{record_id}/replay").json()
    assert result["identical"] is False
    assert result["model_changed"] is True
    assert result["values_identical"] is False
    kinds = {d["kind"] for d in result["differences"]}
    assert {"model_changed", "value"} <= kinds
    changed = [d for d in result["differences"] if d["path"].endswith(".attribution")]
    assert {d["feature"] for d in changed} <= {"income", "debt", "employment", "has_guarantor"}
    assert all(d["recorded"] != d["replayed"] for d in changed)


def _raw_row(database_url: str, record_id: str) -> ExplanationRecord:
    store = AuditStore(create_engine(database_url))
    try:
        with store.reading() as session:
            row = session.scalar(select(ExplanationRecord).where(ExplanationRecord.id == record_id))
            assert row is not None
            return row
    finally:
        store.close()


def test_sensitive_values_are_encrypted_at_rest(
    audit_client: TestClient, database_url: str
) -> None:
    response = _explain(audit_client, "tiny_hiring", [HIRING], method="exact_shap")
    row = _raw_row(database_url, response["id"])
    stored = canonical_json(row.document)
    assert row.sealed is not None
    assert row.sealed.startswith("v1.")
    assert "female" not in stored
    assert row.document["input"]["rows"][0] == [61.5, None, None]
    assert row.document["input"]["values"][0] == {"score": 61.5, "gap": None, "gender": None}
    gap = next(
        a
        for a in row.document["response"]["explanations"][0]["attributions"]
        if a["feature"] == "gap"
    )
    assert gap["value"] is None
    assert isinstance(gap["attribution"], float)
    record = audit_client.get(f"/v1/explanations/{response['id']}").json()
    assert record["sealed"] == "opened"
    assert record["input"]["values"][0] == HIRING
    assert _sent(record["response"]) == _sent(response)
    replay = audit_client.post(f"/v1/explanations/{response['id']}/replay").json()
    assert replay["identical"], replay


def test_without_the_key_sensitive_values_stay_sealed(
    audit_models_dir: Path, database_url: str
) -> None:
    with TestClient(create_app(audit_settings(audit_models_dir, database_url))) as client:
        record_id = _explain(client, "tiny_hiring", [HIRING], method="exact_shap")["id"]
    keyless = audit_settings(audit_models_dir, database_url, audit_encryption_key=None)
    with TestClient(create_app(keyless)) as client:
        record = client.get(f"/v1/explanations/{record_id}").json()
        assert record["sealed"] == "sealed"
        assert record["input"]["values"][0]["gender"] is None
        r = client.post(f"/v1/explanations/{record_id}/replay")
        assert r.status_code == 409
        assert "cannot be decrypted" in r.json()["error"]["message"]


def test_the_omit_policy_leaves_sensitive_values_out(
    audit_models_dir: Path, database_url: str
) -> None:
    settings = audit_settings(audit_models_dir, database_url, sensitive_policy="omit")
    with TestClient(create_app(settings)) as client:
        record_id = _explain(client, "tiny_hiring", [HIRING], method="exact_shap")["id"]
        record = client.get(f"/v1/explanations/{record_id}").json()
        assert record["sealed"] == "omitted"
        assert record["sensitive"]["policy"] == "omit"
        assert record["input"]["values"][0] == {"score": 61.5, "gap": None, "gender": None}
        r = client.post(f"/v1/explanations/{record_id}/replay")
        assert r.status_code == 409
        assert "left out by policy" in r.json()["error"]["message"]
    assert _raw_row(database_url, record_id).sealed is None


def test_explain_is_503_and_records_nothing_when_the_store_cannot_be_written(
    audit_client: TestClient, database_url: str
) -> None:
    _explain(audit_client, "tiny_credit", [CASE], method="exact_shap")
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE decisions"))
    finally:
        engine.dispose()
    r = audit_client.post(
        "/v1/models/tiny_credit/explain", json={"instances": [CASE], "method": "exact_shap"}
    )
    assert r.status_code == 503, r.text
    error = r.json()["error"]
    assert error["code"] == "unavailable"
    assert "audit store could not be written" in error["message"]
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            count = connection.execute(text("SELECT count(*) FROM explanation_records")).scalar()
    finally:
        engine.dispose()
    assert count == 1


def test_case_packet_is_self_contained_html(audit_client: TestClient) -> None:
    response = _explain(audit_client, "tiny_credit", [CASE], method="exact_shap")
    r = audit_client.get(f"/v1/explanations/{response['id']}/case")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    record = audit_client.get(f"/v1/explanations/{response['id']}").json()
    assert record["record_sha256"] in html
    assert response["model"]["sha256"] in html
    for forbidden in ("<script", "http://", "https://", "<link", "@import", "src="):
        assert forbidden not in html


@pytest.mark.parametrize("limit", [0, 501])
def test_browse_limits_are_validated(audit_client: TestClient, limit: int) -> None:
    assert audit_client.get("/v1/explanations", params={"limit": limit}).status_code == 422


def test_a_rendered_widget_is_hashed_in_the_record(audit_client: TestClient) -> None:
    r = audit_client.post(
        "/v1/models/tiny_credit/explain",
        json={"instances": [CASE], "method": "exact_shap", "format": "html"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    (summary,) = audit_client.get("/v1/explanations").json()["explanations"]
    record = audit_client.get(f"/v1/explanations/{summary['id']}").json()
    assert record["request"]["format"] == "html"
    assert record["widgets"] == {"page": sha256_hex(r.text)}


def _sent(response: dict[str, Any]) -> dict[str, Any]:
    """A response without its timing, the one part a record keeps as of its writing."""
    return {k: v for k, v in response.items() if k != "timing"}


def test_a_reference_is_kept_listed_filtered_and_exported(audit_client: TestClient) -> None:
    mine = _explain(audit_client, "tiny_credit", [CASE], method="exact_shap", reference="LOAN-7")
    _explain(audit_client, "tiny_credit", [CASE], method="exact_shap", reference="LOAN-8")
    _explain(audit_client, "tiny_credit", [CASE], method="exact_shap")
    listed = audit_client.get("/v1/explanations", params={"reference": "LOAN-7"}).json()
    assert [x["id"] for x in listed["explanations"]] == [mine["id"]]
    assert listed["explanations"][0]["reference"] == "LOAN-7"
    record = audit_client.get(f"/v1/explanations/{mine['id']}").json()
    assert record["reference"] == "LOAN-7"
    assert record["request"]["reference"] == "LOAN-7"
    packet = audit_client.get(f"/v1/explanations/{mine['id']}/case").text
    assert "LOAN-7" in packet
    body = {"filters": {"reference": "LOAN-8"}, "format": "csv"}
    listing = audit_client.post("/v1/exports", json=body).text.splitlines()
    assert len(listing) == 2
    assert listing[1].split(",")[-2:] == ["LOAN-8", "decision"]
    too_long = {"instances": [CASE], "reference": "x" * 201}
    assert audit_client.post("/v1/models/tiny_credit/explain", json=too_long).status_code == 422


def test_previews_stay_out_of_listings_samples_and_exports(audit_client: TestClient) -> None:
    decision = _explain(audit_client, "tiny_credit", [CASE], method="exact_shap")
    preview = _explain(audit_client, "tiny_credit", [CASE], method="exact_shap", purpose="preview")
    listed = audit_client.get("/v1/explanations").json()["explanations"]
    assert [x["id"] for x in listed] == [decision["id"]]
    previews = audit_client.get("/v1/explanations", params={"purpose": "preview"}).json()
    assert [x["id"] for x in previews["explanations"]] == [preview["id"]]
    assert previews["explanations"][0]["purpose"] == "preview"
    sample = audit_client.post("/v1/samples", json={"size": 10, "seed": 1}).json()
    assert {i["record_id"] for i in sample["items"]} == {decision["id"]}
    asked = audit_client.post(
        "/v1/samples", json={"filters": {"purpose": "preview"}, "size": 10, "seed": 1}
    ).json()
    assert {i["record_id"] for i in asked["items"]} == {preview["id"]}
    exported = audit_client.post("/v1/exports", json={"filters": {}, "format": "csv"}).text
    assert decision["id"] in exported
    assert preview["id"] not in exported
    report = audit_client.get("/v1/models/tiny_credit/report").json()
    assert report["n_records"] == 1
    # The record itself is still there, for whoever looks it up.
    assert audit_client.get(f"/v1/explanations/{preview['id']}").json()["purpose"] == "preview"
