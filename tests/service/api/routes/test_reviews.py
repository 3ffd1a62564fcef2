"""A reviewer's journey through HTTP, on SQLite and PostgreSQL: sample, annotate, sign off,
export; and the per-model report."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from typing import Any

from fastapi.testclient import TestClient

from tests.helpers.audit import bearer

DECLINED = {"income": 20.0, "debt": 90.0, "employment": "unemployed", "has_guarantor": 0}
APPROVED = {"income": 180.0, "debt": 5.0, "employment": "full_time", "has_guarantor": 1}


def _explain(client: TestClient, model: str, instance: dict[str, Any]) -> str:
    r = client.post(
        f"/v1/models/{model}/explain", json={"instances": [instance], "method": "exact_shap"}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def _cases(client: TestClient, n_declined: int, n_approved: int) -> dict[str, list[str]]:
    declined = [
        _explain(client, "tiny_credit", {**DECLINED, "income": 20.0 + i}) for i in range(n_declined)
    ]
    approved = [
        _explain(client, "tiny_credit", {**APPROVED, "debt": 5.0 + i}) for i in range(n_approved)
    ]
    return {"declined": declined, "approved": approved}


def _reviewers(client: TestClient, *names: str) -> dict[str, tuple[dict[str, str], str]]:
    """A reviewer key's headers and id per name (the first key, an admin, closes open mode)."""
    admin = client.post("/v1/keys", json={"role": "admin", "name": "ops"})
    assert admin.status_code == 201, admin.text
    out = {}
    for name in names:
        r = client.post(
            "/v1/keys",
            json={"role": "reviewer", "name": name},
            headers=bearer(admin.json()["key"]),
        )
        assert r.status_code == 201, r.text
        out[name] = bearer(r.json()["key"]), r.json()["id"]
    return out


def test_sample_annotate_sign_off_export(audit_client: TestClient) -> None:
    cases = _cases(audit_client, 8, 4)
    body = {"filters": {"model": "tiny_credit", "outcome": "declined"}, "size": 5, "seed": 7}
    r = audit_client.post("/v1/samples", json=body)
    assert r.status_code == 201, r.text
    sample = r.json()
    assert sample["seed"] == 7
    assert sample["frame_size"] == 8
    assert sample["definition"]["filters"]["until"] is not None
    items = sample["items"]
    stratified = [i for i in items if i["part"] == "stratified"]
    assert len(stratified) == 5
    assert {i["record_id"] for i in items} <= set(cases["declined"])
    assert all(i["stratum"]["outcome"] == "declined" for i in stratified)
    assert audit_client.get(f"/v1/samples/{sample['id']}").json() == sample

    _cases(audit_client, 2, 0)  # later records do not change a re-draw
    redraw = audit_client.post(f"/v1/samples/{sample['id']}/redraw").json()
    assert redraw["identical"] is True
    assert redraw["items"] == items

    record_id = items[0]["record_id"]
    url = f"/v1/explanations/{record_id}/annotations"
    # Anonymous (open mode) may give a verdict but can never be the second pair of eyes.
    open_verdict = audit_client.post(url, json={"verdict": "ok"})
    assert open_verdict.json()["reviewer"] == "anonymous"
    anonymous = audit_client.post(f"{url}/{open_verdict.json()['id']}/signoff", json={})
    assert anonymous.status_code == 403, anonymous.text

    keys = _reviewers(audit_client, "alice", "bob", "carol")
    (alice, alice_id), (bob, bob_id), (carol, _) = keys["alice"], keys["bob"], keys["carol"]
    verdict = {"verdict": "inaccurate", "note": "debt dominates oddly"}
    first = audit_client.post(
        url, json={**verdict, "supersedes": open_verdict.json()["id"]}, headers=alice
    )
    assert first.status_code == 201, first.text
    assert first.json()["reviewer"] == "alice"
    assert first.json()["caller"] == alice_id
    first_id = first.json()["id"]
    record = audit_client.get(f"/v1/explanations/{record_id}", headers=alice).json()
    assert first.json()["record_sha256"] == record["record_sha256"]

    # Free text cannot name someone else: the reviewer is the key.
    named = audit_client.post(f"{url}/{first_id}/signoff", json={"reviewer": "bob"}, headers=alice)
    assert named.status_code == 422
    own = audit_client.post(f"{url}/{first_id}/signoff", json={}, headers=alice)
    assert own.status_code == 409
    signed = audit_client.post(f"{url}/{first_id}/signoff", json={"note": "agreed"}, headers=bob)
    assert signed.status_code == 201, signed.text
    assert signed.json()["reviewer"] == "bob"
    assert signed.json()["caller"] == bob_id
    assert audit_client.post(f"{url}/{first_id}/signoff", json={}, headers=carol).status_code == 409

    correction = {"verdict": "ok", "note": "on second look, fine"}
    fixed = audit_client.post(url, json={**correction, "supersedes": first_id}, headers=alice)
    assert fixed.status_code == 201, fixed.text
    again = audit_client.post(url, json={**correction, "supersedes": first_id}, headers=alice)
    assert again.status_code == 409
    listed = {a["id"]: a for a in audit_client.get(url, headers=alice).json()["annotations"]}
    assert len(listed) == 4
    assert listed[first_id]["current"] is False
    assert listed[first_id]["superseded_by"] == fixed.json()["id"]
    assert listed[first_id]["signed_off_by"] == signed.json()["id"]
    assert listed[fixed.json()["id"]]["current"] is True
    assert listed[first_id]["note"] == "debt dominates oddly"  # never edited

    r = audit_client.post("/v1/exports", json={"sample_id": sample["id"]}, headers=carol)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["x-clarion-content-sha256"] == hashlib.sha256(r.content).hexdigest()
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    manifest = json.loads(archive.read("manifest.json"))
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(archive.read(name)).hexdigest() == digest
    record_ids = list(dict.fromkeys(i["record_id"] for i in items))
    assert [m["id"] for m in manifest["records"]] == record_ids
    lines = [json.loads(x) for x in archive.read("records.jsonl").decode().splitlines()]
    assert [x["record"]["id"] for x in lines] == record_ids
    for line, stamp in zip(lines, manifest["records"], strict=True):
        assert line["record"]["record_sha256"] == stamp["record_sha256"]
    assert len(lines[0]["annotations"]) == 4
    listing = list(csv.DictReader(io.StringIO(archive.read("listing.csv").decode())))
    assert [row["record_id"] for row in listing] == record_ids
    assert listing[0]["current_verdicts"] == "ok"
    packet = archive.read(f"cases/{record_id}.html").decode()
    assert "debt dominates oddly" in packet
    assert "on second look, fine" in packet
    assert record["record_sha256"] in packet
    assert "<script" not in packet


