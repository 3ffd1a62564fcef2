"""The v1 wire contract: request and response models shared by the API and the CLI.

Field names here are a promise to product apps; extra fields may be added,
existing ones never renamed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

__all__ = [
    "Attribution",
    "ErrorBody",
    "ErrorResponse",
    "ExplainRequest",
    "ExplainResponse",
    "InstanceExplanation",
    "ModelDetail",
    "ModelList",
    "ModelRef",
    "ModelSummary",
    "PredictRequest",
    "PredictResponse",
    "Prediction",
    "Provenance",
]

# Validated by the core against the model's card, so errors name the feature;
# the schema still tells clients what an instance looks like.
Instance = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "object", "additionalProperties": True},
                {"type": "array", "items": {}},
            ],
            "description": "An object keyed by feature name, or a list in card order.",
        }
    ),
]

_CREDIT_EXAMPLE: dict[str, Any] = {
    "instances": [{"duration_months": 24, "credit_amount": 4500, "age": 35}],
    "method": "auto",
    "output": "probability",
    "options": {"seed": 0},
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictRequest(_Model):
    instances: list[Instance] = Field(
        min_length=1,
        description="Rows to score: objects keyed by feature name, or lists in card order. "
        "`null` is a missing value (only for nullable features).",
    )


class Prediction(BaseModel):
    label: str | None = Field(default=None, description="Predicted class (classifiers).")
    probabilities: dict[str, float] | None = Field(
        default=None, description="Class probabilities in card class order (classifiers)."
    )
    value: float | None = Field(default=None, description="Predicted value (regressors).")


class ModelRef(BaseModel):
    name: str
    version: str
    sha256: str


class PredictResponse(BaseModel):
    model: ModelRef
    predictions: list[Prediction]


class ExplainRequest(_Model):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CREDIT_EXAMPLE]})

    instances: list[Instance] = Field(min_length=1, description="Rows to explain (as for predict).")
    method: Literal[
        "auto", "tree_shap", "exact_shap", "kernel_shap", "permutation_shap", "lime"
    ] = Field(
        default="auto",
        description="`auto` picks tree_shap for tree ensembles, exact_shap up to 12 players, "
        "else permutation_shap.",
    )
    output: Literal["raw", "probability"] | None = Field(
        default=None,
        description="Output space: `raw` (margin) or `probability`; default from the card.",
    )
    target: str | None = Field(
        default=None,
        description="Class to explain; default the positive class (binary) or the predicted class.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Method options, e.g. `seed`, `nsamples` (kernel_shap), `max_evals` "
        "(permutation_shap), `num_samples` (lime).",
    )


class Attribution(BaseModel):
    feature: str = Field(description="Player name: a feature, or a group of one-hot columns.")
    label: str
    value: Any = Field(description="The instance's value, as given (a mapping for groups).")
    attribution: float


class InstanceExplanation(BaseModel):
    prediction: Prediction
    target: str
    output_value: float = Field(description="The model output for `target` in the output space.")
    base_value: float = Field(description="Expected output over the background.")
    attributions: list[Attribution]
    quality: dict[str, float]


class Provenance(BaseModel):
    seed: int
    parameters: dict[str, Any]
    algorithm: str | None = None
    background_sha256: str
    background_rows: int
    provider: str
    versions: dict[str, str]


class ExplainResponse(BaseModel):
    id: str
    model: ModelRef
    method: str
    output: Literal["raw", "probability"]
    provenance: Provenance
    explanations: list[InstanceExplanation]
    timing: dict[str, float] = Field(default_factory=dict)


class ModelSummary(BaseModel):
    name: str
    version: str
    task: Literal["classification", "regression"]
    domain: str
    sha256: str
    n_features: int


class ModelList(BaseModel):
    models: list[ModelSummary]


class ModelDetail(ModelSummary):
    card: dict[str, Any]
    features: list[dict[str, Any]]
    players: list[str]
    classes: list[str] | None
    positive_class: str | None
    explainers: dict[str, str] = Field(
        description="Each method and whether it is `available` or why it is not."
    )
    providers: list[str] = Field(description="ONNX Runtime execution providers in use.")
    background_sha256: str
    background_rows: int


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)
    request_id: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
