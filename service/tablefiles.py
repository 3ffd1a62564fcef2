"""Table files: rows in and out as CSV, Parquet or JSON Lines, through pyarrow.

A file's format is named by its extension (``format_of``: ``.csv``; ``.parquet`` or
``.pq``; ``.jsonl`` or ``.ndjson``); bytes without a name are told apart by their
content (``sniff``). ``read_table`` refuses bytes that are not what their format says
with one ``InvalidInput`` (422) naming the field, never a library's traceback;
``write_table`` writes a table in any of the three, a chunk at a time:

- CSV: a header of column names, then one line per row; doubles in shortest
  round-trip form, so they read back bit for bit.
- Parquet: the table's types kept (numbers as numbers, text as text), zstd-compressed.
- JSON Lines: one JSON object per row; NaN and infinities (which JSON lacks) are null.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Literal

from service.errors import InvalidInput, TooManyRows

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "SUFFIXES",
    "TableFormat",
    "TooManyRows",
    "check_content",
    "format_of",
    "is_text",
    "parquet_bytes",
    "read_records",
    "read_table",
    "sniff",
    "write_table",
]

TableFormat = Literal["csv", "parquet", "jsonl"]
FORMATS: tuple[TableFormat, ...] = ("csv", "parquet", "jsonl")
SUFFIXES: Mapping[str, TableFormat] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
MEDIA_TYPES: Mapping[TableFormat, str] = {
    "parquet": "application/vnd.apache.parquet",
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
}
_NAMES: Mapping[TableFormat, str] = {"csv": "CSV", "parquet": "Parquet", "jsonl": "JSON Lines"}
_PARQUET_MAGIC = b"PAR1"
_BATCH_ROWS = 4_096


def format_of(path: str | PurePath) -> TableFormat | None:
    """The format a file name's extension names; None for any other extension."""
    return SUFFIXES.get(PurePath(path).suffix.lower())


def sniff(data: bytes) -> TableFormat:
    """The format of ``data`` by content: Parquet has its magic bytes at both ends; JSON
    Lines starts with ``{`` (a CSV header of feature names starts with a letter)."""
    if data[:4] == _PARQUET_MAGIC and data[-4:] == _PARQUET_MAGIC:
        return "parquet"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
        return "jsonl"
    return "csv"


def _refuse(what: str, fmt: TableFormat, why: str, field: str) -> InvalidInput:
    name = _NAMES[fmt]
    why = " ".join(why.split())  # one line, whatever the library said
    return InvalidInput(
        f"{what} is not a readable {name} file: {why}",
        details={"field": field, "problem": f"not {name}"},
    )


def check_content(data: bytes, fmt: TableFormat, *, what: str, field: str = "data") -> None:
    """Refuse ``data`` that is plainly not ``fmt`` (a Parquet file named ``.csv``, binary
    bytes named ``.jsonl``, ...), in one line that says what it is instead."""
    found = sniff(data)
    if fmt == "parquet":
        if found != "parquet":
            kind = "text" if is_text(data) else "binary data"
            raise _refuse(what, fmt, f"it has no Parquet magic bytes (it is {kind})", field)
        _parquet_file(data, what, field)  # a torn footer shows here, before any work
        return
    if found == "parquet":
        raise _refuse(what, fmt, "it is a Parquet file; name it .parquet", field)
    if not is_text(data):
        raise _refuse(what, fmt, "it is not UTF-8 text", field)
    if fmt == "jsonl" and found != "jsonl":
        raise _refuse(what, fmt, "it does not start with a JSON object", field)


def _parquet_file(data: bytes, what: str, field: str) -> pq.ParquetFile:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise _refuse(what, "parquet", str(exc), field) from exc


def is_text(data: bytes) -> bool:
    """Whether ``data`` is UTF-8 text."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_records(data: bytes, *, what: str = "the input", field: str = "data") -> list[Any]:
    """JSON Lines as a list of objects, one per non-blank line, in file order."""
    import orjson

    check_content(data, "jsonl", what=what, field=field)
    records: list[Any] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise _refuse(what, "jsonl", f"line {number}: {exc}", field) from exc
        if not isinstance(record, dict):
            raise _refuse(what, "jsonl", f"line {number} is not a JSON object", field)
        records.append(record)
    return records


def read_table(
    data: bytes,
    fmt: TableFormat,
    *,
    text_columns: Sequence[str] = (),
    max_rows: int | None = None,
    what: str = "the input",
    field: str = "data",
) -> pa.Table:
    """``data`` read as ``fmt``. ``text_columns``: CSV columns kept as text (cells are
    parsed later, against a card); ``max_rows``: Parquet refused before it is read whole
    if it has more (``read_table`` does not count CSV or JSON Lines rows)."""
    import pyarrow as pa

    check_content(data, fmt, what=what, field=field)
    if fmt == "parquet":
        parquet = _parquet_file(data, what, field)
        n = parquet.metadata.num_rows
        if max_rows is not None and n > max_rows:
            raise TooManyRows(what, n, max_rows, field)
        try:
            return parquet.read()
        except (pa.ArrowException, OSError) as exc:
            raise _refuse(what, fmt, str(exc), field) from exc
    if fmt == "jsonl":
        return _records_table(read_records(data, what=what, field=field), what, field)
    import pyarrow.csv as pcsv

    try:
        return pcsv.read_csv(
            io.BytesIO(data),
            read_options=pcsv.ReadOptions(encoding="utf-8"),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in text_columns},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowException as exc:
        raise _refuse(what, fmt, str(exc), field) from exc


def _records_table(records: list[dict[str, Any]], what: str, field: str) -> pa.Table:
    """Objects as columns: every key any object has (first seen first), null where an
    object lacks it; a column's type is inferred from its values."""
    import pyarrow as pa

    names = list(dict.fromkeys(k for r in records for k in r))
    columns = []
    for name in names:
        try:
            columns.append(pa.array([r.get(name) for r in records]))
        except (pa.ArrowException, OverflowError) as exc:
            raise _refuse(
                what, "jsonl", f"the values of {name!r} are not all of one type ({exc})", field
            ) from exc
    return pa.table(columns, names=names)


def parquet_bytes(table: pa.Table) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):  # dates and times: ISO 8601, as the CSV writer has them
        return value.isoformat()
    return value


def write_table(table: pa.Table, fmt: TableFormat) -> Iterator[bytes]:
    """``table`` as a ``fmt`` file, a chunk at a time (CSV and JSON Lines: 4,096 rows)."""
    if fmt == "parquet":
        yield parquet_bytes(table)
        return
    import pyarrow.csv as pcsv

    for i, batch in enumerate(table.to_batches(max_chunksize=_BATCH_ROWS)):
        if fmt == "csv":
            sink = io.BytesIO()
            pcsv.write_csv(batch, sink, write_options=pcsv.WriteOptions(include_header=i == 0))
            yield sink.getvalue()
        else:
            lines = (
                json.dumps({k: _json_value(v) for k, v in row.items()}, allow_nan=False)
                for row in batch.to_pylist()
            )
            yield ("\n".join(lines) + "\n").encode("utf-8")
    if table.num_rows == 0 and fmt == "csv":
        sink = io.BytesIO()
        pcsv.write_csv(table, sink)
        yield sink.getvalue()
