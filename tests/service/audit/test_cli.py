"""``clarion audit`` and ``clarion keys`` against both databases; ``clarion explain`` records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from service.api.app import create_app
from service.audit import AuditStore
from service.audit.retention import list_holds
from service.cli import app
from service.logs import configure_logging
from tests.helpers.audit import add_record, audit_settings, bearer

runner = CliRunner()


@pytest.fixture(autouse=True)
def _log_to_the_real_stderr() -> Iterator[None]:
    """The commands configure logging onto the runner's stderr, which closes after."""
    yield
    configure_logging("info")


def test_keys_create_prints_a_working_key_once(database_url: str, audit_models_dir: Path) -> None:
    result = runner.invoke(
        app, ["keys", "create", "--role", "reviewer", "--database-url", database_url]
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output.strip().splitlines()[-1])
    assert created["role"] == "reviewer"
    settings = audit_settings(audit_models_dir, database_url)
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/explanations").status_code == 401
        assert client.get("/v1/explanations", headers=bearer(created["key"])).status_code == 200
    listed = runner.invoke(app, ["keys", "list", "--database-url", database_url])
    assert created["id"] in listed.output
    assert created["key"] not in listed.output
    revoked = runner.invoke(app, ["keys", "revoke", created["id"], "--database-url", database_url])
    assert revoked.exit_code == 0, revoked.output


def test_keys_create_refuses_an_unknown_role(database_url: str) -> None:
    result = runner.invoke(
        app, ["keys", "create", "--role", "root", "--database-url", database_url]
    )
    assert result.exit_code == 2


def test_purge_honours_holds_and_says_what_it_removed(store: AuditStore, database_url: str) -> None:
    old = datetime.now(UTC) - timedelta(days=800)
    ids = [add_record(store, created_at=old) for _ in range(3)]
    hold = runner.invoke(
        app,
        ["audit", "hold", "--record", ids[0], "--reason", "case 9", "--database-url", database_url],
    )
    assert hold.exit_code == 0, hold.output
    dry = runner.invoke(
        app, ["audit", "purge", "--older-than", "25m", "--dry-run", "--database-url", database_url]
    )
    assert dry.exit_code == 0, dry.output
    assert "would remove 2 record(s)" in dry.output
    assert "kept 1 under legal hold" in dry.output
    assert store.count() == 3
    done = runner.invoke(
        app, ["audit", "purge", "--older-than", "25m", "--database-url", database_url]
    )
    assert "removed 2 record(s)" in done.output
    assert store.count() == 1
    (held,) = list_holds(store)
    released = runner.invoke(app, ["audit", "release", held.id, "--database-url", database_url])
    assert released.exit_code == 0
    runner.invoke(app, ["audit", "purge", "--older-than", "25m", "--database-url", database_url])
    assert store.count() == 0
    bad = runner.invoke(
        app, ["audit", "purge", "--older-than", "soon", "--database-url", database_url]
    )
    assert bad.exit_code == 1
    assert "older_than" in bad.output


def test_verify_reports_a_consistent_store(store: AuditStore, database_url: str) -> None:
    add_record(store)
    result = runner.invoke(app, ["audit", "verify", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert "consistent: 1 record(s)" in result.output


def test_verify_opens_read_only_and_a_missing_store_is_an_error(database_url: str) -> None:
    """A mistyped URL used to create an empty store and call it consistent (exit 0)."""
    result = runner.invoke(app, ["audit", "verify", "--database-url", database_url])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: no audit store at")
    assert "consistent" not in result.output
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert not Path(url.database or "").exists()
    else:
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                assert inspect(connection).get_table_names() == []
        finally:
            engine.dispose()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://root@localhost/clarion", "invalid setting: database_url (CLARION_DATABASE_URL)"),
        ("sqlite:///{tmp}/missing/folder/audit.db", "does not exist"),
        ("sqlite:///{tmp}/a-file/audit.db", "is a file"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [["audit", "verify"], ["audit", "purge", "--older-than", "25m"], ["keys", "list"]],
)
def test_a_store_that_cannot_be_opened_is_one_line_and_exit_2(
    tmp_path: Path, url: str, says: str, command: list[str]
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    result = runner.invoke(app, [*command, "--database-url", url.format(tmp=tmp_path.as_posix())])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ")
    assert says in line
    assert not (tmp_path / "missing").exists()


def test_hold_on_an_unknown_model_is_refused(store: AuditStore, database_url: str) -> None:
    add_record(store, model="credit")
    unknown = runner.invoke(
        app,
        ["audit", "hold", "--model", "credti", "--reason", "x", "--database-url", database_url],
    )
    assert unknown.exit_code == 1
    assert "no model 'credti'" in unknown.output
    known = runner.invoke(
        app,
        ["audit", "hold", "--model", "credit", "--reason", "x", "--database-url", database_url],
    )
    assert known.exit_code == 0, known.output


def test_cli_explanations_are_recorded(
    database_url: str, audit_models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLARION_DATABASE_URL", database_url)
    rows = tmp_path / "rows.csv"
    lines = (audit_models_dir / "tiny_credit" / "background.csv").read_text().splitlines()[:6]
    rows.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app,
        ["explain", "--model", "tiny_credit", "--input", str(rows), "--output", str(out),
         "--method", "exact_shap", "--batch-size", "2", "--models-dir", str(audit_models_dir)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = [json.loads(x) for x in out.read_text().splitlines()]
    store = AuditStore.open(database_url)
    try:
        assert store.count() == 3
        for line in written:
            record = store.get_record(line["id"])
            assert record.channel == "cli"
            assert record.caller.startswith("cli:")
    finally:
        store.close()


@pytest.mark.parametrize("group", ["audit", "keys"])
def test_help_texts(group: str) -> None:
    result = runner.invoke(app, [group, "--help"])
    assert result.exit_code == 0
    assert "purge" in result.output if group == "audit" else "create" in result.output
