"""Heavy dependencies stay behind one door each, and importing does no work."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import service

ROOT = Path(__file__).resolve().parent.parent


def _importers(pattern: str, folder: str) -> set[str]:
    rx = re.compile(rf"^\s*(import {pattern}|from {pattern}[ .])", re.MULTILINE)
    return {
        str(p.relative_to(ROOT))
        for p in (ROOT / folder).rglob("*.py")
        if rx.search(p.read_text(encoding="utf-8"))
    }


def test_public_surface_is_pinned() -> None:
    assert service.__all__ == sorted(service.__all__)
    assert service.__all__ == ["ClarionError", "Explanation", "ModelCard", "Settings", "create_app"]


def test_only_the_runtime_imports_onnxruntime() -> None:
    assert _importers("onnxruntime", "service") == {"service/models/runtime.py"}
    assert _importers("onnxruntime", "widgets") == set()


def test_only_explainers_import_shap_and_lime() -> None:
    for lib in ("shap", "lime"):
        importers = _importers(lib, "service")
        assert all(p.startswith("service/explain/explainers/") for p in importers), importers
        assert _importers(lib, "widgets") == set()


def test_importing_the_service_pulls_in_nothing_heavy() -> None:
    code = (
        "import sys, service, service.api.app, service.engine, service.cli\n"
        "service.create_app\n"
        "heavy = {'shap', 'lime', 'matplotlib', 'streamlit', 'onnxruntime', 'sklearn', 'numba',\n"
        "         'dask', 'distributed', 'pyarrow'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


PUBLIC_PACKAGES = [
    "service",
    "service.audit",
    "service.explain.explainers",
    "service.people.narratives",
    "service.explain.trees",
    "service.jobs",
    "widgets",
]


def test_every_public_package_declares_what_it_exports() -> None:
    """``__all__`` exists, has no repeats, and every name in it resolves (ruff's RUF022
    keeps it sorted)."""
    import importlib

    for name in PUBLIC_PACKAGES:
        module = importlib.import_module(name)
        exported = list(module.__all__)
        assert len(exported) == len(set(exported)), name
        missing = [n for n in exported if not hasattr(module, n)]
        assert not missing, f"{name} exports undefined names {missing}"


def _imported_packages(folder: str) -> dict[str, set[str]]:
    """Top-level packages each module under ``folder`` imports (any import statement,
    at module level, inside functions or under TYPE_CHECKING)."""
    import ast

    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_widgets_and_service_import_nothing_from_each_other() -> None:
    """The workspace is a client of the API like any product app; the API's end-user HTML
    is the service's own (service/html)."""
    from_widgets = {p for p, names in _imported_packages("widgets").items() if "service" in names}
    from_service = {p for p, names in _imported_packages("service").items() if "widgets" in names}
    assert from_widgets == set(), from_widgets
    assert from_service == set(), from_service
