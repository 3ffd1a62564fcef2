"""/v1/jobs on a real Dask cluster: rows equal one-row explains on every example model,
the three result formats, bad rows and bad files, the record, row replay, cancel."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from tests.helpers.jobs import background_rows, job_settings, parquet_of, rows_csv, submit, wait_for

MAX_JOB_ROWS = 500
# Small sample budgets keep the sampling methods quick; the equality holds at any budget.
OPTIONS: dict[str, dict[str, Any]] = {
    "tree_shap": {},
    "exact_shap": {},
    "kernel_shap": {"nsamples": 80},
    "permutation_shap": {"max_evals": 20},
    "lime": {"num_samples": 300},
}


@pytest.fixture(scope="module")
def jobs_client(
    dask_scheduler: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("jobs_api")
    (root / "inputs").mkdir()
    (root / "inputs" / "rows.csv").write_bytes(rows_csv("diabetes_progression", 7))
    settings = job_settings(
        root, dask_scheduler, max_job_rows=MAX_JOB_ROWS, jobs_input_root=root / "inputs"
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _bits(value: Any) -> Any:
    """Floats by their bits (so -0.0 differs from 0.0), everything else as is."""
    return struct.pack("<d", value) if isinstance(value, float) else value


def _jsonl(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/jobs/{job_id}/result", params={"format": "jsonl"})
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def _as_explained(row: dict[str, Any]) -> dict[str, Any]:
    """A result row in the shape of an explain response's numbers."""
    out: dict[str, Any] = {
        "target": row["target"],
        "output_value": _bits(row["output_value"]),
        "base_value": _bits(row["base_value"]),
    }
    for key, value in row.items():
        if key.startswith(("attribution.", "quality.", "probability.")):
            out[key] = _bits(value)
    if "label" in row:
        out["label"] = row["label"]
    if "value" in row:
        out["value"] = _bits(row["value"])
    return out


def _explained(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "target": item["target"],
        "output_value": _bits(item["output_value"]),
        "base_value": _bits(item["base_value"]),
    }
    for a in item["attributions"]:
        out[f"attribution.{a['feature']}"] = _bits(a["attribution"])
    for name, value in item["quality"].items():
        out[f"quality.{name}"] = _bits(value)
    prediction = item["prediction"]
    if prediction["label"] is not None:
        out["label"] = prediction["label"]
        for c, p in prediction["probabilities"].items():
            out[f"probability.{c}"] = _bits(p)
    else:
        out["value"] = _bits(prediction["value"])
    return out


def _instances(model: str, n: int) -> list[dict[str, Any]]:
    """The first n background rows as an explain request's instances (CSV text parsed the
    way the service's sample endpoint decodes it)."""
    lines = background_rows(model)
    reader = csv.DictReader(io.StringIO("\n".join(lines[: n + 1])))
    return list(reader)


@pytest.mark.slow
@pytest.mark.parametrize(
    "model", ["german_credit", "breast_cancer", "hiring_screen", "diabetes_progression"]
)
def test_every_row_equals_a_one_row_explain(jobs_client: TestClient, model: str) -> None:
    detail = jobs_client.get(f"/v1/models/{model}").json()
    methods = [m for m, s in detail["explainers"].items() if s == "available" and m in OPTIONS]
    specs = [(m, None) for m in methods] + [("tree_shap", "raw")] * ("tree_shap" in methods)
    samples = jobs_client.get(f"/v1/models/{model}/samples", params={"limit": 3}).json()
    n = len(samples["instances"])
    jobs = {}
    for method, output in specs:
        spec = {"model": model, "method": method, "output": output}
        spec["options"] = {"seed": 7, **OPTIONS[method]}
        response = submit(jobs_client, spec, rows_csv(model, n, reference=True))
        if response.status_code == 422:  # refused as explain refuses it, in the same words
            body = {"instances": samples["instances"][:1], **spec, "model": None}
            del body["model"]
            refused = jobs_client.post(f"/v1/models/{model}/explain", json=body)
            assert refused.status_code == 422
            assert refused.json()["error"]["message"] == response.json()["error"]["message"]
            continue
        assert response.status_code == 202, response.text
        assert response.headers["location"] == f"/v1/jobs/{response.json()['id']}"
        jobs[method, output] = response.json()["id"]
    assert jobs
    for (method, output), job_id in jobs.items():
        job = wait_for(jobs_client, job_id)
        assert job["status"] == "succeeded", job
        rows = _jsonl(jobs_client, job_id)
        assert [r["row"] for r in rows] == list(range(n))
        assert [r["reference"] for r in rows] == [f"case-{i}" for i in range(n)]
        for i, instance in enumerate(samples["instances"]):
            body = {
                "instances": [instance],
                "method": job["method"],
                "output": job["output"],
                "options": job["options"],
            }
            explained = jobs_client.post(f"/v1/models/{model}/explain", json=body)
            assert explained.status_code == 200, explained.text
            item = explained.json()["explanations"][0]
            assert _as_explained(rows[i]) == _explained(item), (model, method, output, i)


