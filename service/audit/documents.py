"""The record document: what is stored about one explanation, how it is redacted, and
how a reader gets it back.

A document holds the request, the canonical input (card order, with its hash over
the decoded values), the full response, the runtime and where any wording came
from. Values of features the card marks ``sensitive`` are *redacted* from it:
their input cells and attribution values, plus every part of the response that
may quote inputs (counterfactuals, notices, narratives, rendered HTML: any field not
known to be free of them). Redacted values are replaced by ``null`` and listed by
path; the recorder seals them (``crypto``) or drops them, by policy. ``reveal`` puts
sealed values back for a reader holding the key.
"""

from __future__ import annotations

import copy
import math
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson
from numpy.typing import NDArray

from service.audit._canonical import canonical_bytes, jsonable, sha256_hex
from service.audit.crypto import Sealer, SealError
from service.audit.tables import ExplanationRecord
from service.models.card import ModelCard, derived
from service.models.instances import decode_row
from service.results import ExplainResult, ExplainSpec
from service.wire import mapping

__all__ = [
    "SCHEMA_VERSION",
    "Built",
    "Revealed",
    "build_document",
    "decision_columns",
    "input_matrix",
    "recorded_spec",
    "response_json",
    "result_document",
    "reveal",
]

SCHEMA_VERSION = 2
"""2: hashed in canonical form 2 (``_canonical``: orjson, non-finite floats as null);
1: form 1 (Python's json, non-finite floats as strings). Both are read and verified."""
Path = tuple[str | int, ...]
Status = Literal["clear", "opened", "sealed", "omitted"]

# Response fields that never quote an input value (attribution values are handled per player).
_CLEAR_RESPONSE = {"id", "record_id", "model", "method", "output", "provenance", "explanations"}
_CLEAR_RESPONSE |= {"timing"}
_CLEAR_INSTANCE = {"prediction", "target", "output_value", "base_value", "attributions"}
_CLEAR_INSTANCE |= {"quality", "reasons", "screening", "review", "confidence"}
_WIDGET_KEYS = ("html", "widget", "widget_html")


@dataclass(frozen=True)
class Built:
    """A redacted document, the values taken out of it, and one row of columns per decision."""

    document: dict[str, Any]
    secrets: list[list[Any]]
    decisions: list[dict[str, Any]]


def _rows_json(X: NDArray[np.float64]) -> list[list[float | None]]:
    return [[None if math.isnan(v) else float(v) for v in row] for row in X.tolist()]


def input_matrix(document: Mapping[str, Any]) -> NDArray[np.float64]:
    """The canonical input (n_samples, n_features) of a revealed document; null -> NaN."""
    rows = document["input"]["rows"]
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64)


def _get(doc: Any, path: Path) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _set(doc: Any, path: Path, value: Any) -> None:
    _get(doc, path[:-1])[path[-1]] = value


def _redact(document: dict[str, Any], paths: Sequence[Path], own: set[int]) -> None:
    """Set each path of ``document`` to null, copying on the way every container (dict or
    list) not in ``own`` (ids of the document's own containers), once: the response and
    rows it refers to stay as the caller was given them."""
    for path in paths:
        parent: Any = document
        for step in path[:-1]:
            child = parent[step]
            if id(child) not in own:
                child = child.copy()
                own.add(id(child))
                parent[step] = child
            parent = child
        parent[path[-1]] = None


def _sensitive(card: ModelCard) -> tuple[list[int], set[str]]:
    """The card's sensitive columns, and the players holding any of them (once per card)."""
    columns = [j for j, f in enumerate(card.features) if f.sensitive]
    players = {p.name for p in card.players if any(card.features[c].sensitive for c in p.columns)}
    return columns, players


def _sensitive_paths(card: ModelCard, response: Mapping[str, Any], n_rows: int) -> list[Path]:
    columns, players = derived(card, "audit_sensitive", lambda: _sensitive(card))
    if not columns:
        return []
    paths: list[Path] = []
    for i in range(n_rows):
        paths += [("input", "rows", i, j) for j in columns]
        paths += [("input", "values", i, card.features[j].name) for j in columns]
    for i, instance in enumerate(response.get("explanations") or []):
        for k, attribution in enumerate(instance.get("attributions") or []):
            if attribution.get("feature") in players:
                paths.append(("response", "explanations", i, "attributions", k, "value"))
        paths += [
            ("response", "explanations", i, key)
            for key, value in instance.items()
            if key not in _CLEAR_INSTANCE and value is not None
        ]
    paths += [
        ("response", key)
        for key, value in response.items()
        if key not in _CLEAR_RESPONSE and value is not None
    ]
    return paths


