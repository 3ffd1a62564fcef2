"""GET /v1/models/{name}/copy-coverage: features without reviewed words, per locale."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_copy_coverage_says_which_features_lack_reviewed_words(client: TestClient) -> None:
    r = client.get("/v1/models/tiny_credit/copy-coverage")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "tiny_credit"
    assert not body["complete"]
    en, de = body["locales"]
    assert en["locale"] == "en"
    # The tiny card has labels for two features and phrases for none.
    assert {g["feature"]: g["missing"] for g in en["gaps"]} == {
        "income": ["raises", "lowers"],
        "debt": ["raises", "lowers"],
        "employment": ["label", "raises", "lowers"],
        "has_guarantor": ["label", "raises", "lowers"],
    }
    assert all(g["reachable"] for g in de["gaps"])
    sampled = client.get("/v1/models/tiny_credit/copy-coverage", params={"sample": 10}).json()
    assert sampled["basis"].startswith("features seen among the reasons of a sample")
    assert client.get("/v1/models/tiny_credit/copy-coverage?sample=101").status_code == 422
