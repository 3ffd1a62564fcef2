"""The ``clarion`` command line: serve, rebuild the example models, explain offline.

Every command goes through the same core as the HTTP API.
"""

from __future__ import annotations

import contextlib
import json
import runpy
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer

from service import vocabulary
from service.audit.cli import audit_app, keys_app, operator

__all__ = ["app", "main"]

app = typer.Typer(
    name="clarion",
    help="Clarion: explanations for ONNX models (SHAP, LIME) with an HTTP API.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)
models_app = typer.Typer(help="Example model bundles.", no_args_is_help=True, rich_markup_mode=None)
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
    pin_cores: Annotated[
        bool | None,
        typer.Option(
            "--pin-cores/--no-pin-cores",
            help="Give each worker's event loop and compute lane a core of their own, "
            "when there are as many CPUs as workers (Linux) [default: on; env "
            "CLARION_PIN_CORES].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) on the bundles in the models folder."""
    settings = _settings(
        models_dir=models_dir, host=host, port=port, workers=workers, pin_cores=pin_cores
    )
    run_server(settings)


def run_server(settings: Any) -> None:
    """Serve ``settings`` with uvicorn: one process, or ``settings.workers`` processes.

    Worker processes read their settings from ``CLARION_*`` variables, so the ones given
    here are exported first; the audit store is migrated once, before any worker starts,
    so the workers don't race to create the schema.
    """
    import os
    import shutil

    import uvicorn

    from service.api.app import create_app
    from service.audit import AuditTrail
    from service.logs import configure_logging

    configure_logging(settings.log_level, json=settings.log_json)
    # a store that cannot be opened is one line here, not a failed start-up's traceback,
    # and it is migrated once, before any worker starts
    with _one_line(2):
        AuditTrail.open(settings).close()
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
    pinned = _cores(settings)
    try:
        if settings.workers == 1:
            uvicorn.run(create_app(pinned), **common)
            return
        os.environ.update(_environment(pinned))
        _metrics_directory()
        uvicorn.run("service.api.app:create_app", factory=True, workers=settings.workers, **common)
    finally:
        if pinned.cores_dir not in (None, settings.cores_dir):  # the folder made here
            shutil.rmtree(pinned.cores_dir, ignore_errors=True)


def _cores(settings: Any) -> Any:
    """``settings`` with the folder the workers claim a core each in (``service.cores``)
    when they are to be pinned (on, on Linux, and no more workers than CPUs): the one given
    (``CLARION_CORES_DIR``, shared by servers on one host) or a fresh one; else none, with
    a line that says why."""
    import tempfile

    import structlog

    from service import cores

    if not settings.pin_cores:
        return settings.model_copy(update={"cores_dir": None})
    cpus = len(cores.available())
    if settings.workers > cpus:
        reason = f"{settings.workers} workers on {cpus} CPUs" if cpus else "not on this platform"
        structlog.get_logger(__name__).info("service.not_pinned", reason=reason)
        return settings.model_copy(update={"cores_dir": None})
    if settings.cores_dir is not None:
        return settings
    folder = Path(tempfile.mkdtemp(prefix="clarion-cores-"))
    return settings.model_copy(update={"cores_dir": folder})


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


OutputFormat = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="Format of --output: csv, parquet or jsonl [default: its extension; jsonl for -].",
    ),
]
_STDOUT = Path("-")
ModelVersion = Annotated[
    str | None,
    typer.Option("--model-version", help="Version of the model [default: its default version]."),
]


@app.command()
def explain(
    model: Annotated[str, typer.Option("--model", help="Model name, as served.")],
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            help="Rows to explain: .csv, .parquet (.pq) or .jsonl (.ndjson, one object per "
            "row), with the feature names as header, columns or keys.",
            exists=True,
            dir_okay=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            help="File to write, or - for stdout. .jsonl: one explain response per row, as "
            "the API returns it; .csv, .parquet (.pq): one flat row per input row, with the "
            "columns of a batch result.",
        ),
    ],
    method: Annotated[
        str, typer.Option(help=f"One of {', '.join(vocabulary.method_choices())}.")
    ] = vocabulary.AUTO,
    output_space: Annotated[
        str | None, typer.Option("--output-space", help="raw or probability [default: card].")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for sampling methods.")] = 0,
    batch_size: Annotated[int, typer.Option(help="Rows per explanation call.", min=1)] = 20,
    fmt: OutputFormat = None,
    model_version: ModelVersion = None,
    models_dir: ModelsDir = None,
) -> None:
    """Explain every row of a CSV, Parquet or JSON Lines file offline, in this process,
    with a progress bar (``clarion batch`` runs big files on Dask)."""
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
    out_format = _output_format(output, fmt, otherwise="jsonl")
    if output != _STDOUT and (problem := _unwritable(output)) is not None:
        typer.echo(f"error: --output {output}: {problem}", err=True)  # before the models load
        raise typer.Exit(2)
    data, in_format = _input_file(input)
    settings = _settings(
        models_dir=models_dir, log_level="warning", max_instances=max(batch_size, 100)
    )
    configure_logging("warning")
    registry = ModelRegistry(settings)
    trail = None
    try:
        trail = AuditTrail.open(settings)
        registry.load_one(model)
        loaded = registry.get(model, model_version)
        card = loaded.bundle.card
        with _one_line(2, f"--input {input}: "):
            X = _input_rows(card, data, in_format)
        engine = Engine(registry, settings, recorder=trail.recorder)
        origin = Origin(caller=operator(), channel="cli")
        spec = ExplainSpec(
            method=method, output=space, options={"seed": seed}, version=model_version
        )
        flat: list[dict[str, Any]] = []
        with (
            _opened(output) as fh,
            tqdm(total=len(X), unit="row", desc=f"{model} {method}", file=sys.stderr) as bar,
        ):
            for start in range(0, len(X), batch_size):
                batch = X[start : start + batch_size]
                result = engine.explain_rows(model, batch, spec, origin=origin)
                response = dict(mapping.explain_json(result))
                for offset, item in enumerate(response.pop("explanations")):
                    if out_format == "jsonl":
                        line = {**response, "row": start + offset, "explanations": [item]}
                        fh.write((json.dumps(line) + "\n").encode("utf-8"))
                    else:
                        flat.append(_flat_row(start + offset, item))
                bar.update(len(batch))
            if out_format != "jsonl":
                _write_rows(fh, flat, out_format)
    except ClarionError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    finally:
        if trail is not None:
            trail.close()
    typer.echo(f"wrote {len(X)} explanations to {output}", err=True)