def test_the_three_formats_hold_the_same_numbers(jobs_client: TestClient) -> None:
    data = rows_csv("german_credit", 120, reference=True)
    spec = {"model": "german_credit", "method": "tree_shap", "output": "raw"}
    job = wait_for(jobs_client, submit(jobs_client, spec, data).json()["id"])
    assert job["status"] == "succeeded", job
    assert job["progress"]["rows_done"] == job["progress"]["rows_total"] == 120
    assert job["progress"]["partitions"] == 3
    assert job["input"] == {
        "format": "csv",
        "sha256": hashlib.sha256(data).hexdigest(),
        "rows": 120,
        "reference": True,
        "uri": None,
    }
    url = f"/v1/jobs/{job['id']}/result"
    raw = jobs_client.get(url).content
    assert hashlib.sha256(raw).hexdigest() == job["result"]["sha256"]
    table = pq.read_table(pa.BufferReader(raw))
    players = jobs_client.get("/v1/models/german_credit").json()["players"]
    assert table.column_names == [
        "row", "reference", "label", "probability.good", "probability.bad", "target",
        "output_value", "base_value", *[f"attribution.{p}" for p in players],
        "quality.additivity_residual", "error",
    ]  # fmt: skip
    from_csv = pcsv.read_csv(io.BytesIO(jobs_client.get(url, params={"format": "csv"}).content))
    from_jsonl = pa.Table.from_pylist(_jsonl(jobs_client, job["id"]))
    for column in table.column_names:
        expected = table.column(column).to_pylist()
        assert from_jsonl.column(column).to_pylist() == expected, column
        if column != "error":  # CSV has no null text: an empty cell
            assert from_csv.column(column).to_pylist() == expected, column
    # The same rows uploaded as JSON Lines (numbers as numbers) give the same result.
    decoded = pcsv.read_csv(io.BytesIO(data)).to_pylist()
    lines = b"".join(json.dumps(row).encode() + b"\n" for row in decoded)
    again = wait_for(jobs_client, submit(jobs_client, spec, lines, "rows.jsonl").json()["id"])
    assert again["status"] == "succeeded", again
    assert again["input"]["format"] == "jsonl"
    assert again["input"]["sha256"] == hashlib.sha256(lines).hexdigest()
    assert jobs_client.get(f"/v1/jobs/{again['id']}/result").content == raw


def test_rows_with_bad_values_are_reported_not_fatal(jobs_client: TestClient) -> None:
    header, *rows = background_rows("diabetes_progression")[:6]
    names = header.split(",")
    cells = [r.split(",") for r in rows]
    cells[1][names.index("age")] = "7"  # out of the range [18, 100]
    cells[3][names.index("bmi")] = "heavy"  # not a number
    data = "\n".join([header, *(",".join(c) for c in cells)]).encode()
    spec = {"model": "diabetes_progression", "method": "tree_shap"}
    job = wait_for(jobs_client, submit(jobs_client, spec, data).json()["id"])
    assert job["status"] == "succeeded", job
    assert job["progress"]["rows_failed"] == job["result"]["rows_failed"] == 2
    result = _jsonl(jobs_client, job["id"])
    assert result[1]["error"] == "age is out of the declared range [18, 100]; got 7"
    assert result[3]["error"] == "bmi is not a number: 'heavy'"
    assert result[1]["value"] is None
    assert result[1]["attribution.age"] is None
    assert [r["error"] for r in result if r["row"] not in (1, 3)] == [None] * 3
    assert all(isinstance(r["value"], float) for r in result if r["row"] not in (1, 3))


