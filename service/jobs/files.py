"""Where a job's files live: ``CLARION_JOBS_DIR/<job id>/``, a folder or any fsspec URL.

    input.csv | input.parquet   the file as submitted (its SHA-256 is in the record)
    parts/part-00000.parquet    each partition's results, written by the workers
    result.parquet              all partitions in row order (its SHA-256 is in the record)

Files are written under a temporary name and moved into place, so a file that exists
is whole. The folder lives as long as the job's record: the retention purge removes
both together.
"""

from __future__ import annotations

import posixpath
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from service.jobs.partitions import part_name

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["JobFiles"]


@dataclass(frozen=True)
class JobFiles:
    """The jobs folder at ``url``; picklable, so workers get it with each task."""

    url: str

    @property
    def fs(self) -> AbstractFileSystem:
        return self._resolved()[0]

    def _resolved(self) -> tuple[AbstractFileSystem, str]:
        from fsspec.core import url_to_fs

        fs, root = url_to_fs(self.url)
        return fs, str(root)

    def folder(self, job_id: str) -> str:
        return posixpath.join(self._resolved()[1], job_id)

    def input_path(self, job_id: str, fmt: str) -> str:
        return posixpath.join(self.folder(job_id), f"input.{fmt}")

    def part_path(self, job_id: str, index: int) -> str:
        return posixpath.join(self.folder(job_id), "parts", part_name(index))

    def result_path(self, job_id: str) -> str:
        return posixpath.join(self.folder(job_id), "result.parquet")

    def write(self, path: str, data: bytes) -> None:
        """Write ``data`` whole: under a temporary name, then moved into place."""
        fs = self.fs
        fs.makedirs(posixpath.dirname(path), exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        with fs.open(tmp, "wb") as fh:
            fh.write(data)
        fs.mv(tmp, path)

    def read(self, path: str) -> bytes:
        with self.fs.open(path, "rb") as fh:
            data: bytes = fh.read()
        return data

    def open(self, path: str) -> Any:
        return self.fs.open(path, "rb")

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(path))

    def done_parts(self, job_id: str) -> set[int]:
        """Indexes of the partitions whose result file exists."""
        fs = self.fs
        folder = posixpath.join(self.folder(job_id), "parts")
        if not fs.exists(folder):
            return set()
        done = set()
        for path in fs.ls(folder, detail=False):
            name = posixpath.basename(str(path))
            if name.startswith("part-") and name.endswith(".parquet"):
                done.add(int(name[5:-8]))
        return done

    def remove(self, job_id: str) -> None:
        fs = self.fs
        folder = self.folder(job_id)
        if fs.exists(folder):
            fs.rm(folder, recursive=True)

    def remove_parts(self, job_id: str) -> None:
        fs = self.fs
        folder = posixpath.join(self.folder(job_id), "parts")
        if fs.exists(folder):
            fs.rm(folder, recursive=True)
