"""Listing, describing and uploading model bundles through HTTP."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from service.api.app import create_app
from tests.support import credit_bundle, make_settings


def test_list_models(client: TestClient) -> None:
    r = client.get("/v1/models")
    assert r.status_code == 200
    models = {m["name"]: m for m in r.json()["models"]}
    assert set(models) == {"tiny_credit", "tiny_grouped", "tiny_regression"}
    assert models["tiny_regression"]["task"] == "regression"
    assert models["tiny_regression"]["version"] == "2.1"
    assert all(len(m["sha256"]) == 64 for m in models.values())


def test_model_detail(client: TestClient) -> None:
    r = client.get("/v1/models/tiny_grouped")
    assert r.status_code == 200
    body = r.json()
    assert body["classes"] == ["no", "yes"]
    assert body["players"] == ["a", "b", "colour"]
    assert body["providers"] == ["CPUExecutionProvider"]
    assert body["explainers"]["exact_shap"] == "available"
    assert body["explainers"]["tree_shap"].startswith("unavailable")
    assert body["card"]["name"] == "tiny_grouped"


def test_samples_are_ready_to_explain(client: TestClient) -> None:
    r = client.get("/v1/models/tiny_credit/samples", params={"limit": 3})
    assert r.status_code == 200
    instances = r.json()["instances"]
    assert len(instances) == 3
    assert instances[0]["employment"] in ("unemployed", "part_time", "full_time")
    explained = client.post("/v1/models/tiny_credit/explain", json={"instances": instances})
    assert explained.status_code == 200, explained.text
    assert client.get("/v1/models/tiny_credit/samples", params={"limit": 0}).status_code == 422


def test_health(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["models"] == 3


@pytest.fixture
def store(tmp_path: Path, tiny_models_dir: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(tiny_models_dir, root)
    return root


@pytest.fixture
def upload_client(store: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(store)), raise_server_exceptions=False) as c:
        yield c


def _files(folder: Path) -> dict[str, tuple[str, bytes]]:
    return {
        "model": ("model.onnx", (folder / "model.onnx").read_bytes()),
        "card": ("card.yaml", (folder / "card.yaml").read_bytes()),
        "background": ("background.csv", (folder / "background.csv").read_bytes()),
    }


def _snapshot(root: Path) -> list[tuple[str, bytes]]:
    return sorted(
        (str(p.relative_to(root)), p.read_bytes()) for p in root.rglob("*") if p.is_file()
    )


def test_upload_serves_and_persists_a_bundle(
    upload_client: TestClient, store: Path, tmp_path: Path
) -> None:
    folder = credit_bundle(tmp_path / "new", name="uploaded_credit")
    r = upload_client.post("/v1/models", files=_files(folder))
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "uploaded_credit"
    assert (store / "uploaded_credit" / "model.onnx").read_bytes() == (
        folder / "model.onnx"
    ).read_bytes()
    case = {"income": 50, "debt": 10, "employment": "full_time", "has_guarantor": 0}
    r = upload_client.post("/v1/models/uploaded_credit/explain", json={"instances": [case]})
    assert r.status_code == 200, r.text
    again = upload_client.post("/v1/models", files=_files(folder))
    assert again.status_code == 409


def _broken_variants(folder: Path) -> dict[str, dict[str, tuple[str, bytes]]]:
    good = _files(folder)
    card = yaml.safe_load(good["card"][1])
    mismatched = dict(card, features=card["features"][:3])
    bad_bg = good["background"][1].replace(b"income,", b"salary,", 1)
    onnx_bytes = good["model"][1]
    return {
        "not_onnx": dict(good, model=("model.onnx", b"this is not a model")),
        "truncated": dict(good, model=("model.onnx", onnx_bytes[: len(onnx_bytes) // 2])),
        "empty_model": dict(good, model=("model.onnx", b"")),
        "card_mismatch": dict(good, card=("card.yaml", yaml.safe_dump(mismatched).encode())),
        "card_not_yaml": dict(good, card=("card.yaml", b"name: [unclosed")),
        "bad_name": dict(
            good, card=("card.yaml", yaml.safe_dump(dict(card, name="../etc")).encode())
        ),
        "background_missing_column": dict(good, background=("background.csv", bad_bg)),
        "background_not_numeric": dict(
            good,
            background=(
                "background.csv",
                b"income,debt,employment,has_guarantor\nabc,1,full_time,0\n",
            ),
        ),
    }


@pytest.mark.parametrize(
    "variant",
    [
        "not_onnx",
        "truncated",
        "empty_model",
        "card_mismatch",
        "card_not_yaml",
        "bad_name",
        "background_missing_column",
        "background_not_numeric",
    ],
)
def test_broken_upload_is_refused_without_side_effects(
    upload_client: TestClient, store: Path, tmp_path: Path, variant: str
) -> None:
    folder = credit_bundle(tmp_path / "src", name="candidate")
    before = _snapshot(store)
    r = upload_client.post("/v1/models", files=_broken_variants(folder)[variant])
    assert 400 <= r.status_code < 500, r.text
    error = r.json()["error"]
    assert error["message"]
    assert _snapshot(store) == before
    names = [m["name"] for m in upload_client.get("/v1/models").json()["models"]]
    assert names == ["tiny_credit", "tiny_grouped", "tiny_regression"]
    ok = upload_client.post(
        "/v1/models/tiny_credit/predict",
        json={
            "instances": [{"income": 1, "debt": 1, "employment": "unemployed", "has_guarantor": 0}]
        },
    )
    assert ok.status_code == 200


def test_bad_bundle_on_disk_is_refused_and_others_served(store: Path) -> None:
    (store / "tiny_grouped" / "model.onnx").write_bytes(b"garbage")
    with TestClient(create_app(make_settings(store))) as c:
        names = [m["name"] for m in c.get("/v1/models").json()["models"]]
        assert names == ["tiny_credit", "tiny_regression"]
        ready = c.get("/health/ready").json()
        assert "tiny_grouped" in ready["refused"]
        assert "not a valid ONNX" in ready["refused"]["tiny_grouped"]


def test_provider_in_use_is_reported_when_cuda_is_unavailable(
    tiny_models_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """This machine has no CUDA: the request falls back to the CPU, and says so."""
    settings = make_settings(
        tiny_models_dir, providers=("CUDAExecutionProvider", "CPUExecutionProvider")
    )
    with TestClient(create_app(settings)) as c:
        detail = c.get("/v1/models/tiny_credit").json()
        assert detail["providers"] == ["CPUExecutionProvider"]
        r = c.post(
            "/v1/models/tiny_credit/explain",
            json={
                "instances": [
                    {"income": 50, "debt": 10, "employment": "full_time", "has_guarantor": 0}
                ]
            },
        )
        assert r.json()["provenance"]["provider"] == "CPUExecutionProvider"
    assert "model.provider_fallback" in capfd.readouterr().err