def _garbage() -> bytes:
    return bytes(range(256)) * 4


def _csv_with(model: str, change: str) -> bytes:
    header, *rows = background_rows(model)[:4]
    if change == "unknown":
        return "\n".join([header + ",colour", *(r + ",red" for r in rows)]).encode()
    if change == "missing":
        header.split(",")[0]
        return "\n".join([header.split(",", 1)[1], *(r.split(",", 1)[1] for r in rows)]).encode()
    if change == "header_only":
        return (header + "\n").encode()
    raise AssertionError(change)


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (_garbage(), "data", "neither Parquet, nor CSV"),
        (_csv_with("diabetes_progression", "unknown"), "data.colour", "not a feature"),
        (_csv_with("diabetes_progression", "missing"), "data.age", "is missing"),
        (_csv_with("diabetes_progression", "header_only"), "data", "no rows"),
        (b"", "data", "empty"),
        (rows_csv("diabetes_progression", MAX_JOB_ROWS + 1), "data", "CLARION_MAX_JOB_ROWS"),
        (b"PAR1 not really parquet PAR1", "data", "not a readable Parquet"),
    ],
    ids=["not-csv", "unknown-column", "missing-column", "no-rows", "empty", "too-many", "bad-pq"],
)
def test_bad_files_are_refused_at_submission(
    jobs_client: TestClient, data: bytes, field: str, words: str
) -> None:
    response = submit(jobs_client, {"model": "diabetes_progression"}, data)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert words in error["message"]
    assert error["details"][0]["field"] == field


def test_an_unknown_parquet_column_is_refused(jobs_client: TestClient) -> None:
    table = pa.table({"age": [50], "colour": ["red"]})
    response = submit(jobs_client, {"model": "diabetes_progression"}, parquet_of(table), "x.pq")
    assert response.status_code == 422
    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert "data.colour" in fields
    assert "data.bmi" in fields


@pytest.mark.parametrize(
    ("spec", "status", "field"),
    [
        ({"model": "no_such_model"}, 404, "name"),
        ({"model": "diabetes_progression", "method": "magic"}, 422, "method"),
        ({"model": "diabetes_progression", "options": {"nsamples": 3}}, 422, "options.nsamples"),
        ({"model": "diabetes_progression", "version": "9.9"}, 404, "version"),
        ({"model": "diabetes_progression", "target": "nope"}, 422, "target"),
        ({"model": "diabetes_progression", "colour": "red"}, 422, "spec.colour"),
        ({"method": "tree_shap"}, 422, "spec.model"),
    ],
    ids=["unknown-model", "method", "option", "version", "target", "extra", "no-model"],
)
def test_bad_specs_are_refused_like_explain(
    jobs_client: TestClient, spec: dict[str, Any], status: int, field: str
) -> None:
    response = submit(jobs_client, spec, rows_csv("diabetes_progression", 3))
    assert response.status_code == status, response.text
    assert field in [d.get("field") for d in response.json()["error"]["details"]]


