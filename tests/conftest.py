"""Shared fixtures: tiny real bundles, settings built explicitly, an in-process client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.settings import Settings
from tests.support import credit_bundle, grouped_bundle, make_settings, regression_bundle


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    credit_bundle(root)
    grouped_bundle(root)
    regression_bundle(root)
    return root


@pytest.fixture(autouse=True)
def _no_clarion_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's CLARION_* variables."""
    for key in [k for k in os.environ if k.startswith("CLARION_")]:
        monkeypatch.delenv(key)


@pytest.fixture(autouse=True)
def _data_dir_outside_the_checkout(
    _no_clarion_environment: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Settings read from the environment (the CLI) keep their files (the audit encryption
    key made on first start) in a temporary folder, never the repository's data/."""
    monkeypatch.setenv("CLARION_DATA_DIR", str(tmp_path_factory.mktemp("clarion-data")))


@pytest.fixture
def settings(tiny_models_dir: Path, tmp_path: Path) -> Settings:
    return make_settings(tiny_models_dir, database_url=f"sqlite:///{tmp_path / 'audit.db'}")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c
