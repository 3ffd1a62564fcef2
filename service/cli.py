"""The ``clarion`` command line: serve, rebuild the example models, explain offline.

Every command goes through the same core as the HTTP API.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from service import vocabulary
from service.audit.cli import audit_app, keys_app, operator

__all__ = ["app", "main"]

app = typer.Typer(
    name="clarion",
    help="Clarion: explanations for ONNX models (SHAP, LIME) with an HTTP API.",
    no_args_is_help=True,
    add_completion=False,
)
models_app = typer.Typer(help="Example model bundles.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")

ModelsDir = Annotated[
    Path | None,
    typer.Option(
        "--models-dir",
        help="Folder of model bundles [default: the bundled models; env CLARION_MODELS_DIR].",
        file_okay=False,
    ),
]


def _settings(**overrides: Any) -> Any:
    """Settings from the environment and the options; a bad one is one line and exit 2."""
    from service.settings import SettingsError, load_settings

    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        typer.echo(f"error: invalid setting: {exc}", err=True)
        raise typer.Exit(2) from exc


def _output_space(value: str | None) -> Any:
    """``--output-space`` checked against the vocabulary: one line and exit 2 if unknown."""
    from service import vocabulary

    if value is not None and value not in vocabulary.OUTPUT_SPACES:
        spaces = " or ".join(vocabulary.OUTPUT_SPACES)
        typer.echo(f"error: --output-space must be {spaces}; got {value!r}", err=True)
        raise typer.Exit(2)
    return value


@app.command()
def serve(
    models_dir: ModelsDir = None,
    host: Annotated[str | None, typer.Option(help="Interface [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: 8000].")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            help="Worker processes, each with its own models and compute threads "
            "[default: the number of CPUs; env CLARION_WORKERS].",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) on the bundles in the models folder."""
    settings = _settings(models_dir=models_dir, host=host, port=port, workers=workers)
    run_server(settings)


def run_server(settings: Any) -> None:
    """Serve ``settings`` with uvicorn: one process, or ``settings.workers`` processes.

    Worker processes read their settings from ``CLARION_*`` variables, so the ones given
    here are exported first; the audit store is migrated once, before any worker starts,
    so the workers don't race to create the schema.
    """
    import os

    import uvicorn

    from service.api.app import create_app
    from service.audit import AuditTrail
    from service.errors import ClarionError
    from service.logs import configure_logging

    configure_logging(settings.log_level, json=settings.log_json)
    try:  # a store that cannot be opened is one line here, not a failed start-up's traceback
        AuditTrail.open(settings).close()  # and migrated once, before any worker starts
    except ClarionError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        "log_config": None,  # uvicorn's records go through service.logs: one line, no traceback
        "proxy_headers": False,  # X-Forwarded-For is trusted only from CLARION_TRUSTED_PROXIES
        # SIGTERM: requests get 5 s to finish, then the lifespan cancels the model runs
        # still in flight, so the server stops within 10 s whatever is running.
        "timeout_graceful_shutdown": 5,
    }
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **common)
        return
    os.environ.update(_environment(settings))
    _metrics_directory()
    uvicorn.run("service.api.app:create_app", factory=True, workers=settings.workers, **common)


