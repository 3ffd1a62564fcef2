"""Model versions on disk: where each version's bundle lives, which version is the
newest, which one a request without a version gets, and where a deleted version is kept
while records need it for replay.

The models directory (``CLARION_MODELS_DIR``)::

    <name>/                     the version its card names: a single-version bundle, as ever
        model.onnx  card.yaml  background.csv
        versions/<version>/     each further version (uploaded for an existing name)
        default.json            {"version": "..."}: the default an admin chose

Without ``default.json`` the default is the newest version, in natural order (``1.10``
comes after ``1.9``, ``2.0`` after ``1.10``). A deleted version stops being served; while
audit records or jobs name it, its files move to
``<data_dir>/archive/models/<name>/<model sha256>/`` (named by the model file's SHA-256,
which records carry), where replay finds them; otherwise they are removed.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from service.errors import InvalidInput
from service.models.bundle import BACKGROUND_FILE, CARD_FILES, MODEL_FILE

__all__ = [
    "DEFAULT_FILE",
    "VERSIONS_DIR",
    "VERSION_PATTERN",
    "archive_folder",
    "bundle_files",
    "check_version",
    "read_default",
    "remove_bundle",
    "version_folders",
    "version_key",
    "write_default",
]

# A version names a folder (``versions/<version>/``) and travels in URL paths.
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
VERSIONS_DIR = "versions"
DEFAULT_FILE = "default.json"
_VERSION = re.compile(VERSION_PATTERN)
_RUN = re.compile(r"\d+|\D+")


def check_version(version: str, field: str = "version") -> str:
    """``version`` if it is well formed; 422 naming ``field`` otherwise."""
    if not _VERSION.fullmatch(version) or ".." in version:
        raise InvalidInput(
            f"{field} must be 1 to 64 letters, digits, '.', '_', '+' or '-', starting with a "
            f"letter or digit; got {version!r}",
            details={"field": field, "problem": "malformed version"},
        )
    return version


@functools.lru_cache(maxsize=4096)  # the registry orders a model's versions on every get
def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order of versions: runs of digits compare as numbers (``1.10`` > ``1.9``)."""
    return tuple((0, int(run)) if run.isdigit() else (1, run) for run in _RUN.findall(version))


def version_folders(folder: Path) -> list[Path]:
    """The bundle folders of one model: its own (if it holds a model) and each version's."""
    found = [folder] if (folder / MODEL_FILE).is_file() else []
    extra = folder / VERSIONS_DIR
    if extra.is_dir():
        found += sorted(p for p in extra.iterdir() if p.is_dir() and not p.name.startswith("."))
    return found


def bundle_files(folder: Path) -> list[Path]:
    """The files of the bundle in ``folder`` (not the other versions, not the default)."""
    names = (MODEL_FILE, *CARD_FILES, BACKGROUND_FILE)
    return [folder / n for n in names if (folder / n).is_file()]


def read_default(folder: Path) -> str | None:
    """The version an admin chose as the model's default, or None (the newest)."""
    path = folder / DEFAULT_FILE
    if not path.is_file():
        return None
    try:
        version = json.loads(path.read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return version if isinstance(version, str) else None


def write_default(folder: Path, version: str | None) -> None:
    """Keep the chosen default (None: forget it, the newest is the default), atomically."""
    path = folder / DEFAULT_FILE
    if version is None:
        path.unlink(missing_ok=True)
        return
    fd, tmp = tempfile.mkstemp(prefix=".default-", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"version": version}, out)
    os.replace(tmp, path)


def archive_folder(data_dir: Path, name: str, model_sha256: str) -> Path:
    """Where a deleted version of ``name`` with this model file is kept for replay."""
    return data_dir / "archive" / "models" / name / model_sha256


def remove_bundle(folder: Path, root: Path, *, keep_in: Path | None) -> None:
    """Take the bundle in ``folder`` (the model's own folder ``root``, or one of its
    ``versions/``) off the models directory: moved to ``keep_in``, or deleted when None.
    A model folder left without any version is removed with its default."""
    if keep_in is not None:
        keep_in.mkdir(parents=True, exist_ok=True)
    for path in bundle_files(folder):
        if keep_in is not None:
            shutil.move(path, keep_in / path.name)
        else:
            path.unlink()
    if folder != root:
        shutil.rmtree(folder, ignore_errors=True)
    if not version_folders(root):
        shutil.rmtree(root, ignore_errors=True)
