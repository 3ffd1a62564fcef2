"""The encryption key a fresh install makes itself, and its rotation (``clarion audit
rotate-key``), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.api.app import create_app
from service.audit.keyfile import key_file, load_or_create
from service.cli import app
from service.logs import configure_logging
from tests.support import make_settings

HIRING = {"score": 61.5, "gap": 18.0, "gender": "female"}
runner = CliRunner()


def test_a_key_is_made_once_private_and_read_back(tmp_path: Path) -> None:
    made = load_or_create(tmp_path / "data")
    assert made.origin == "created"
    path = key_file(tmp_path / "data")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create(tmp_path / "data")
    assert again.origin == "file"
    assert again.key.get_secret_value() == made.key.get_secret_value()


def test_an_operators_key_wins_and_no_file_is_made(
    audit_models_dir: Path, database_url: str, tmp_path: Path
) -> None:
    from tests.helpers.audit import ENCRYPTION_KEY

    settings = make_settings(
        audit_models_dir,
        database_url=database_url,
        data_dir=tmp_path,
        audit_encryption_key=ENCRYPTION_KEY,
    )
    with TestClient(create_app(settings)) as client:
        assert client.app.state.audit.key_source.origin == "settings"  # type: ignore[attr-defined]
    assert not key_file(tmp_path).exists()


def test_start_up_says_where_the_key_is_and_never_the_key(
    audit_models_dir: Path, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(audit_models_dir, database_url=database_url, data_dir=tmp_path)
    with TestClient(create_app(settings)):
        pass
    logged = capsys.readouterr().err
    key = key_file(tmp_path).read_text().strip()
    assert "audit.encryption" in logged
    assert str(key_file(tmp_path)) in logged
    assert key not in logged


def test_rotate_key_reseals_and_records_still_open(
    audit_models_dir: Path,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(audit_models_dir, database_url=database_url, data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        r = client.post(
            "/v1/models/tiny_hiring/explain", json={"instances": [HIRING], "method": "exact_shap"}
        )
        record_id = r.json()["id"]
        before = client.get(f"/v1/explanations/{record_id}").json()
    assert before["sealed"] == "opened"
    old_key = key_file(tmp_path).read_text()

    monkeypatch.setenv("CLARION_DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["audit", "rotate-key", "--database-url", database_url])
    configure_logging("info")
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout.strip().splitlines()[-1])
    assert done["resealed"] == 1
    assert done["old_key_id"] != done["new_key_id"]
    assert key_file(tmp_path).read_text() != old_key
    assert stat.S_IMODE(key_file(tmp_path).stat().st_mode) == 0o600
    assert old_key.strip() not in result.output

    with TestClient(create_app(settings)) as client:
        after = client.get(f"/v1/explanations/{record_id}").json()
        assert after["sealed"] == "opened"
        assert after["input"] == before["input"]
        assert after["record_sha256"] == before["record_sha256"]  # the document is unchanged
        assert client.post(f"/v1/explanations/{record_id}/replay").json()["identical"]
    again = runner.invoke(app, ["audit", "rotate-key", "--database-url", database_url])
    configure_logging("info")
    assert again.exit_code == 0, again.output