def _metrics_directory() -> None:
    """Prometheus multiprocess mode for the workers: ``PROMETHEUS_MULTIPROC_DIR`` (a fresh
    temporary folder unless the operator names one), emptied of the files a previous run
    left, set before any worker starts (``service.api.metrics``)."""
    import os
    import tempfile
    from pathlib import Path

    from service.api.metrics import MULTIPROC_ENV

    folder = Path(os.environ.get(MULTIPROC_ENV) or tempfile.mkdtemp(prefix="clarion-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(folder)


def _environment(settings: Any) -> dict[str, str]:
    """``settings`` as the ``CLARION_*`` variables a worker process reads them from."""
    out = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        if hasattr(getattr(settings, name), "get_secret_value"):
            value = getattr(settings, name).get_secret_value()
        out[f"CLARION_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return out


@app.command()
def ui(
    api_url: Annotated[
        str,
        typer.Option(
            "--api-url", envvar="CLARION_API_URL", help="The Clarion API the workspace calls."
        ),
    ] = "http://127.0.0.1:8000",
    port: Annotated[int, typer.Option(help="Port of the workspace.")] = 8501,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", envvar="CLARION_API_KEY", help="API key, if the service requires one."
        ),
    ] = None,
) -> None:
    """Run the Streamlit workspace (preview, compare, model overview, review) against an API."""
    from service.launch import run_ui

    raise typer.Exit(run_ui(api_url, port=port, api_key=api_key, echo=typer.echo))


@app.command()
def up(
    models_dir: ModelsDir = None,
    port: Annotated[int, typer.Option(help="Port of the API.")] = 8000,
    ui_port: Annotated[int, typer.Option("--ui-port", help="Port of the workspace.")] = 8501,
) -> None:
    """Run the API and the workspace together on this machine; Ctrl-C stops both."""
    from service.launch import run_up

    raise typer.Exit(run_up(port=port, ui_port=ui_port, models_dir=models_dir, echo=typer.echo))


@models_app.command("build")
def models_build(
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Build just these bundles.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder [default: models/].")] = None,
) -> None:
    """Rebuild the example bundles deterministically (needs the `train` extra)."""
    script = Path(__file__).resolve().parent.parent / "models" / "build.py"
    if not script.is_file():
        typer.echo(f"error: {script} not found; run from a source checkout", err=True)
        raise typer.Exit(2)
    namespace = runpy.run_path(str(script))
    paths = namespace["build_all"](out or script.parent, only or None)
    for path in paths:
        typer.echo(f"built {path}")


@app.command()
def explain(
    model: Annotated[str, typer.Option("--model", help="Model name, as served.")],
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            help="CSV or Parquet with a header of feature names.",
            exists=True,
            dir_okay=False,
        ),
    ],
    output: Annotated[Path, typer.Option("--output", help="JSON Lines file to write.")],
    method: Annotated[
        str, typer.Option(help=f"One of {', '.join(vocabulary.method_choices())}.")
    ] = vocabulary.AUTO,
    output_space: Annotated[
        str | None, typer.Option("--output-space", help="raw or probability [default: card].")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for sampling methods.")] = 0,
    batch_size: Annotated[int, typer.Option(help="Rows per explanation call.", min=1)] = 20,
    models_dir: ModelsDir = None,
) -> None:
    """Explain every row of a CSV or Parquet file offline, in this process; one JSON line
    per row, with a progress bar (``clarion batch`` runs big files on Dask)."""
    from tqdm import tqdm

    from service.audit import AuditTrail
    from service.engine import Engine
    from service.errors import ClarionError
    from service.logs import configure_logging
    from service.models.registry import ModelRegistry
    from service.results import ExplainSpec, Origin
    from service.wire import mapping

    if method not in vocabulary.method_choices():
        choices = list(vocabulary.method_choices())
        typer.echo(f"error: --method must be one of {choices}; got {method!r}", err=True)
        raise typer.Exit(2)
    space = _output_space(output_space)
    if (problem := _unwritable(output)) is not None:  # before the models load, not after
        typer.echo(f"error: --output {output}: {problem}", err=True)
        raise typer.Exit(2)
    settings = _settings(
        models_dir=models_dir, log_level="warning", max_instances=max(batch_size, 100)
    )
    configure_logging("warning")
    registry = ModelRegistry(settings)
    trail = None
    try:
        trail = AuditTrail.open(settings)
        registry.load_one(model)
        loaded = registry.get(model)
        card = loaded.bundle.card
        X = _input_rows(card, input.read_bytes())
        engine = Engine(registry, settings, recorder=trail.recorder)
        origin = Origin(caller=operator(), channel="cli")
        spec = ExplainSpec(method=method, output=space, options={"seed": seed})
        with (
            output.open("w", encoding="utf-8") as fh,
            tqdm(total=len(X), unit="row", desc=f"{model} {method}", file=sys.stderr) as bar,
        ):
            for start in range(0, len(X), batch_size):
                batch = X[start : start + batch_size]
                result = engine.explain_rows(model, batch, spec, origin=origin)
                response = dict(mapping.explain_json(result))
                for offset, item in enumerate(response.pop("explanations")):
                    line = {**response, "row": start + offset, "explanations": [item]}
                    fh.write(json.dumps(line) + "\n")
                bar.update(len(batch))
    except ClarionError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    finally:
        if trail is not None:
            trail.close()
    typer.echo(f"wrote {len(X)} explanations to {output}", err=True)


