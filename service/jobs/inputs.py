"""A job's input file: CSV, Parquet or JSON Lines, feature names as header, columns or
keys, and an optional ``reference``.

``read_input`` reads it through ``service.tablefiles`` (told apart by content, or named
by the CLI) and checks what makes the whole file unusable (none of the three,
unknown or missing columns, duplicate names, no rows, more than ``CLARION_MAX_JOB_ROWS``
rows) and answers 422 naming it; the values of each row are checked later, row by row, by the
workers (``service.models.instances.encode_rows``), so one bad row never fails a job.
CSV cells stay text until then, parsed as the CLI and bundle backgrounds parse them.
``fetch_input`` reads an ``input_uri``: a file under ``CLARION_JOBS_INPUT_ROOT`` or an
object-store URL read through fsspec (``s3://``, ``gs://``, ``abfs://``, ...); the service
reads it with its own credentials. Anything that could reach further (chained URLs,
``http://``, other local schemes) is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from service.errors import InvalidInput, PayloadTooLarge
from service.models.card import ModelCard
from service.tablefiles import TableFormat, TooManyRows, is_text, read_table, sniff

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["REFERENCE", "JobInput", "fetch_input", "read_input", "table_from_ipc", "table_ipc"]

REFERENCE = "reference"
InputFormat = TableFormat
# Object stores an input_uri may name. Not http(s) (the service would fetch any address a
# caller names), not chained URLs ("simplecache::file://..." would escape the input root).
_REMOTE_SCHEMES = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "oci"})


@dataclass(frozen=True, eq=False)
class JobInput:
    """The input as read: ``table`` holds the card's features in card order (CSV: text;
    Parquet and JSON Lines: as typed), then ``reference`` (text) if the file has one."""

    table: pa.Table
    format: InputFormat
    sha256: str
    has_reference: bool

    @property
    def n_rows(self) -> int:
        return int(self.table.num_rows)


def _refuse(message: str, problem: str, field: str = "data") -> InvalidInput:
    return InvalidInput(message, details={"field": field, "problem": problem})


def _too_many(n: int, limit: int) -> InvalidInput:
    return _refuse(
        f"the input has {n:,} rows; a job may have at most {limit:,} (CLARION_MAX_JOB_ROWS)",
        "too many rows",
    )


def read_input(
    card: ModelCard, data: bytes, *, max_rows: int, fmt: InputFormat | None = None
) -> JobInput:
    """Read and check an input file: as ``fmt`` (bytes that are not what it says are
    refused), or, without one, CSV, Parquet or JSON Lines told apart by content (a job
    upload)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = list(card.feature_names)
    if not data.strip():
        raise _refuse("the input file is empty", "empty")
    if fmt is None:
        fmt = sniff(data)
        if fmt != "parquet" and not is_text(data):
            raise _refuse(
                "the input is neither Parquet, nor CSV (UTF-8 text with a header of feature "
                "names), nor JSON Lines (one object per row)",
                "not CSV, Parquet or JSON Lines",
            )
    try:
        table = read_table(data, fmt, text_columns=[*names, REFERENCE], max_rows=max_rows)
    except TooManyRows as exc:
        raise _too_many(exc.n, max_rows) from exc
    header = [str(c).strip() for c in table.column_names]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    unknown = [h for h in header if h not in names and h != REFERENCE]
    missing = [n for n in names if n not in header]
    if duplicated or unknown or missing:
        problems = [
            {"field": f"data.{h}", "problem": "is not a feature of this model"} for h in unknown
        ]
        problems += [{"field": f"data.{n}", "problem": "is missing"} for n in missing]
        problems += [{"field": f"data.{h}", "problem": "appears twice"} for h in duplicated]
        first = problems[0]
        raise InvalidInput(
            f"the input's columns do not match the model's features: {first['field']} "
            f"{first['problem']} (columns: the card's feature names, and optionally "
            f"{REFERENCE!r})",
            details=problems,
        )
    table = table.rename_columns(header)
    if table.num_rows == 0:
        raise _refuse("the input has no rows", "no rows")
    if table.num_rows > max_rows:
        raise _too_many(table.num_rows, max_rows)
    has_reference = REFERENCE in header
    columns = [table.column(n) for n in names]
    if has_reference:
        try:
            columns.append(pc.cast(table.column(REFERENCE), pa.string()))
        except pa.ArrowException as exc:
            raise _refuse(
                f"the {REFERENCE!r} column cannot be read as text: {exc}",
                "not text",
                field=f"data.{REFERENCE}",
            ) from exc
    selected = pa.table(columns, names=[*names, *([REFERENCE] if has_reference else [])])
    return JobInput(
        table=selected,
        format=fmt,
        sha256=hashlib.sha256(data).hexdigest(),
        has_reference=has_reference,
    )


def fetch_input(uri: str, *, root: Path | None, max_bytes: int) -> bytes:
    """The bytes behind ``input_uri``: a local path must lie under ``root``
    (``CLARION_JOBS_INPUT_ROOT``); a URL with a scheme goes through fsspec."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if "::" in uri or (scheme not in ("", "file") and scheme not in _REMOTE_SCHEMES):
        raise _refuse(
            f"input_uri must be a path under CLARION_JOBS_INPUT_ROOT or an object-store URL "
            f"({', '.join(sorted(_REMOTE_SCHEMES))}); got {uri!r}",
            "unsupported scheme",
            field="input_uri",
        )
    if scheme in ("", "file"):
        if root is None:
            raise _refuse(
                "local input files are off: set CLARION_JOBS_INPUT_ROOT to allow paths under it",
                "local paths not allowed",
                field="input_uri",
            )
        path = Path(uri.removeprefix("file://"))
        path = (root / path if not path.is_absolute() else path).resolve()
        if not path.is_relative_to(root.resolve()):
            raise _refuse(
                f"input_uri must name a file under CLARION_JOBS_INPUT_ROOT ({root})",
                "outside the input root",
                field="input_uri",
            )
        if not path.is_file():
            raise _refuse(f"no input file at {uri!r}", "no such file", field="input_uri")
        if path.stat().st_size > max_bytes:
            raise _over(max_bytes)
        return path.read_bytes()
    return _fetch_url(uri, max_bytes)


def _over(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the input is over the limit of {max_bytes} bytes (CLARION_MAX_JOB_UPLOAD_BYTES)",
        details={"field": "input_uri", "problem": f"larger than {max_bytes} bytes"},
    )


def _fetch_url(uri: str, max_bytes: int) -> bytes:
    import fsspec

    try:
        with fsspec.open(uri, "rb") as fh:
            data: bytes = fh.read(max_bytes + 1)
    except (ImportError, ValueError) as exc:
        raise _refuse(
            f"input_uri {uri!r} needs a filesystem that is not installed here: {exc}",
            "unsupported scheme",
            field="input_uri",
        ) from exc
    except (OSError, FileNotFoundError) as exc:
        raise _refuse(
            f"input_uri {uri!r} cannot be read: {exc}", "unreadable", field="input_uri"
        ) from exc
    if len(data) > max_bytes:
        raise _over(max_bytes)
    return data


def table_ipc(table: pa.Table) -> bytes:
    """A table (or a slice of one) as Arrow IPC bytes: only the rows it holds travel."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def table_from_ipc(data: bytes) -> pa.Table:
    import pyarrow as pa

    with pa.ipc.open_stream(pa.BufferReader(data)) as reader:
        return reader.read_all()
