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

METHODS = ["auto", "tree_shap", "exact_shap", "kernel_shap", "permutation_shap", "lime"]
ModelsDir = Annotated[
    Path | None,
    typer.Option(
        "--models-dir",
        help="Folder of model bundles [default: the bundled models; env CLARION_MODELS_DIR].",
        file_okay=False,
    ),
]


def _settings(**overrides: Any) -> Any:
    from service.settings import Settings

    return Settings(**{k: v for k, v in overrides.items() if v is not None})


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

    if settings.workers == 1:
        uvicorn.run(
            create_app(settings), host=settings.host, port=settings.port, log_level="warning"
        )
        return
    from service.audit.store import AuditStore

    AuditStore.open(settings.database_url).close()
    os.environ.update(_environment(settings))
    uvicorn.run(
        "service.api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="warning",
    )


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
            "--input", help="CSV with a header of feature names.", exists=True, dir_okay=False
        ),
    ],
    output: Annotated[Path, typer.Option("--output", help="JSON Lines file to write.")],
    method: Annotated[str, typer.Option(help=f"One of {', '.join(METHODS)}.")] = "auto",
    output_space: Annotated[
        str | None, typer.Option("--output-space", help="raw or probability [default: card].")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for sampling methods.")] = 0,
    batch_size: Annotated[int, typer.Option(help="Rows per explanation call.", min=1)] = 20,
    models_dir: ModelsDir = None,
) -> None:
    """Explain every row of a CSV offline; one JSON line per row, with a progress bar."""
    from tqdm import tqdm

    from service.audit import AuditTrail
    from service.engine import Engine
    from service.errors import ClarionError
    from service.explain.explanation import OutputSpace
    from service.logs import configure_logging
    from service.models.instances import read_csv_rows
    from service.models.registry import ModelRegistry
    from service.results import ExplainSpec, Origin
    from service.wire import mapping

    if method not in METHODS:
        typer.echo(f"error: --method must be one of {METHODS}; got {method!r}", err=True)
        raise typer.Exit(2)
    if output_space not in (None, "raw", "probability"):
        typer.echo(
            f"error: --output-space must be raw or probability; got {output_space!r}", err=True
        )
        raise typer.Exit(2)
    space: OutputSpace | None = None
    if output_space is not None:
        space = "raw" if output_space == "raw" else "probability"
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
        X = read_csv_rows(card, input.read_bytes(), max_rows=10_000_000, what="input")
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


def main() -> None:
    app()


if __name__ == "__main__":  # python -m service.cli (how serve_command starts it)
    main()