def _unwritable(path: Path) -> str | None:
    """Why ``path`` cannot be written as an output file; None if it can."""
    import os

    if path.is_dir():
        return "is a folder"
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return f"its folder {parent} does not exist"
    if path.exists() and not os.access(path, os.W_OK):
        return "is not writable"
    if not path.exists() and not os.access(parent, os.W_OK):
        return f"its folder {parent} is not writable"
    return None


def _input_rows(card: Any, data: bytes) -> Any:
    """Canonical rows of a CSV or a Parquet file (told apart by content); the first bad
    value stops ``explain``, named with its row and feature."""
    from service.models.instances import canonical_rows, read_csv_rows

    if data[:4] != b"PAR1":
        return read_csv_rows(card, data, max_rows=10_000_000, what="input")
    from service.jobs.inputs import read_input

    table = read_input(card, data, max_rows=10_000_000).table
    columns = [table.column(n).to_pylist() for n in card.feature_names]
    return canonical_rows(card, [list(row) for row in zip(*columns, strict=True)])


_RESULT_SUFFIXES = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl"}


@app.command()
def batch(
    model: Annotated[str, typer.Option("--model", help="Model name, as served.")],
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            help="CSV or Parquet with a header of feature names (and optionally 'reference').",
            exists=True,
            dir_okay=False,
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", help="Result file: .parquet, .csv or .jsonl.")
    ],
    method: Annotated[
        str, typer.Option(help=f"One of {', '.join(vocabulary.method_choices())}.")
    ] = vocabulary.AUTO,
    output_space: Annotated[
        str | None, typer.Option("--output-space", help="raw or probability [default: card].")
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Class to explain [default: as explain].")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for sampling methods.")] = 0,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Dask scheduler, tcp://host:8786 [default: env CLARION_DASK_SCHEDULER, else a "
            "local cluster].",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help="Worker processes of the local cluster [default: cores]."
        ),
    ] = None,
    models_dir: ModelsDir = None,
) -> None:
    """Explain every row of a file as a batch job on Dask, with a progress bar; the same
    job as ``POST /v1/jobs`` (one audit record, every row replayable)."""
    from service.audit import AuditTrail
    from service.engine import Engine
    from service.errors import ClarionError
    from service.jobs import JobManager, JobSpec
    from service.logs import configure_logging
    from service.models.registry import ModelRegistry
    from service.results import Origin

    fmt = _RESULT_SUFFIXES.get(output.suffix.lower())
    if fmt is None:
        typer.echo(f"error: --output must end in {', '.join(_RESULT_SUFFIXES)}", err=True)
        raise typer.Exit(2)
    space = _output_space(output_space)
    settings = _settings(
        models_dir=models_dir, log_level="warning", dask_scheduler=scheduler, dask_workers=workers
    )
    configure_logging("warning")
    registry = ModelRegistry(settings)
    trail = manager = None
    try:
        trail = AuditTrail.open(settings)
        registry.load_one(model)
        manager = JobManager(Engine(registry, settings), trail.store, settings)
        spec = JobSpec(
            model=model,
            method=method,
            output=space,
            target=target,
            options={"seed": seed},
        )
        record = manager.submit(spec, input.read_bytes(), Origin(caller=operator(), channel="cli"))
        record = _follow(manager, record.id, f"{model} {record.method}")
        if record.status != "succeeded":
            typer.echo(f"error: job {record.id} {record.status}: {record.error}", err=True)
            raise typer.Exit(1)
        with output.open("wb") as fh:
            for chunk in manager.result(record.id, fmt):  # type: ignore[arg-type]
                fh.write(chunk)
    except ClarionError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    finally:
        if manager is not None:
            manager.close()
        if trail is not None:
            trail.close()
    failed = f" ({record.rows_failed} with an error)" if record.rows_failed else ""
    typer.echo(
        f"job {record.id}: wrote {record.n_rows} rows{failed} to {output}; result sha256 "
        f"{record.result_sha256}",
        err=True,
    )


def _follow(manager: Any, job_id: str, label: str) -> Any:
    """A progress bar over the job until it ends; its final record."""
    import time

    from tqdm import tqdm

    record = manager.jobs.get(job_id)
    with tqdm(total=record.n_rows, unit="row", desc=label, file=sys.stderr) as bar:
        while record.status not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.5)
            record = manager.jobs.get(job_id)
            bar.update(record.rows_done - bar.n)
        bar.update(record.rows_done - bar.n)
    return record


def main() -> None:
    app()


if __name__ == "__main__":  # python -m service.cli (how serve_command starts it)
    main()