def _output_format(output: Path, given: str | None, *, otherwise: str | None) -> Any:
    """The format to write: ``--format``, else the extension of ``--output``, else
    ``otherwise`` (None: an unknown extension is an error); jsonl for stdout. A bad one
    is one line and exit 2."""
    from service.tablefiles import FORMATS, SUFFIXES, format_of

    if given is not None:
        if given not in FORMATS:
            choices = ", ".join(FORMATS)
            typer.echo(f"error: --format must be one of {choices}; got {given!r}", err=True)
            raise typer.Exit(2)
        return given
    if output == _STDOUT:
        return "jsonl"
    found = format_of(output) or otherwise
    if found is None:
        suffixes = ", ".join(SUFFIXES)
        typer.echo(f"error: --output must end in {suffixes} (or give --format)", err=True)
        raise typer.Exit(2)
    return found


def _input_file(path: Path) -> tuple[bytes, Any]:
    """The bytes of ``--input`` and their format: named by the extension (bytes that are
    plainly another format are one line and exit 2), else told by content."""
    from service.tablefiles import check_content, format_of, sniff

    data = path.read_bytes()
    named = format_of(path)
    if named is not None:
        with _one_line(2, f"--input {path}: "):
            check_content(data, named, what="the file")
    return data, named or sniff(data)


@contextlib.contextmanager
def _one_line(code: int, prefix: str = "") -> Iterator[None]:
    """A ``ClarionError`` inside the block ends the command: ``error: <prefix><message>``
    on stderr and exit ``code``, never a traceback."""
    from service.errors import ClarionError

    try:
        yield
    except ClarionError as exc:
        typer.echo(f"error: {prefix}{exc.message}", err=True)
        raise typer.Exit(code) from exc


