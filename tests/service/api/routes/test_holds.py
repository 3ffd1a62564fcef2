"""Legal holds over HTTP: a hold on a model nobody knows is 404, not a hold on nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_a_hold_on_an_unknown_model_is_404(audit_client: TestClient) -> None:
    r = audit_client.post("/v1/models/tiny_credti/hold", json={"reason": "case 9"})
    assert r.status_code == 404, r.text
    error = r.json()["error"]
    assert error["code"] == "not_found"
    assert error["details"][0]["field"] == "name"
    assert audit_client.get("/v1/holds").json()["holds"] == []
    served = audit_client.post("/v1/models/tiny_credit/hold", json={"reason": "case 9"})
    assert served.status_code == 201, served.text  # served, even before its first record
    assert [h["model_name"] for h in audit_client.get("/v1/holds").json()["holds"]] == [
        "tiny_credit"
    ]