def test_jsonl_and_csv_exports_are_stamped(audit_client: TestClient) -> None:
    _cases(audit_client, 2, 2)
    body = {"filters": {"model": "tiny_credit"}, "format": "jsonl"}
    r = audit_client.post("/v1/exports", json=body)
    assert r.status_code == 200, r.text
    *records, manifest_line = r.content.decode().splitlines(keepends=True)
    manifest = json.loads(manifest_line)
    assert manifest["kind"] == "clarion.export"
    assert manifest["records_sha256"] == hashlib.sha256("".join(records).encode()).hexdigest()
    assert len(manifest["records"]) == len(records) == 4
    r = audit_client.post("/v1/exports", json={**body, "format": "csv"})
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["x-clarion-content-sha256"] == hashlib.sha256(r.content).hexdigest()
    assert len(r.text.strip().splitlines()) == 5


def test_an_export_needs_a_sample_or_filters(audit_client: TestClient) -> None:
    assert audit_client.post("/v1/exports", json={}).status_code == 422
    r = audit_client.post("/v1/exports", json={"sample_id": "0" * 32})
    assert r.status_code == 404


def test_annotation_errors(audit_client: TestClient) -> None:
    record_id = _cases(audit_client, 1, 0)["declined"][0]
    url = f"/v1/explanations/{record_id}/annotations"
    bad = audit_client.post(url, json={"verdict": "meh"})
    assert bad.status_code == 422
    free_text = audit_client.post(url, json={"verdict": "ok", "reviewer": "alice"})
    assert free_text.status_code == 422
    missing = audit_client.post(f"/v1/explanations/{'0' * 32}/annotations", json={"verdict": "ok"})
    assert missing.status_code == 404
    position = audit_client.post(url, json={"verdict": "ok", "position": 3})
    assert position.status_code == 422
    unknown = audit_client.post(url, json={"verdict": "ok", "supersedes": "x"})
    assert unknown.status_code == 404


def test_report_of_a_credit_model(audit_client: TestClient) -> None:
    _cases(audit_client, 3, 2)
    r = audit_client.get("/v1/models/tiny_credit/report")
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["n_records"] == 5
    assert report["outcomes"] == {"declined": 3, "approved": 2}
    residual = report["quality"]["additivity_residual"]
    assert residual["count"] == 5
    assert residual["max"] < 1e-9
    assert report["selection"] == {}


def test_hiring_report_flags_a_four_fifths_violation(audit_client: TestClient) -> None:
    for i in range(6):
        _explain(audit_client, "tiny_hiring", {"score": 95.0 - i, "gap": 0.0, "gender": "male"})
        _explain(audit_client, "tiny_hiring", {"score": 5.0 + i, "gap": 50.0, "gender": "female"})
    report = audit_client.get("/v1/models/tiny_hiring/report").json()
    assert report["group_sizes"] == {"gender": {"female": 6, "male": 6}}
    rates = {s["group"]: s for s in report["selection"]["gender"]}
    assert rates["male"]["rate"] == 1.0
    assert rates["male"]["impact_ratio"] == 1.0
    assert rates["female"]["rate"] == 0.0
    assert rates["female"]["four_fifths_flag"] is True
