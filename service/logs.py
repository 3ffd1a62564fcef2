"""Structured logging: one configuration, applied by ``create_app`` and the CLI, never at import.

Every event is one line (key=value, or JSON). An exception is logged as its type and
the innermost frames' ``file:line in function``, never as a traceback: tracebacks
rendered with locals carried API keys (the ASGI scope), request bodies and personal
values into the logs, and took seconds to render on the event loop. Its message is
left out too, since it may quote a value. Standard-library loggers go through the same
processors, uvicorn's too: its "Exception in ASGI application" (Starlette re-raises
after the app has answered 500) is dropped when the app has logged that exception.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import MutableMapping
from pathlib import PurePath
from typing import Any

import structlog

__all__ = ["configure_logging"]

_FRAMES = 3
_LOGGED = "_clarion_logged"


def _where(exc: BaseException) -> str:
    """The innermost frames, innermost first: ``routes/explain.py:48 in explain < ...``."""
    frames = list(traceback.walk_tb(exc.__traceback__))[-_FRAMES:]
    return " < ".join(
        f"{'/'.join(PurePath(f.f_code.co_filename).parts[-2:])}:{line} in {f.f_code.co_name}"
        for f, line in reversed(frames)
    )


def _summarise_exception(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace ``exc_info`` by the exception's type and where it was raised; one line."""
    exc_info = event.pop("exc_info", None)
    event.pop("exception", None)
    event.pop("stack_info", None)
    if isinstance(event.get("event"), str):
        event["event"] = " ".join(event["event"].split())
    if isinstance(exc_info, BaseException):
        exc: BaseException | None = exc_info
    elif isinstance(exc_info, tuple):
        exc = exc_info[1]
    elif exc_info:
        exc = sys.exc_info()[1]
    else:
        exc = None
    if exc is not None:
        if event.get("_from_structlog", True):  # absent on structlog's own chain
            with contextlib.suppress(AttributeError):  # a type with __slots__ stays unmarked
                setattr(exc, _LOGGED, True)
        event.setdefault("error", type(exc).__name__)
        event["at"] = _where(exc)
        cause = exc.__cause__ or exc.__context__
        if cause is not None:
            event["cause"] = type(cause).__name__
    return event


_QUOTED = frozenset(" \t=\r\n\"'")


def _value(value: Any) -> str:
    if isinstance(value, str) and not _QUOTED.intersection(value):
        return value
    return repr(value)


def _render_line(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> str:
    """One event as structlog's ``ConsoleRenderer`` (without colours) lays it out:
    ``<timestamp> [<level>] <event, padded to 30> key=value ...``, keys sorted, a string
    quoted only where it holds a space, a quote or ``=``, the same bytes. A logged
    line costs a third of what it did through ``ConsoleRenderer`` (24 us against 77 us
    in a loop), which counts on the hot path: each explanation logs a line at the default
    level. Exceptions never get here as tracebacks (``_summarise_exception`` turns them
    into fields)."""
    head = []
    if (timestamp := event.pop("timestamp", None)) is not None:
        head.append(str(timestamp))
    if (level := event.pop("level", None)) is not None:
        head.append(f"[{level:<9}]")
    if (text := event.pop("event", None)) is not None:
        head.append(f"{text!s:<30}")
    pairs = [f"{key}={_value(event[key])}" for key in sorted(event)]
    return " ".join(head + pairs).rstrip(" ")


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    return structlog.PrintLogger(sys.stderr)


def _not_logged_before(record: logging.LogRecord) -> bool:
    """False for a record about an exception the app has logged (uvicorn's second word)."""
    exc = record.exc_info[1] if record.exc_info else None
    return not getattr(exc, _LOGGED, False)


class _Stderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record arrives (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def configure_logging(level: str = "info", *, json: bool = False) -> None:
    """Route structlog and stdlib logging to stderr as one-line events.

    Standard-library records from warnings up; uvicorn's from ``level`` up.
    """
    numeric = logging.getLevelNamesMapping()[level.upper()]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else _render_line
    )
    shared: list[structlog.types.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _summarise_exception,
    ]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,  # whatever sys.stderr is then, as for _Stderr
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        processor=renderer, foreign_pre_chain=[structlog.contextvars.merge_contextvars, *shared]
    )
    # Libraries' INFO (alembic's migration chatter) stays out; uvicorn's own lines stay in,
    # through our formatter instead of its handler, which prints whole tracebacks.
    for name, floor in (("", logging.WARNING), ("uvicorn", numeric)):
        handler = _Stderr(level=max(numeric, floor))
        handler.setFormatter(formatter)
        handler.addFilter(_not_logged_before)
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if name or isinstance(h, _Stderr)]:
            logger.removeHandler(old)
        logger.addHandler(handler)
    logging.getLogger("uvicorn").propagate = False
