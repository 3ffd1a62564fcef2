"""Replay: recompute an explanation from its record and compare, bit for bit.

The request is rebuilt from the record (the same instances, decoded from the
canonical input; the method actually used, not ``auto``; the output space, target
and options, with the recorded seed) and run through the Engine without writing a
new record (a replay leaves the trail as it was; it is logged). Every number is
compared bitwise (``-0.0`` differs from ``0.0``), every text exactly; timing never.
A different model file (SHA-256), library version or background is reported as its
own kind of difference.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from service.audit._canonical import schema_version
from service.audit.crypto import Sealer
from service.audit.documents import input_matrix, recorded_spec, response_json, reveal
from service.audit.schemas import Difference, ReplayResult
from service.audit.store import AuditStore
from service.engine import Engine
from service.errors import BundleRejected, Conflict, NotFound

__all__ = ["compare", "replay"]

log = structlog.get_logger(__name__)

# Compared on their own (model, libraries, background) or not at all (ids, timing).
_SEPARATE = {"id", "record_id", "timing", "model.sha256", "provenance.versions"}
_SEPARATE |= {"provenance.background_sha256"}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return type(a) is type(b) and bool(a == b)


def _step(item: Any, index: int) -> str:
    name = item.get("feature") or item.get("code") if isinstance(item, Mapping) else None
    return f"[{name}]" if isinstance(name, str) else f"[{index}]"


def _walk(a: Any, b: Any, path: str, feature: str | None, out: list[Difference]) -> None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b)):
            here = f"{path}.{key}" if path else str(key)
            if here in _SEPARATE:
                continue
            if key not in a or key not in b:
                out.append(
                    Difference(
                        kind="structure", path=here, recorded=a.get(key), replayed=b.get(key)
                    )
                )
                continue
            _walk(a[key], b[key], here, feature, out)
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(Difference(kind="structure", path=path, recorded=len(a), replayed=len(b)))
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            named = x.get("feature") if isinstance(x, Mapping) else None
            _walk(x, y, path + _step(x, i), named if isinstance(named, str) else feature, out)
        return
    if not _same(a, b):
        out.append(Difference(kind="value", path=path, feature=feature, recorded=a, replayed=b))


def compare(recorded: Mapping[str, Any], replayed: Mapping[str, Any]) -> list[Difference]:
    """Differences between two explain responses (JSON), model and libraries first."""
    out: list[Difference] = []
    was, now = recorded.get("model") or {}, replayed.get("model") or {}
    if was.get("sha256") != now.get("sha256"):
        out.append(
            Difference(
                kind="model_changed",
                path="model.sha256",
                recorded=was.get("sha256"),
                replayed=now.get("sha256"),
            )
        )
    p_was, p_now = recorded.get("provenance") or {}, replayed.get("provenance") or {}
    v_was, v_now = p_was.get("versions") or {}, p_now.get("versions") or {}
    for library in sorted(set(v_was) | set(v_now)):
        if v_was.get(library) != v_now.get(library):
            out.append(
                Difference(
                    kind="library_version",
                    path=f"provenance.versions.{library}",
                    library=library,
                    recorded=v_was.get(library),
                    replayed=v_now.get(library),
                )
            )
    if p_was.get("background_sha256") != p_now.get("background_sha256"):
        out.append(
            Difference(
                kind="background_changed",
                path="provenance.background_sha256",
                recorded=p_was.get("background_sha256"),
                replayed=p_now.get("background_sha256"),
            )
        )
    _walk(recorded, replayed, "", None, out)
    return out


def replay(
    store: AuditStore, engine: Engine, record_id: str, sealer: Sealer | None
) -> ReplayResult:
    """Recompute the record's explanation with the model version it names and compare."""
    revealed = reveal(store.get_record(record_id), sealer)
    if revealed.status in ("sealed", "omitted"):
        why = (
            "its sensitive values were left out by policy"
            if revealed.status == "omitted"
            else f"its sensitive values cannot be decrypted ({revealed.problem})"
        )
        raise Conflict(f"record {record_id} cannot be replayed: {why}")
    document = revealed.document
    recorded_model = document["model"]
    name, version = recorded_model["name"], recorded_model["version"]
    try:
        # The recorded version, even if it is no longer the default or no longer served.
        model = engine.registry.recorded(name, version, recorded_model["sha256"])
    except (NotFound, BundleRejected) as exc:
        raise Conflict(
            f"record {record_id} cannot be replayed: version {version!r} of model {name!r} is "
            f"not served and not archived ({exc.message})"
        ) from exc
    card = model.bundle.card
    if list(card.feature_names) != document["input"]["features"]:
        raise Conflict(
            f"record {record_id} cannot be replayed: the served {name!r} has other features "
            f"({list(card.feature_names)}) than the recorded one ({document['input']['features']})"
        )
    recorded = document["response"]
    provenance = recorded.get("provenance") or {}
    request = dict(document["request"])
    request.update(
        method=recorded["method"],
        output=recorded["output"],
        options={**(request.get("options") or {}), "seed": provenance.get("seed")},
    )
    replayed = engine.replay_rows(model, input_matrix(document), recorded_spec(request))
    differences = compare(recorded, response_json(replayed, schema_version(document)))
    values_identical = not any(d.kind in ("value", "structure") for d in differences)
    log.info("audit.replayed", record=record_id, differences=len(differences))
    return ReplayResult(
        record_id=record_id,
        identical=not differences,
        values_identical=values_identical,
        model_changed=any(d.kind == "model_changed" for d in differences),
        versions_changed=any(d.kind == "library_version" for d in differences),
        differences=differences,
        replayed_at=datetime.now(UTC),
    )
