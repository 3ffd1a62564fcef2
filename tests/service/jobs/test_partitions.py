"""Partitions cover every row once, in order."""

from __future__ import annotations

import pytest

from service.jobs.partitions import Partition, part_name, split


@pytest.mark.parametrize(("n_rows", "size"), [(0, 5), (1, 5), (10, 5), (11, 5), (7, 1)])
def test_partitions_cover_every_row_once_in_order(n_rows: int, size: int) -> None:
    parts = split(n_rows, size)
    rows = [r for p in parts for r in range(p.start, p.stop)]
    assert rows == list(range(n_rows))
    assert [p.index for p in parts] == list(range(len(parts)))
    assert all(0 < p.n_rows <= size for p in parts)


def test_partition_files_sort_in_partition_order() -> None:
    assert split(3, 2) == [Partition(0, 0, 2), Partition(1, 2, 3)]
    names = [part_name(i) for i in (2, 10, 100)]
    assert (
        names
        == sorted(names)
        == [
            "part-00002.parquet",
            "part-00010.parquet",
            "part-00100.parquet",
        ]
    )
    with pytest.raises(ValueError, match="rows_per_partition"):
        split(3, 0)