@contextlib.contextmanager
def _opened(output: Path) -> Iterator[BinaryIO]:
    """``--output`` opened for writing bytes; ``-`` is stdout."""
    if output == _STDOUT:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with output.open("wb") as fh:
        yield fh


def _flat_row(row: int, item: dict[str, Any]) -> dict[str, Any]:
    """One explained row (an item of an explain response) as the columns of a batch
    result (``service.jobs.results``): row, label and probability.<class> (or value),
    target, output_value, base_value, attribution.<player>, quality.<name>."""
    flat: dict[str, Any] = {"row": row}
    prediction = item["prediction"]
    if prediction.get("value") is not None:
        flat["value"] = prediction["value"]
    else:
        flat["label"] = prediction.get("label")
        for name, p in (prediction.get("probabilities") or {}).items():
            flat[f"probability.{name}"] = p
    for key in ("target", "output_value", "base_value"):
        flat[key] = item[key]
    for a in item["attributions"]:
        flat[f"attribution.{a['feature']}"] = a["attribution"]
    for name, value in item["quality"].items():
        flat[f"quality.{name}"] = value
    return flat


def _write_rows(fh: BinaryIO, rows: list[dict[str, Any]], fmt: Any) -> None:
    """Flat rows (all with the same keys) written to ``fh`` as ``fmt``."""
    import pyarrow as pa

    from service.tablefiles import write_table

    names = list(rows[0]) if rows else ["row"]
    table = pa.table([pa.array([r[n] for r in rows]) for n in names], names=names)
    for chunk in write_table(table, fmt):
        fh.write(chunk)


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


def _input_rows(card: Any, data: bytes, fmt: Any) -> Any:
    """Canonical rows of a CSV, Parquet or JSON Lines file; the first bad value stops
    ``explain``, named with its row and feature."""
    from service.jobs.inputs import read_input
    from service.models.instances import canonical_rows, read_csv_rows
    from service.tablefiles import check_content

    if fmt == "csv":
        check_content(data, "csv", what="the file")
        return read_csv_rows(card, data, max_rows=10_000_000, what="input")
    table = read_input(card, data, max_rows=10_000_000, fmt=fmt).table
    columns = [table.column(n).to_pylist() for n in card.feature_names]
    return canonical_rows(card, [list(row) for row in zip(*columns, strict=True)])


@app.command()
def batch(
    model: Annotated[str, typer.Option("--model", help="Model name, as served.")],
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            help="Rows to explain: .csv, .parquet (.pq) or .jsonl (.ndjson, one object per "
            "row), with the feature names (and optionally 'reference') as header, columns "
            "or keys.",
            exists=True,
            dir_okay=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", help="Result file: .parquet (.pq), .csv or .jsonl (.ndjson); - for stdout."
        ),
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
    fmt: OutputFormat = None,
    model_version: ModelVersion = None,
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

    out_format = _output_format(output, fmt, otherwise=None)
    space = _output_space(output_space)
    data = _job_input(input)
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
            version=model_version,
        )
        record = manager.submit(spec, data, Origin(caller=operator(), channel="cli"))
        record = _follow(manager, record.id, f"{model} {record.method}")
        if record.status != "succeeded":
            typer.echo(f"error: job {record.id} {record.status}: {record.error}", err=True)
            raise typer.Exit(1)
        with _opened(output) as fh:
            for chunk in manager.result(record.id, out_format):
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


def _job_input(path: Path) -> bytes:
    """The bytes of ``--input`` as a job takes them (CSV, Parquet or JSON Lines, told
    apart by content). A file that is not what its extension says, or JSON Lines that
    do not parse, is one line and exit 2 before anything starts."""
    from service.tablefiles import read_table

    data, fmt = _input_file(path)
    if fmt == "jsonl":  # CSV and Parquet are checked as the job reads them
        with _one_line(2, f"--input {path}: "):
            read_table(data, "jsonl", what="the file")
    return data


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
