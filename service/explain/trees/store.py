"""Path tables on disk: built once per model, background and player grouping, shared by
every worker process and every restart.

``clarion serve --workers N`` loads each model in N processes; without this each would
rebuild the same tables at start-up. A ``TableStore`` keeps them as ``.npz`` files (no
pickle) under the service's data folder, named by the SHA-256 of the model file, the
background, the grouping and the table format, so a changed model, background or
format never reads stale tables. Files are written to a temporary name and renamed, so
a reader sees a whole file or none; a file that cannot be read is rebuilt.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from service.explain.trees.interventional import PathTables
from service.explain.trees.paths import Paths

__all__ = ["TableStore"]

log = structlog.get_logger(__name__)


@functools.cache
def _format() -> str:
    """The tables' layout and the code that builds them: their fields, and the source of
    the modules that compute them, so a change of either is a new file name and tables
    built by other code are never read."""
    from service.explain.trees import _kernels, interventional, paths

    digest = hashlib.sha256()
    names = [f.name for f in dataclasses.fields(PathTables)]
    names += [f"paths.{f.name}" for f in dataclasses.fields(Paths)]
    digest.update(",".join(names).encode())
    for module in (interventional, paths, _kernels):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:16]


class TableStore:
    """Tables of one model (``fingerprint``: its file's SHA-256) in ``folder``."""

    def __init__(self, folder: Path, fingerprint: str) -> None:
        self.folder = folder
        self.fingerprint = fingerprint

    def _path(self, background_digest: str, players: tuple[tuple[int, ...], ...]) -> Path:
        key = f"{self.fingerprint}|{background_digest}|{players!r}|{_format()}"
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()}.npz"

    def load(
        self, background_digest: str, players: tuple[tuple[int, ...], ...]
    ) -> PathTables | None:
        path = self._path(background_digest, players)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            return _tables(arrays)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("trees.table_file_unreadable", path=str(path), error=type(exc).__name__)
            return None

    def save(
        self,
        background_digest: str,
        players: tuple[tuple[int, ...], ...],
        tables: PathTables,
    ) -> None:
        path = self._path(background_digest, players)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                np.savez(out, **_arrays(tables))
            os.replace(tmp, path)
        except OSError as exc:  # a cache that cannot be written only costs time
            log.warning("trees.table_file_unwritable", path=str(path), error=exc.strerror)


def _arrays(tables: PathTables) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(PathTables):
        value = getattr(tables, f.name)
        if isinstance(value, Paths):
            for g in dataclasses.fields(Paths):
                out[f"paths.{g.name}"] = np.asarray(getattr(value, g.name))
        else:
            out[f.name] = np.asarray(value)
    return out


def _tables(arrays: dict[str, np.ndarray]) -> PathTables:
    def value(name: str, kind: Any) -> Any:
        array = arrays[name]
        return int(array) if kind in (int, "int") else array

    paths = Paths(**{g.name: value(f"paths.{g.name}", g.type) for g in dataclasses.fields(Paths)})
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(PathTables):
        fields[f.name] = paths if f.name == "paths" else value(f.name, f.type)
    return PathTables(**fields)
