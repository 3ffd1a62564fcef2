"""Table files: each format reads back what was written; a file that is not what its
format says is one InvalidInput naming the field."""

from __future__ import annotations

import math
import re

import pyarrow as pa
import pytest

from service.errors import InvalidInput
from service.tablefiles import (
    FORMATS,
    TableFormat,
    TooManyRows,
    check_content,
    format_of,
    read_table,
    sniff,
    write_table,
)


def _table() -> pa.Table:
    return pa.table(
        {
            "row": pa.array([0, 1, 2], type=pa.int64()),
            "employment": ["full_time", "=1+1", None],
            "income": [0.1 + 0.2, 1e-300, -2.5],
        }
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reads_back_what_it_wrote(fmt: TableFormat) -> None:
    data = b"".join(write_table(_table(), fmt))
    assert sniff(data) == fmt
    back = read_table(data, fmt)
    rows = back.to_pylist()
    assert rows[0]["income"] == 0.1 + 0.2  # the same double, whatever the format
    assert rows[1]["income"] == 1e-300
    assert [r["row"] for r in rows] == [0, 1, 2]
    assert [r["employment"] for r in rows][:2] == ["full_time", "=1+1"]
    if fmt != "csv":  # CSV has no null, only an empty cell
        assert rows[2]["employment"] is None
    if fmt == "parquet":
        assert back.schema == _table().schema


def test_json_lines_has_null_for_what_json_lacks() -> None:
    table = pa.table({"x": [math.nan, math.inf, 1.5]})
    assert b"".join(write_table(table, "jsonl")) == b'{"x": null}\n{"x": null}\n{"x": 1.5}\n'


def test_extensions_name_the_format() -> None:
    assert [format_of(n) for n in ("a.CSV", "a.pq", "a.parquet", "a.ndjson", "a.jsonl")] == [
        "csv", "parquet", "parquet", "jsonl", "jsonl"
    ]  # fmt: skip
    assert format_of("a.xlsx") is None


@pytest.mark.parametrize(
    ("data", "fmt", "says"),
    [
        (b"a,b\n1,2\n", "parquet", "no Parquet magic bytes (it is text)"),
        (b"PAR1 torn PAR1", "parquet", "not a readable Parquet file"),
        (b"PAR1 x PAR1", "csv", "it is a Parquet file"),
        (b"\xff\xfe\x00", "jsonl", "not UTF-8 text"),
        (b"a,b\n", "jsonl", "does not start with a JSON object"),
    ],
)
def test_a_file_that_is_not_its_format_is_one_line(
    data: bytes, fmt: TableFormat, says: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(says)) as caught:
        check_content(data, fmt, what="the input", field="data")
    assert "\n" not in caught.value.message
    assert [d["field"] for d in caught.value.details] == ["data"]


def test_json_lines_of_mixed_types_are_refused_naming_the_column() -> None:
    with pytest.raises(InvalidInput, match="the values of 'x' are not all of one type"):
        read_table(b'{"x": 1}\n{"x": "one"}\n', "jsonl")


def test_a_parquet_file_over_the_limit_is_refused_before_it_is_read() -> None:
    data = b"".join(write_table(_table(), "parquet"))
    with pytest.raises(TooManyRows) as caught:
        read_table(data, "parquet", max_rows=2)
    assert caught.value.n == 3
