"""Path tables on disk: a second process (here: a second load) reads what the first built."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.explain.trees.store import TableStore
from service.models.registry import ModelRegistry
from tests.support import make_settings

ROOT = Path(__file__).resolve().parents[4]


def _load(data_dir: Path) -> ModelRegistry:
    settings = make_settings(ROOT / "models", data_dir=data_dir)
    registry = ModelRegistry(settings)
    registry.load_one("german_credit")
    return registry


def test_tables_built_once_are_read_by_the_next_load(tmp_path: Path) -> None:
    first = _load(tmp_path)
    files = list((tmp_path / "cache" / "trees").glob("*.npz"))
    assert len(files) == 1
    modified = files[0].stat().st_mtime_ns
    second = _load(tmp_path)
    assert files[0].stat().st_mtime_ns == modified  # read, not written again
    X = first.get("german_credit").bundle.background[:5]
    a = first.get("german_credit").trees
    b = second.get("german_credit").trees
    players = tuple(p.columns for p in first.get("german_credit").bundle.card.players)
    background = first.get("german_credit").bundle.background
    va, _, _, _ = a.interventional(X, background, players)  # type: ignore[union-attr]
    vb, _, _, cached = b.interventional(X, background, players)  # type: ignore[union-attr]
    assert cached
    np.testing.assert_array_equal(va, vb)  # bit for bit


def test_a_damaged_file_is_rebuilt(tmp_path: Path) -> None:
    _load(tmp_path)
    (file,) = (tmp_path / "cache" / "trees").glob("*.npz")
    file.write_bytes(b"not an npz")
    registry = _load(tmp_path)
    assert registry.get("german_credit").trees is not None
    assert np.load(file, allow_pickle=False).files  # written again, readable


def test_another_model_fingerprint_never_reads_the_file(tmp_path: Path) -> None:
    _load(tmp_path)
    store = TableStore(tmp_path / "cache" / "trees", "0" * 64)
    assert store.load("any background", ((0,),)) is None
