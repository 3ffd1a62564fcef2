"""Partitions: a job's rows split into contiguous ranges, the unit of work and of resume.

A partition is explained by one worker in one task and written as one Parquet file
(``part-00007.parquet``); its file existing means it is done, so a killed worker costs
a retry of its partitions only, and a restarted service submits only the missing ones.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Partition", "part_name", "split"]


@dataclass(frozen=True)
class Partition:
    """Rows ``start`` (inclusive) to ``stop`` (exclusive) of the input, 0-based."""

    index: int
    start: int
    stop: int

    @property
    def n_rows(self) -> int:
        return self.stop - self.start


def split(n_rows: int, rows_per_partition: int) -> list[Partition]:
    """``n_rows`` in order, in partitions of ``rows_per_partition`` (the last may be short)."""
    if n_rows < 0 or rows_per_partition < 1:
        raise ValueError("n_rows must be >= 0 and rows_per_partition >= 1")
    return [
        Partition(i, start, min(n_rows, start + rows_per_partition))
        for i, start in enumerate(range(0, n_rows, rows_per_partition))
    ]


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"