def _texts(response: Mapping[str, Any]) -> dict[str, Any]:
    """Template version and locale of the first notice-like part of a response: an
    instance's ``notice`` where the v1 response has it, else the first found anywhere."""
    for instance in response.get("explanations") or ():
        notice = instance.get("notice") if isinstance(instance, Mapping) else None
        if isinstance(notice, Mapping) and "template_version" in notice:
            return {"template_version": notice["template_version"], "locale": notice.get("locale")}
    return _find_texts(response)


def _find_texts(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        if "template_version" in value:
            return {"template_version": value["template_version"], "locale": value.get("locale")}
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = _find_texts(item)
            if found:
                return found
    return {}


def _widgets(response: Mapping[str, Any]) -> dict[str, str]:
    """SHA-256 of every rendered widget (HTML) the response carries, by path."""
    found: dict[str, str] = {}
    places: list[tuple[str, Mapping[str, Any]]] = [("response", response)]
    places += [
        (f"response/explanations/{i}", x) for i, x in enumerate(response.get("explanations") or [])
    ]
    for prefix, place in places:
        for key in _WIDGET_KEYS:
            html = place.get(key)
            if isinstance(html, str):
                found[f"{prefix}/{key}"] = sha256_hex(html)
    return found


def _probabilities(instance: Mapping[str, Any]) -> list[float]:
    probs = (instance.get("prediction") or {}).get("probabilities") or {}
    return sorted((float(p) for p in probs.values() if isinstance(p, int | float)), reverse=True)


def decision_columns(
    card: ModelCard, instance: Mapping[str, Any], clear_values: Mapping[str, Any]
) -> dict[str, Any]:
    """The filterable columns of one explained instance (read defensively from the response)."""
    prediction = instance.get("prediction") or {}
    probs = _probabilities(instance)
    if card.task == "classification" and probs:
        positive = card.positive_class
        by_class = prediction.get("probabilities") or {}
        score = by_class.get(positive) if positive is not None else None
        score = float(score) if isinstance(score, int | float) else probs[0]
        confidence: float | None = probs[0]
        margin: float | None = probs[0] - (probs[1] if len(probs) > 1 else 0.0)
    else:
        value = prediction.get("value")
        score = float(value) if isinstance(value, int | float) else None
        confidence = margin = None
    review = instance.get("review") or {}
    why = [w for w in review.get("why") or [] if isinstance(w, str)]
    screening = instance.get("screening") or {}
    reasons = instance.get("reasons") or []
    proxy = bool(screening.get("flagged")) or any(
        "proxy" in (r.get("flags") or []) for r in reasons if isinstance(r, Mapping)
    )
    bucket = instance.get("confidence")
    if isinstance(bucket, Mapping):
        bucket = bucket.get("bucket")
    return {
        "outcome": prediction.get("label"),
        "score": score,
        "confidence": confidence,
        "margin": margin,
        "confidence_bucket": bucket if isinstance(bucket, str) else None,
        "quality_failed": any(w != "low_confidence" for w in why),
        "proxy_flag": proxy,
        "review_required": bool(review.get("required")),
        "features": dict(clear_values),
    }


def response_json(result: ExplainResult, schema_version: int = SCHEMA_VERSION) -> dict[str, Any]:
    """The response of a result as a record of ``schema_version`` stores it: the caller's
    JSON, its non-finite floats as strings (1) or as null (2 on)."""
    if schema_version >= 2:
        stored: dict[str, Any] = orjson.loads(canonical_bytes(mapping.explain_json(result)))
        return stored
    return dict(jsonable(mapping.explain_json(result)))


def recorded_spec(request: Mapping[str, Any]) -> ExplainSpec:
    """What a record's stored request asked for (validated when it was recorded)."""
    return ExplainSpec(**{k: v for k, v in request.items() if k != "instances"})


def result_document(
    *, header: Mapping[str, Any], result: ExplainResult, policy: Literal["encrypt", "omit"]
) -> Built:
    """The redacted document of an engine result: the response stored as the caller gets
    it (``service.wire.mapping``), the rows' values as decoded once by the engine, and a
    page rendered for ``format: html`` kept as the SHA-256 of its bytes."""
    return build_document(
        header=header,
        card=result.card,
        model_sha256=result.model.sha256,
        request=mapping.request_fields(result.spec),
        X=result.X,
        values=[dict(e.given) for e in result.instances],
        response=mapping.explain_json(result),  # copied once, by build_document
        policy=policy,
        widgets={"page": sha256_hex(result.page)} if result.page is not None else None,
        page=result.page,
    )


def build_document(
    *,
    header: Mapping[str, Any],
    card: ModelCard,
    model_sha256: str,
    request: Mapping[str, Any],
    X: NDArray[np.float64],
    response: Mapping[str, Any],
    policy: Literal["encrypt", "omit"],
    widgets: Mapping[str, str] | None = None,
    values: Sequence[Mapping[str, Any]] | None = None,
    page: str | None = None,
) -> Built:
    """The redacted document of one explanation; ``header`` has id, created_at, origin;
    ``widgets``: SHA-256 of HTML rendered for the caller outside the response, by name;
    ``values``: the rows as people give them (decoded from X when not given); ``page``:
    the HTML page the caller was sent (``format: html``), kept whole under ``shown``
    (redacted like the notices when the card has sensitive features)."""
    if values is None:
        values = [decode_row(card, x) for x in X]
    # ``response`` is shared with the caller's answer (``mapping.explain_json``) and is
    # never written to: redaction below copies what lies on a redacted path, nothing else.
    # Tuples and non-finite floats, which JSON cannot hold as they are, are written as
    # arrays and null by canonical form 2 and by the store (``_canonical``).
    provenance = response.get("provenance") or {}
    values_json = canonical_bytes(values)
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        **jsonable(header),
        "model": {
            "name": card.name,
            "version": card.version,
            "sha256": model_sha256,
            "task": card.task,
            "domain": card.domain,
        },
        "runtime": {
            "onnxruntime": (provenance.get("versions") or {}).get("onnxruntime"),
            "provider": provenance.get("provider"),
            "python": platform.python_version(),
        },
        "request": jsonable({k: v for k, v in request.items() if k != "instances"}),
        "input": {
            "features": list(card.feature_names),
            "rows": _rows_json(X),
            "values": orjson.loads(values_json),  # a copy, as stored and as hashed
            "sha256": sha256_hex(values_json),
        },
        "response": response,
        "texts": _texts(response),
        "widgets": {**_widgets(response), **(widgets or {})},
    }
    paths = _sensitive_paths(card, response, X.shape[0])
    if page is not None:
        document["shown"] = {"page": page}
        if any(f.sensitive for f in card.features):
            paths.append(("shown", "page"))
    # No redacted path lies inside another, so each taken value is detached once its place
    # is set to null (in a copy of every container on its path that is not the document's).
    secrets = [[list(p), _get(document, p)] for p in paths]
    given = document["input"]
    own = {id(document), id(given), id(given["rows"]), id(given["values"])}
    own |= {id(x) for x in (*given["rows"], *given["values"], document.get("shown"))}
    _redact(document, paths, own)
    document["sensitive"] = {
        "policy": policy if paths else None,
        "features": [f.name for f in card.features if f.sensitive],
        "redacted": ["/".join(map(str, p)) for p in paths],
    }
    hidden = set(document["sensitive"]["features"])
    instances: Sequence[Mapping[str, Any]] = response.get("explanations") or []
    decisions = [
        decision_columns(
            card,
            instance,
            {k: v for k, v in document["input"]["values"][i].items() if k not in hidden},
        )
        for i, instance in enumerate(instances)
    ]
    return Built(document, secrets, decisions)


@dataclass(frozen=True)
class Revealed:
    """A record's document with sealed values restored where the key allows.

    ``status``: ``clear`` (nothing was redacted), ``opened`` (sealed values restored),
    ``sealed`` (redacted; no key or another key), ``omitted`` (dropped by policy).
    """

    document: dict[str, Any]
    status: Status
    problem: str | None = None


def reveal(record: ExplanationRecord, sealer: Sealer | None) -> Revealed:
    document = copy.deepcopy(record.document)
    if not document.get("sensitive", {}).get("redacted"):
        return Revealed(document, "clear")
    if record.sealed is None:
        return Revealed(document, "omitted")
    if sealer is None:
        return Revealed(document, "sealed", "no audit encryption key is configured")
    try:
        secrets = sealer.open(record.sealed, record_id=record.id)
    except SealError as exc:
        return Revealed(document, "sealed", exc.message)
    for path, value in secrets:
        _set(document, tuple(path), value)
    return Revealed(document, "opened")
