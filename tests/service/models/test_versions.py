"""Model versions on disk: natural order, well-formed names, the layout the registry reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from service.errors import InvalidInput
from service.models.registry import ModelRegistry
from service.models.versions import check_version, read_default, version_key, write_default
from tests.support import credit_bundle, make_settings


def test_versions_sort_naturally() -> None:
    versions = ["1.10", "1.9", "2.0", "1.0", "10", "1.0.1"]
    assert sorted(versions, key=version_key) == ["1.0", "1.0.1", "1.9", "1.10", "2.0", "10"]


@pytest.mark.parametrize("version", ["", "../x", "a/b", "-1", "1 0", ".hidden", "x" * 65, "1..2"])
def test_malformed_versions_are_refused(version: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_version(version)
    assert caught.value.details[0]["field"] == "version"


def test_the_default_file_round_trips(tmp_path: Path) -> None:
    assert read_default(tmp_path) is None
    write_default(tmp_path, "2.0")
    assert read_default(tmp_path) == "2.0"
    write_default(tmp_path, None)
    assert read_default(tmp_path) is None
    (tmp_path / "default.json").write_text("not json")
    assert read_default(tmp_path) is None


def test_a_version_folder_must_hold_its_version(tmp_path: Path) -> None:
    root = tmp_path / "models"
    folder = credit_bundle(root)
    source = credit_bundle(tmp_path / "source")
    for version, card_version in (("2.0", "2.0"), ("3.0", "9.0")):
        extra = folder / "versions" / version
        shutil.copytree(source, extra)
        card = yaml.safe_load((extra / "card.yaml").read_text())
        card["version"] = card_version
        (extra / "card.yaml").write_text(yaml.safe_dump(card))
    registry = ModelRegistry(make_settings(root))
    registry.load_all()
    assert [m.version for m in registry.versions("tiny_credit")] == ["2.0", "1.0"]
    assert registry.get("tiny_credit").version == "2.0"
    assert "9.0" in registry.refused["tiny_credit/versions/3.0"]
