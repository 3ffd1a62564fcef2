"""A job's result table: one row per input row, in input order, and its three formats.

Columns, in order:

    row                      0-based index of the input row
    reference                carried through from the input, if it had one
    label, probability.<c>   a classifier's prediction (one column per class, card order)
    value                    a regressor's prediction
    target                   the output the row is explained toward
    output_value, base_value the explained output and the background's mean, in ``output``
    attribution.<player>     one per player, in card order
    quality.<name>           the method's quality figures (``additivity_residual``, ...)
    error                    why the row could not be explained (then the rest is null)

The numbers are the ones a one-row explain request of the same row returns, bit for bit:
Parquet and JSON Lines keep every double exactly, and so does the CSV writer (shortest
round-trip form). Parquet is the stored form; CSV and JSON Lines are made from it
(``service.tablefiles`` writes all three, as it does for ``clarion explain``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from service.jobs.spec import Plan, ResultFormat
from service.models.card import ModelCard
from service.tablefiles import MEDIA_TYPES, parquet_bytes, write_table

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "MEDIA_TYPES",
    "RowNumbers",
    "assemble",
    "parquet_bytes",
    "partition_table",
    "read_table",
    "result_formats",
]


class RowNumbers:
    """The explained rows of a partition, gathered toward each row's target.

    ``probabilities`` (n, n_model_outputs); ``attributions`` (n, n_players); ``targets``
    (n,) output names; ``output_value``, ``base_value`` (n,); ``quality`` name -> (n,).
    """

    def __init__(
        self,
        probabilities: NDArray[np.float64],
        targets: Sequence[str],
        output_value: NDArray[np.float64],
        base_value: NDArray[np.float64],
        attributions: NDArray[np.float64],
        quality: Mapping[str, NDArray[np.float64]],
    ) -> None:
        self.probabilities = probabilities
        self.targets = list(targets)
        self.output_value = output_value
        self.base_value = base_value
        self.attributions = attributions
        self.quality = dict(quality)


def _column(values: NDArray[np.float64], ok: NDArray[np.intp], n: int) -> pa.Array:
    import pyarrow as pa

    full = np.zeros(n, dtype=np.float64)
    full[ok] = values
    mask = np.ones(n, dtype=bool)
    mask[ok] = False
    return pa.array(full, type=pa.float64(), mask=mask)


def _texts(values: Sequence[str], ok: NDArray[np.intp], n: int) -> pa.Array:
    import pyarrow as pa

    full: list[str | None] = [None] * n
    for i, v in zip(ok.tolist(), values, strict=True):
        full[i] = v
    return pa.array(full, type=pa.string())


def partition_table(
    card: ModelCard,
    plan: Plan,
    *,
    start: int,
    n_rows: int,
    reference: Sequence[str | None] | None,
    ok: NDArray[np.intp],
    numbers: RowNumbers,
    errors: Mapping[int, str],
) -> pa.Table:
    """The result rows of one partition: rows ``start .. start + n_rows``; ``ok`` the
    partition-relative indexes explained (``numbers`` in that order), ``errors`` why the
    others were not."""
    import pyarrow as pa

    columns: dict[str, pa.Array] = {
        "row": pa.array(np.arange(start, start + n_rows, dtype=np.int64)),
    }
    if reference is not None:
        columns["reference"] = pa.array(list(reference), type=pa.string())
    y = numbers.probabilities
    if card.task == "regression":
        columns["value"] = _column(y[:, 0], ok, n_rows)
    else:
        classes = list(card.classes or ())
        labels = [classes[int(k)] for k in np.argmax(y, axis=1)] if len(ok) else []
        columns["label"] = _texts(labels, ok, n_rows)
        for c, name in enumerate(classes):
            columns[f"probability.{name}"] = _column(y[:, c], ok, n_rows)
    columns["target"] = _texts(numbers.targets, ok, n_rows)
    columns["output_value"] = _column(numbers.output_value, ok, n_rows)
    columns["base_value"] = _column(numbers.base_value, ok, n_rows)
    for j, player in enumerate(card.players):
        columns[f"attribution.{player.name}"] = _column(numbers.attributions[:, j], ok, n_rows)
    for name in plan.quality:
        columns[f"quality.{name}"] = _column(numbers.quality[name], ok, n_rows)
    columns["error"] = pa.array([errors.get(i) for i in range(n_rows)], type=pa.string())
    return pa.table(columns)


def assemble(parts: Sequence[bytes]) -> tuple[bytes, int, int]:
    """The partitions' Parquet files, in order, as one Parquet file.

    Returns (bytes, rows, rows with an error)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(pa.BufferReader(p)) for p in parts]
    table = pa.concat_tables(tables)
    failed = int(table.num_rows - table.column("error").null_count)
    return parquet_bytes(table), int(table.num_rows), failed


def read_table(data: bytes) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.read_table(pa.BufferReader(data))


def result_formats(data: bytes, fmt: ResultFormat) -> Iterator[bytes]:
    """The stored Parquet result as ``fmt``, a chunk at a time."""
    if fmt == "parquet":
        for start in range(0, len(data), 1 << 20):
            yield data[start : start + (1 << 20)]
        return
    yield from write_table(read_table(data), fmt)
