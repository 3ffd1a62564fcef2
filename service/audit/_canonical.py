"""Canonical JSON and hashes: the one way the audit trail turns a document into bytes.

Every hash in the audit trail (input, record, export manifest) is the SHA-256 of
``canonical_json``: keys sorted, no whitespace, UTF-8. JSON has no NaN or infinity,
so non-finite floats are written as the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"`` (``jsonable`` does it), both when a record is stored and when a
replay is compared with it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["canonical_document", "canonical_json", "jsonable", "sha256_hex", "sha256_json"]

_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def jsonable(value: Any) -> Any:
    """A deep copy of ``value`` with tuples as lists and non-finite floats as strings."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # the common leaves, fast
        return value
    if kind is float:
        return value if math.isfinite(value) else _non_finite(value)
    if kind is dict:
        return {k if type(k) is str else str(k): jsonable(v) for k, v in value.items()}
    if kind is list:
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else _non_finite(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _non_finite(value: float) -> str:
    return "NaN" if math.isnan(value) else _NON_FINITE[value]


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace; raises ValueError on NaN (call ``jsonable`` first)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def canonical_document(value: Any) -> tuple[Any, str]:
    """``value`` made JSON (``jsonable``) if it must be, and its canonical JSON.

    Most documents need no copy (the recorder builds them of JSON types): the canonical
    text is tried on ``value`` as it is, and only a non-finite float or a non-string key
    sends it through ``jsonable`` first."""
    try:
        return value, canonical_json(value)
    except (ValueError, TypeError):
        value = jsonable(value)
        return value, canonical_json(value)


def sha256_hex(data: bytes | str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def sha256_json(value: Any) -> str:
    """SHA-256 of the canonical JSON of ``jsonable(value)``.

    Tried first on ``value`` as it is: most documents are already jsonable (the
    recorder builds them so), which spares a deep copy; only a non-finite float (which
    JSON cannot hold) or a tuple-keyed oddity sends it through ``jsonable``."""
    return sha256_hex(canonical_document(value)[1])
