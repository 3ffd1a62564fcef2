"""``clarion`` commands: help texts, offline explanations equal to the API's, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.api.app import create_app
from service.cli import app
from tests.support import make_settings

runner = CliRunner()


@pytest.mark.parametrize(
    "command", [[], ["serve"], ["up"], ["ui"], ["explain"], ["models", "build"]]
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_explain_writes_one_line_per_row_equal_to_the_api(
    tiny_models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLARION_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    lines = (tiny_models_dir / "tiny_credit" / "background.csv").read_text().splitlines()[:5]
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app,
        ["explain", "--model", "tiny_credit", "--input", str(rows), "--output", str(out),
         "--method", "kernel_shap", "--seed", "4", "--batch-size", "3",
         "--models-dir", str(tiny_models_dir)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = [json.loads(x) for x in out.read_text().splitlines()]
    assert [w["row"] for w in written] == [0, 1, 2, 3]
    settings = make_settings(tiny_models_dir)
    with TestClient(create_app(settings)) as client:
        cases = client.get("/v1/models/tiny_credit/samples", params={"limit": 4}).json()
        api = client.post(
            "/v1/models/tiny_credit/explain",
            json={
                "instances": cases["instances"][3:4],
                "method": "kernel_shap",
                "options": {"seed": 4},
            },
        ).json()
    # Row 3 was the first row of the CLI's second batch: same seed, same position, same numbers.
    assert written[3]["explanations"][0]["attributions"] == api["explanations"][0]["attributions"]


def test_explain_refuses_an_unknown_method_and_model(tiny_models_dir: Path, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text((tiny_models_dir / "tiny_credit" / "background.csv").read_text())
    common = ["--input", str(rows), "--output", str(tmp_path / "o.jsonl"),
              "--models-dir", str(tiny_models_dir)]  # fmt: skip
    bad_method = runner.invoke(app, ["explain", "--model", "tiny_credit", "--method", "x", *common])
    assert bad_method.exit_code == 2
    assert "--method must be one of" in bad_method.output
    unknown = runner.invoke(app, ["explain", "--model", "nope", *common])
    assert unknown.exit_code == 1
    assert "no bundle named 'nope'" in unknown.output
