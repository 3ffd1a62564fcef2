"""A crash is one log line with the request id: no locals, headers, bodies or instance values."""

from __future__ import annotations

import logging
import logging.config
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import structlog
import uvicorn.config
import yaml
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.logs import configure_logging
from tests.support import make_settings

ADMIN = "bootstrap-admin-key-7f3c1d9e2b"
CASE = {"income": 173.1379, "debt": 30.0, "employment": "part_time", "has_guarantor": 1}


@pytest.fixture
def sensitive_models(tmp_path: Path, tiny_models_dir: Path) -> Path:
    root = tmp_path / "models"
    shutil.copytree(tiny_models_dir / "tiny_credit", root / "tiny_credit")
    card_path = root / "tiny_credit" / "card.yaml"
    card = yaml.safe_load(card_path.read_text())
    card["features"][0]["sensitive"] = True
    card_path.write_text(yaml.safe_dump(card, sort_keys=False))
    return root


def test_a_crash_logs_one_line_without_secrets_or_values(
    sensitive_models: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(sensitive_models, bootstrap_admin_key=ADMIN, auth="required")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        engine = client.app.state.engine  # type: ignore[attr-defined]

        def crash(*args: Any, **kwargs: Any) -> NoReturn:
            raise RuntimeError("the engine broke")

        monkeypatch.setattr(engine, "explain", crash)
        capfd.readouterr()  # start-up lines are not the crash
        r = client.post(
            "/v1/models/tiny_credit/explain",
            json={"instances": [CASE]},
            headers={"authorization": f"Bearer {ADMIN}", "x-request-id": "crash-42"},
        )
        assert r.status_code == 500
        assert r.json()["error"]["request_id"] == "crash-42"
        text = "".join(capfd.readouterr())
    crash_lines = [line for line in text.splitlines() if "request.crashed" in line]
    assert len(crash_lines) == 1, text
    line = crash_lines[0]
    assert "crash-42" in line, text
    assert "RuntimeError" in line
    assert "test_logs.py:" in line  # where it broke (the innermost frame), as file:line
    assert len(text.splitlines()) <= 3, text  # no traceback, no frames
    for leaked in (ADMIN, "173.1379", "part_time", "locals", "Traceback"):
        assert leaked not in text, f"{leaked!r} is in the crash log:\n{text}"


@pytest.fixture
def uvicorn_logging() -> Iterator[None]:
    """uvicorn's own logging configuration, as ``uvicorn --factory`` sets it; undone after."""
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {
        n: (list(logging.getLogger(n).handlers), logging.getLogger(n).propagate) for n in names
    }
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
    yield
    for name, (handlers, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers = handlers
        logger.propagate = propagate


def _raise_with_a_secret() -> NoReturn:
    headers = {"authorization": "Bearer clarion_not-a-real-key"}
    raise ValueError(f"bad header {headers['authorization']}")


def test_uvicorn_errors_are_one_line_and_never_twice(
    uvicorn_logging: None, capfd: pytest.CaptureFixture[str]
) -> None:
    """uvicorn logs an exception that escapes the app with its traceback: not here."""
    configure_logging("warning")  # as create_app does, after uvicorn configured its loggers
    try:
        _raise_with_a_secret()
    except ValueError as exc:
        logging.getLogger("uvicorn.error").error("Exception in ASGI application\n", exc_info=exc)
    err = capfd.readouterr().err
    assert "Exception in ASGI application" in err
    assert "error=ValueError" in err
    assert "test_logs.py" in err
    assert "clarion_not-a-real-key" not in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err

    try:
        _raise_with_a_secret()
    except ValueError as exc:
        structlog.get_logger("app").error("request.crashed", exc_info=exc)
        logging.getLogger("uvicorn.error").error("Exception in ASGI application\n", exc_info=exc)
    err = capfd.readouterr().err
    assert "request.crashed" in err
    assert "Exception in ASGI application" not in err  # the app said it already
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    "event",
    [
        {"model": "german_credit", "ms": 1.234, "rows": 1, "output": "raw", "method": "tree_shap"},
        {"detail": "it's a value with spaces", "formula": "a=b", "none": None, "n": [1, 2]},
        {"quoted": 'say "hi"', "tab": "a\tb", "line": "a\nb", "empty": "", "flag": True},
        {},
    ],
)
@pytest.mark.parametrize(
    "name", ["explanation.completed", "an.event.name.longer.than.thirty.characters"]
)
def test_a_line_reads_as_structlogs_console_renderer_lays_it_out(
    event: dict[str, Any], name: str
) -> None:
    """The service's own renderer is there for speed only: the same bytes, line for line."""
    from service.logs import _render_line

    full = {"event": name, "timestamp": "2026-12-04T21:13:38.123456Z", "level": "info", **event}
    expected = structlog.dev.ConsoleRenderer(colors=False)(None, "info", dict(full))
    assert _render_line(None, "info", dict(full)) == expected
