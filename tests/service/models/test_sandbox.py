"""Loop and memory bombs (issue 12, item 6): refused at start-up and at upload within the
limits, with one line, while the other models are served; a slow run at request time is
cancelled inside ONNX Runtime when the request's time limit passes."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from tests.bombs import bomb_bundle, loop_bomb, memory_bomb, slow_for_large_x0
from tests.support import make_settings

LIMITS: dict[str, Any] = {"model_check_cpu_s": 2.0, "model_check_memory_bytes": 512 * 2**20}
BOMBS = {"loop_bomb": loop_bomb, "memory_bomb": memory_bomb}


def _client(models: Path, **overrides: Any) -> TestClient:
    return TestClient(create_app(make_settings(models, **overrides)), raise_server_exceptions=False)


def _serves_the_others(c: TestClient) -> None:
    names = [m["name"] for m in c.get("/v1/models").json()["models"]]
    assert "tiny_credit" in names
    assert "tiny_regression" in names
    assert not set(BOMBS) & set(names)
    r = c.post("/v1/models/tiny_regression/predict", json={"instances": [[0, 1, 2]]})
    assert r.status_code == 200, r.text


def test_bombs_in_the_models_folder_are_refused_at_start_up(
    tiny_models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_models_dir, models)
    for name, bomb in BOMBS.items():
        bomb_bundle(models, name, bomb())
    start = time.monotonic()
    with _client(models, **LIMITS) as c:
        took = time.monotonic() - start
        registry = c.app.state.registry  # type: ignore[attr-defined]
        assert sorted(registry.refused) == ["loop_bomb", "memory_bomb"]
        assert "CLARION_MODEL_CHECK_CPU_S" in registry.refused["loop_bomb"]
        assert "CLARION_MODEL_CHECK_MEMORY_BYTES" in registry.refused["memory_bomb"]
        assert all("\n" not in reason for reason in registry.refused.values())
        _serves_the_others(c)
    assert took < 30, took  # two checks of 2 s of CPU each, plus the children's imports
    logged = capsys.readouterr()
    refusals = [line for line in (logged.out + logged.err).splitlines() if "model.refused" in line]
    assert len(refusals) == 2, refusals


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bombs_are_refused_at_upload(tiny_models_dir: Path, tmp_path: Path, name: str) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_models_dir, models)
    source = bomb_bundle(tmp_path / "src", name, BOMBS[name]())
    files = {
        "model": ("model.onnx", (source / "model.onnx").read_bytes()),
        "card": ("card.yaml", (source / "card.yaml").read_bytes()),
        "background": ("background.csv", (source / "background.csv").read_bytes()),
    }
    with _client(models, **LIMITS) as c:
        start = time.monotonic()
        r = c.post("/v1/models", files=files)
        took = time.monotonic() - start
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == "bundle_rejected"
        assert "CLARION_MODEL_CHECK_" in error["message"]
        assert took < 20, took
        assert not (models / name).exists()
        _serves_the_others(c)


@pytest.fixture
def slow_models(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    bomb_bundle(models, "slow", slow_for_large_x0())
    return models


@pytest.mark.parametrize(
    ("route", "setting"),
    [("predict", "predict_timeout_s"), ("explain", "explain_timeout_s")],
)
def test_a_run_past_the_time_limit_is_cancelled_inside_onnx_runtime(
    slow_models: Path, route: str, setting: str
) -> None:
    limit = 1.0
    with _client(slow_models, **{setting: limit}) as c:
        quick = c.post(f"/v1/models/slow/{route}", json={"instances": [{"x0": 3, "x1": 2}]})
        assert quick.status_code == 200, quick.text
        start = time.monotonic()
        r = c.post(f"/v1/models/slow/{route}", json={"instances": [{"x0": 1e12, "x1": 2}]})
        took = time.monotonic() - start
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "explanation_timeout"
        assert setting.upper() in r.json()["error"]["message"]
        assert took < limit * 1.1 + 0.2, took  # the limit holds within 10% (+ HTTP)
        assert c.post(
            f"/v1/models/slow/{route}", json={"instances": [{"x0": 3, "x1": 2}]}
        ).is_success


def _credit_files(tmp_path: Path, name: str, pad: int) -> dict[str, tuple[str, bytes]]:
    import yaml

    from tests.support import credit_bundle

    source = credit_bundle(tmp_path / "src", name=name)
    card = yaml.safe_load((source / "card.yaml").read_text())
    # many short lines: PyYAML's pure-Python scanner takes its time over each
    card["features"][0]["description"] = "\n".join(["word " * 10] * (pad // 51))
    return {
        "model": ("model.onnx", (source / "model.onnx").read_bytes()),
        "card": ("card.yaml", yaml.safe_dump(card, width=70).encode()),
        "background": ("background.csv", (source / "background.csv").read_bytes()),
    }


def test_a_card_over_the_card_limit_is_413(tiny_models_dir: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_models_dir, models)
    with _client(models) as c:
        r = c.post("/v1/models", files=_credit_files(tmp_path, "big_card", 1_100_000))
        assert r.status_code == 413, r.text
        assert r.json()["error"]["details"][0]["field"] == "card"


def test_health_answers_while_an_upload_is_parsed(tiny_models_dir: Path, tmp_path: Path) -> None:
    import threading

    models = tmp_path / "models"
    shutil.copytree(tiny_models_dir, models)
    files = _credit_files(tmp_path, "padded", 800_000)
    assert len(files["card"][1]) < 1_048_576
    with _client(models) as c:
        answer: list[int] = []
        upload = threading.Thread(
            target=lambda: answer.append(c.post("/v1/models", files=files).status_code)
        )
        upload.start()
        time.sleep(0.3)  # the card is being parsed (about a second of PyYAML)
        latencies = []
        while upload.is_alive():
            start = time.perf_counter()
            assert c.get("/health/live").status_code == 200
            latencies.append((time.perf_counter() - start) * 1000)
            time.sleep(0.02)
        upload.join()
        assert answer == [201]
        assert latencies, "the upload ended before health was asked"
        assert max(latencies) < 250, latencies
