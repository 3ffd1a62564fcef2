"""KServe's v1 data plane on the wire: ``{"instances": [...]}`` in, ``{"predictions": [...]}``
out, and for ``:explain`` Clarion's explanation beside the predictions.

Instances are lists in card order or objects keyed by feature name, as for
``/v1/models/{name}/predict``. Predictions are class labels (classifiers) or values
(regressors), as KServe's scikit-learn server answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.models.prediction import Prediction
from service.results import ExplainResult
from service.wire import mapping
from service.wire.schemas import ExplainResponse, Instance

__all__ = [
    "KServeExplainResponse",
    "KServePredictResponse",
    "KServeRequest",
    "explain_json",
    "predictions",
]


class KServeRequest(BaseModel):
    """A KServe v1 request: the rows to score or explain."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"instances": [[173.1, 30.0, "part_time", 1]]}]},
    )

    instances: list[Instance] = Field(
        min_length=1,
        description="Rows: lists in card feature order, or objects keyed by feature name.",
    )


class KServePredictResponse(BaseModel):
    """A KServe v1 prediction: one label (classifiers) or value (regressors) per row."""

    predictions: list[str | float] = Field(description="One per instance, in request order.")


class KServeExplainResponse(ExplainResponse):
    """Clarion's explanation (as ``POST /v1/models/{name}/explain`` answers it) with the
    KServe ``predictions`` beside it; ``id`` is the audit record's id."""

    predictions: list[str | float] = Field(description="One per instance, in request order.")


def predictions(found: Sequence[Prediction]) -> list[str | float]:
    return [p.label if p.label is not None else float(p.value or 0.0) for p in found]


def explain_json(result: ExplainResult) -> dict[str, Any]:
    """``KServeExplainResponse`` as JSON-ready values."""
    return {
        **mapping.explain_json(result),
        "predictions": predictions([e.prediction for e in result.instances]),
    }
