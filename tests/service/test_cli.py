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
    # JSON Lines in (submitted as Parquet), Parquet out: the same rows, the same numbers.
    as_jsonl = tmp_path / "rows.jsonl"
    as_jsonl.write_text("".join(json.dumps(r) + "\n" for r in pq.read_table(rows).to_pylist()))
    result = runner.invoke(
        app,
        ["batch", "--model", "diabetes_progression", "--input", str(as_jsonl), "--output",
         str(tmp_path / "out.pq"), "--method", "tree_shap", "--workers", "1",
         "--models-dir", str(EXAMPLE_MODELS)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "out.pq").to_pylist() == table.to_pylist()


def test_batch_refuses_an_unknown_output_format(tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("x\n1\n")
    result = runner.invoke(
        app, ["batch", "--model", "m", "--input", str(rows), "--output", str(tmp_path / "o.xlsx")]
    )
    assert result.exit_code == 2
    assert ".csv, .parquet, .pq, .jsonl, .ndjson (or give --format)" in result.output


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


def _rows_in_three_formats(models_dir: Path, folder: Path, n: int) -> dict[str, Path]:
    """The first ``n`` background rows of tiny_credit as CSV, and the same rows read by
    pyarrow (numbers as numbers, categories as text) as Parquet and JSON Lines."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    lines = (models_dir / "tiny_credit" / "background.csv").read_text().splitlines()[: n + 1]
    paths = {fmt: folder / f"rows.{fmt}" for fmt in ("csv", "parquet", "jsonl")}
    paths["csv"].write_text("\n".join(lines) + "\n")
    table = pcsv.read_csv(paths["csv"])
    pq.write_table(table, paths["parquet"])
    paths["jsonl"].write_text("".join(json.dumps(r) + "\n" for r in table.to_pylist()))
    return paths


def _explain(models_dir: Path, given: Path, out: Path, *more: str) -> str:
    result = runner.invoke(
        app,
        ["explain", "--model", "tiny_credit", "--input", str(given), "--output", str(out),
         "--method", "kernel_shap", "--seed", "4", "--batch-size", "3",
         "--models-dir", str(models_dir), *more],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout


def test_explain_round_trips_parquet_and_json_lines(
    tiny_models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    monkeypatch.setenv("CLARION_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    rows = _rows_in_three_formats(tiny_models_dir, tmp_path, 5)
    _explain(tiny_models_dir, rows["csv"], tmp_path / "out.csv")
    _explain(tiny_models_dir, rows["parquet"], tmp_path / "out.parquet")
    _explain(tiny_models_dir, rows["jsonl"], tmp_path / "out.jsonl")
    _explain(tiny_models_dir, rows["jsonl"], tmp_path / "out.pq.txt", "--format", "parquet")

    from_parquet = pq.read_table(tmp_path / "out.parquet")
    assert from_parquet.column("row").to_pylist() == [0, 1, 2, 3, 4]
    assert from_parquet.schema.field("label").type == pa.string()
    assert from_parquet.schema.field("attribution.income").type == pa.float64()
    # The CSV path gives the same numbers, bit for bit (shortest round-trip doubles).
    assert pcsv.read_csv(tmp_path / "out.csv").to_pylist() == from_parquet.to_pylist()
    assert pq.read_table(tmp_path / "out.pq.txt").to_pylist() == from_parquet.to_pylist()
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [line["row"] for line in lines] == [0, 1, 2, 3, 4]
    for line, flat in zip(lines, from_parquet.to_pylist(), strict=True):
        (item,) = line["explanations"]
        assert item["base_value"] == flat["base_value"]
        assert item["prediction"]["label"] == flat["label"]
        for a in item["attributions"]:
            assert a["attribution"] == flat[f"attribution.{a['feature']}"]


def test_explain_writes_any_format_to_stdout(
    tiny_models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setenv("CLARION_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    rows = _rows_in_three_formats(tiny_models_dir, tmp_path, 3)
    _explain(tiny_models_dir, rows["parquet"], tmp_path / "out.parquet")
    lines = _explain(tiny_models_dir, rows["parquet"], Path("-")).splitlines()
    assert [json.loads(x)["row"] for x in lines] == [0, 1, 2]
    result = runner.invoke(
        app,
        ["explain", "--model", "tiny_credit", "--input", str(rows["csv"]), "--output", "-",
         "--format", "parquet", "--method", "kernel_shap", "--seed", "4", "--batch-size", "3",
         "--models-dir", str(tiny_models_dir)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = pq.read_table(pa.BufferReader(result.stdout_bytes))
    assert written.to_pylist() == pq.read_table(tmp_path / "out.parquet").to_pylist()


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("rows.parquet", b"income,debt\n1,2\n", "is not a readable Parquet file: it has no"),
        ("rows.parquet", b"PAR1 torn in half PAR1", "is not a readable Parquet file"),
        ("rows.csv", b"PAR1 a parquet file PAR1", "it is a Parquet file; name it .parquet"),
        ("rows.jsonl", b"income,debt\n1,2\n", "not a readable JSON Lines file: it does not start"),
        ("rows.ndjson", b'{"income": 1}\n[1, 2]\n', "line 2 is not a JSON object"),
        ("rows.csv", bytes(range(256)), "is not a readable CSV file: it is not UTF-8 text"),
    ],
    ids=["csv-as-parquet", "corrupt-parquet", "parquet-as-csv", "csv-as-jsonl", "array-line",
         "binary-csv"],
)  # fmt: skip
def test_explain_refuses_a_file_that_is_not_what_its_name_says(
    tiny_models_dir: Path, tmp_path: Path, name: str, content: bytes, says: str
) -> None:
    rows = tmp_path / name
    rows.write_bytes(content)
    for command in ("explain", "batch"):
        result = runner.invoke(
            app,
            [command, "--model", "tiny_credit", "--input", str(rows),
             "--output", str(tmp_path / "out.parquet"), "--models-dir", str(tiny_models_dir)],
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1, result.output
        assert result.output.startswith(f"error: --input {rows}: the ")
        assert says in result.output
        assert "not UTF-8" not in result.output or name.endswith(".csv")


def test_explain_names_a_missing_column_of_a_parquet_input(
    tiny_models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setenv("CLARION_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    rows = tmp_path / "rows.pq"
    pq.write_table(pa.table({"income": [50.0], "colour": ["red"]}), rows)
    result = runner.invoke(
        app,
        ["explain", "--model", "tiny_credit", "--input", str(rows),
         "--output", str(tmp_path / "out.csv"), "--models-dir", str(tiny_models_dir)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1, result.output
    assert "data.colour is not a feature of this model" in result.output


def test_explain_takes_a_model_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two versions side by side: --model-version picks one, the default is the newest."""
    import shutil

    from tests.support import credit_bundle, credit_bundle_v2

    models = tmp_path / "models"
    v1 = credit_bundle(models)
    v2 = credit_bundle_v2(tmp_path / "v2")
    shutil.copytree(v2, v1 / "versions" / "2.0")
    monkeypatch.setenv("CLARION_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join((v1 / "background.csv").read_text().splitlines()[:3]) + "\n")
    written = {}
    for version in (None, "1.0", "2.0"):
        out = tmp_path / f"out-{version}.jsonl"
        pick = [] if version is None else ["--model-version", version]
        result = runner.invoke(
            app,
            ["explain", "--model", "tiny_credit", "--input", str(rows), "--output", str(out),
             "--method", "exact_shap", "--models-dir", str(models), *pick],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        written[version] = [json.loads(x) for x in out.read_text().splitlines()]
    assert {w["model"]["version"] for w in written["1.0"]} == {"1.0"}
    assert {w["model"]["version"] for w in written["2.0"]} == {"2.0"}
    assert [w["model"] for w in written[None]] == [w["model"] for w in written["2.0"]]
    first = [w["explanations"][0]["attributions"] for w in written["1.0"]]
    second = [w["explanations"][0]["attributions"] for w in written["2.0"]]
    assert first != second  # two models, two explanations
    unknown = runner.invoke(
        app,
        ["explain", "--model", "tiny_credit", "--input", str(rows), "--output",
         str(tmp_path / "x.jsonl"), "--models-dir", str(models), "--model-version", "9.9"],
    )  # fmt: skip
    assert unknown.exit_code == 1
    assert "9.9" in unknown.output