def test_malformed_submissions_say_what_is_wrong(jobs_client: TestClient) -> None:
    no_data = jobs_client.post("/v1/jobs", data={"spec": '{"model": "german_credit"}'}, files={})
    assert no_data.status_code == 422
    not_json = jobs_client.post(
        "/v1/jobs", files={"data": ("a.csv", b"x")}, data={"spec": "{model"}
    )
    assert not_json.status_code == 422
    assert not_json.json()["error"]["details"][0]["field"].startswith("spec")
    text = jobs_client.post("/v1/jobs", content=b"x", headers={"content-type": "text/plain"})
    assert text.status_code == 422
    assert "multipart/form-data" in text.json()["error"]["message"]
    for uri, problem in [
        ("/etc/passwd", "outside the input root"),
        ("../audit.db", "outside the input root"),
        ("missing.csv", "no such file"),
        ("zz://a/b", "unsupported scheme"),
        ("http://169.254.169.254/latest", "unsupported scheme"),
        ("simplecache::file:///etc/passwd", "unsupported scheme"),
    ]:
        refused = jobs_client.post("/v1/jobs", json={"model": "german_credit", "input_uri": uri})
        assert refused.status_code == 422, uri
        assert refused.json()["error"]["details"][0]["problem"] == problem, uri
    from_root = jobs_client.post(
        "/v1/jobs", json={"model": "diabetes_progression", "input_uri": "rows.csv"}
    )
    assert from_root.status_code == 202, from_root.text
    job = wait_for(jobs_client, from_root.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["input"]["uri"] == "rows.csv"
    assert job["progress"]["rows_done"] == 7
    fmt = jobs_client.get("/v1/jobs/" + "0" * 32 + "/result", params={"format": "xlsx"})
    assert fmt.status_code == 422
    assert jobs_client.get("/v1/jobs/" + "0" * 32).status_code == 404


def test_the_record_replay_listing_and_cancel(jobs_client: TestClient, tmp_path: Path) -> None:
    data = parquet_of(
        pa.Table.from_pylist(
            [dict(zip(background_rows("hiring_screen")[0].split(","), r, strict=True))
             for r in csv.reader(io.StringIO("\n".join(background_rows("hiring_screen")[1:21])))]
        )
    )  # fmt: skip
    spec = {"model": "hiring_screen", "method": "kernel_shap", "options": {"nsamples": 64}}
    job = wait_for(jobs_client, submit(jobs_client, spec, data, "rows.parquet").json()["id"])
    assert job["status"] == "succeeded", job
    assert job["input"]["format"] == "parquet"
    assert job["options"] == {"seed": 0, "nsamples": 64}
    assert job["parameters"]["nsamples"] == 64
    assert job["record_sha256"]
    assert job["finished_at"]
    assert job["caller"] == "anonymous"
    assert job["model"]["sha256"] == jobs_client.get("/v1/models/hiring_screen").json()["sha256"]
    replay = jobs_client.post(f"/v1/jobs/{job['id']}/rows/13/replay").json()
    assert replay["identical"] is True, replay
    assert replay["differences"] == []
    assert jobs_client.post(f"/v1/jobs/{job['id']}/rows/20/replay").status_code == 404
    assert jobs_client.delete(f"/v1/jobs/{job['id']}").status_code == 409

    listed = jobs_client.get("/v1/jobs", params={"model": "hiring_screen"}).json()
    assert job["id"] in [j["id"] for j in listed["jobs"]]
    assert all(j["model"]["name"] == "hiring_screen" for j in listed["jobs"])
    first = jobs_client.get("/v1/jobs", params={"limit": 1}).json()
    second = jobs_client.get("/v1/jobs", params={"limit": 1, "cursor": first["next_cursor"]})
    assert first["jobs"][0]["id"] != second.json()["jobs"][0]["id"]

    slow = {"model": "breast_cancer", "method": "kernel_shap", "options": {"nsamples": 2000}}
    running = submit(jobs_client, slow, rows_csv("breast_cancer", 400)).json()
    cancelled = jobs_client.delete(f"/v1/jobs/{running['id']}")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert jobs_client.delete(f"/v1/jobs/{running['id']}").status_code == 409
    assert jobs_client.get(f"/v1/jobs/{running['id']}/result").status_code == 409
    listed = jobs_client.get("/v1/jobs", params={"status": "cancelled"}).json()
    assert [j["id"] for j in listed["jobs"]] == [running["id"]]
