"""Golden files: compare exactly; regenerate only with CLARION_UPDATE_GOLDEN=1.

The variable is read when this module is imported (collection time), before the
test suite's fixture that clears CLARION_* variables runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["GOLDEN", "assert_golden"]

GOLDEN = Path(__file__).resolve().parent
_UPDATE = os.environ.get("CLARION_UPDATE_GOLDEN") == "1"


def assert_golden(relative: str, actual: str) -> None:
    """``actual`` must equal the stored file byte for byte (or rewrite it when updating)."""
    path = GOLDEN / relative
    if _UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="\n")
        return
    if not path.exists():
        pytest.fail(
            f"missing golden file {relative}; run with CLARION_UPDATE_GOLDEN=1 to create it"
        )
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, (
        f"{relative} differs; if intended, regenerate with CLARION_UPDATE_GOLDEN=1"
    )
