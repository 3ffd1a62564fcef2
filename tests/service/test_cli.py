"""``clarion`` commands: help texts, offline explanations equal to the API's, clear errors."""

from __future__ import annotations

import io
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
    "command", [[], ["serve"], ["up"], ["ui"], ["explain"], ["batch"], ["models", "build"]]
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


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--port", "99999"], {}, "invalid setting: port (CLARION_PORT)"),
        ([], {"CLARION_PORT": "http"}, "invalid setting: port (CLARION_PORT)"),
        ([], {"CLARION_DATABASE_URL": "sqlite:///{tmp}/missing/audit.db"}, "does not exist"),
        ([], {"CLARION_DATABASE_URL": "sqlite:///{tmp}/a-file/audit.db"}, "is a file"),
    ],
)
def test_serve_refuses_bad_settings_in_one_line(
    tiny_models_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    says: str,
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("CLARION_DATABASE_URL", f"sqlite:///{tmp_path / 'ok.db'}")
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path.as_posix()))
    result = runner.invoke(app, ["serve", "--models-dir", str(tiny_models_dir), *args])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    assert says in errors[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "missing").exists()


@pytest.mark.slow
def test_batch_runs_a_job_on_a_local_cluster_and_explain_reads_parquet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from tests.helpers.jobs import EXAMPLE_MODELS, parquet_of, rows_csv

    monkeypatch.setenv("CLARION_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("CLARION_JOBS_DIR", str(tmp_path / "jobs"))
    rows = tmp_path / "rows.parquet"
    rows.write_bytes(parquet_of(pcsv.read_csv(io.BytesIO(rows_csv("diabetes_progression", 30)))))
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        ["batch", "--model", "diabetes_progression", "--input", str(rows), "--output", str(out),
         "--method", "tree_shap", "--workers", "1", "--models-dir", str(EXAMPLE_MODELS)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "30/30" in result.output  # the progress bar, at its end
    table = pcsv.read_csv(out)
    assert table.column("row").to_pylist() == list(range(30))
    jsonl = tmp_path / "out.jsonl"
    result = runner.invoke(
        app,
        ["explain", "--model", "diabetes_progression", "--input", str(rows), "--output",
         str(jsonl), "--method", "tree_shap", "--models-dir", str(EXAMPLE_MODELS)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    first = lines[0]["explanations"][0]
    assert table.column("base_value").to_pylist()[0] == first["base_value"]
    for a in first["attributions"]:
        assert table.column(f"attribution.{a['feature']}").to_pylist()[0] == a["attribution"]
    assert pq.read_metadata(rows).num_rows == 30


def test_batch_refuses_an_unknown_output_format(tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("x\n1\n")
    result = runner.invoke(
        app, ["batch", "--model", "m", "--input", str(rows), "--output", str(tmp_path / "o.xlsx")]
    )
    assert result.exit_code == 2
    assert ".parquet, .csv, .jsonl" in result.output


@pytest.mark.parametrize(
    ("where", "says"),
    [("missing/out.jsonl", "does not exist"), (".", "is a folder")],
)
def test_explain_refuses_an_unwritable_output_in_one_line(
    tiny_models_dir: Path, tmp_path: Path, where: str, says: str
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text((tiny_models_dir / "tiny_credit" / "background.csv").read_text())
    result = runner.invoke(
        app,
        ["explain", "--model", "tiny_credit", "--input", str(rows),
         "--output", str(tmp_path / where), "--models-dir", str(tiny_models_dir)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1, result.output
    assert result.output.startswith("error: --output")
    assert says in result.output
