"""The one mapping between the v1 wire schemas and the engine's domain values.

Faces (API routes, the CLI) turn a request into rows and an ``ExplainSpec`` here, and an
``ExplainResult`` into an ``ExplainResponse``; the audit recorder's document builder stores
the response exactly as this module maps it, so a record and the response a caller got
cannot differ. Nothing below the faces imports this module.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np
import orjson

from service.models.card import ModelCard
from service.models.prediction import Prediction
from service.people.coverage import CoverageReport
from service.people.notice import Notice
from service.results import ExplainedInstance, ExplainResult, ExplainSpec, PredictResult
from service.wire import schemas as w

__all__ = [
    "copy_coverage",
    "explain_json",
    "explain_response",
    "explain_spec",
    "instance_explanation",
    "notice",
    "predict_response",
    "prediction",
    "request_fields",
]


def explain_spec(request: w.ExplainRequest) -> ExplainSpec:
    """Everything the request asks besides its instances."""
    return ExplainSpec(
        method=request.method,
        output=request.output,
        target=request.target,
        options=dict(request.options),
        persona=request.persona,
        locale=request.locale,
        counterfactuals=request.counterfactuals,
        format=request.format,
        widget=request.widget,
        theme=request.theme,
        reference=request.reference,
        purpose=request.purpose,
        compact=request.compact,
        version=request.version,
    )


def request_fields(spec: ExplainSpec) -> dict[str, Any]:
    """The request as the wire states it, without instances (what an audit record keeps):
    ``ExplainSpec``'s fields are the explain request's (a test keeps them equal)."""
    # Field by field, not ``asdict``: that deep-copied every option value only for the
    # copy to be replaced here (13 us of a record's 400, in process).
    out = {name: getattr(spec, name) for name in _field_names(ExplainSpec)}
    out["options"] = dict(spec.options)
    return out


def prediction(p: Prediction) -> w.Prediction:
    return w.Prediction.model_validate(_plain(p))


def predict_response(result: PredictResult) -> w.PredictResponse:
    return w.PredictResponse(
        model=w.ModelRef.model_validate(_plain(result.model)),
        predictions=[prediction(p) for p in result.predictions],
    )


def notice(n: Notice) -> w.Notice:
    return w.Notice.model_validate(_plain(n))


# The domain's frozen dataclasses (Prediction, ShownReason, Screening, Review, QualityGate,
# Counterfactual, Notice and its parts, ModelRef, Provenance) have the wire schemas' field
# names, in the same order: ``_plain`` turns them into the JSON the schemas describe
# (tests/models/test_example_narratives.py holds the two equal on every example model).
_FIELDS: dict[type, tuple[str, ...]] = {}


_LEAVES = frozenset({str, int, float, bool, type(None)})


def _field_names(kind: type) -> tuple[str, ...]:
    """A dataclass's field names, looked up once per class."""
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(f.name for f in fields(kind))
    return names


def _plain(value: Any) -> Any:
    # Leaves are passed through where they are met, without a call each: a response
    # holds some hundreds of them per instance (notices, reasons, counterfactuals).
    kind = type(value)
    if kind in _LEAVES:
        return value
    names = _FIELDS.get(kind)
    if names is None and is_dataclass(value):
        names = _field_names(kind)
    if names is not None:
        out = {}
        for name in names:
            v = getattr(value, name)
            out[name] = v if type(v) in _LEAVES else _plain(v)
        return out
    if isinstance(value, Mapping):
        return {str(k): v if type(v) in _LEAVES else _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [v if type(v) in _LEAVES else _plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _attributions(card: ModelCard, e: ExplainedInstance) -> list[dict[str, Any]]:
    features = card.features
    given = e.given
    out = []
    for p, phi in zip(card.players, e.attributions.tolist(), strict=True):
        value: Any
        if len(p.columns) == 1:
            value = given[features[p.columns[0]].name]
        else:
            value = {features[c].name: given[features[c].name] for c in p.columns}
        out.append({"feature": p.name, "label": p.label, "value": value, "attribution": phi})
    return out


def _instance(card: ModelCard, e: ExplainedInstance) -> dict[str, Any]:
    told = e.told
    plain = _through_orjson(
        (e.prediction, told.reasons, told.screening, told.review, told.counterfactuals, told.notice)
    )
    return {
        "prediction": plain[0],
        "target": e.target,
        "output_value": e.output_value,
        "base_value": e.base_value,
        "attributions": _attributions(card, e),
        "quality": dict(e.quality),
        "reasons": plain[1],
        "narrative": told.narrative,
        "confidence": told.confidence,
        "confidence_basis": told.confidence_basis,
        "screening": plain[2],
        "review": plain[3],
        "counterfactuals": plain[4],
        "counterfactual_note": told.counterfactual_note,
        "notice": plain[5],
    }


def _through_orjson(values: tuple[Any, ...]) -> list[Any]:
    """``_plain`` of each of ``values``, in one pass through orjson, which writes frozen
    dataclasses (and tuples, mappings, numpy scalars) in C: an instance's reasons and
    notice hold some hundreds of leaves, and this took 0.02 ms where ``_plain`` took 0.05.
    The one difference, a non-finite float read back as None, cannot arise here: the model's
    outputs are refused unless finite, and what people are told is computed from them
    (the response writes such a float as null all the same)."""
    data = orjson.dumps(values, default=_mapping, option=_ORJSON)
    result: list[Any] = orjson.loads(data)
    return result


_ORJSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):  # read-only views of the domain's dicts
        return {str(k): v for k, v in value.items()}
    raise TypeError(f"{type(value).__name__} is not JSON")


def instance_explanation(card: ModelCard, e: ExplainedInstance) -> w.InstanceExplanation:
    return w.InstanceExplanation.model_validate(_instance(card, e))


# One mapping per result: the recorder's document and the route's response share it.
_DOCUMENTS: weakref.WeakKeyDictionary[ExplainResult, dict[str, Any]] = weakref.WeakKeyDictionary()


def explain_json(result: ExplainResult) -> dict[str, Any]:
    """The v1 explain response of a result as JSON-ready values (``ExplainResponse``'s
    shape), built once per result however often it is asked for. Treat it as read-only."""
    document = _DOCUMENTS.get(result)
    if document is None:
        document = _DOCUMENTS[result] = {
            "id": result.id,
            "model": _plain(result.model),
            "method": result.method,
            "output": result.output,
            "provenance": _plain(result.provenance),
            "explanations": [_instance(result.card, e) for e in result.instances],
            "timing": dict(result.timing),
        }
    return document


def explain_response(result: ExplainResult) -> w.ExplainResponse:
    """The v1 response as the pydantic model (for Python callers; the API sends
    ``explain_json`` as it is)."""
    return w.ExplainResponse.model_validate(explain_json(result))


def copy_coverage(report: CoverageReport) -> w.CopyCoverage:
    """The report as the API returns it (``GET /v1/models/{name}/copy-coverage``)."""
    return w.CopyCoverage(
        model=report.model,
        version=report.version,
        basis=report.basis,
        complete=report.complete,
        locales=[
            w.LocaleCoverage(
                locale=c.locale,
                players=c.players,
                complete=c.complete,
                gaps=[
                    w.CopyGap(feature=g.feature, missing=list(g.missing), reachable=g.reachable)
                    for g in c.gaps
                ],
            )
            for c in report.locales
        ],
    )
