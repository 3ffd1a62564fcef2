"""The v1 wire contract: request and response models shared by the API and the CLI.

Field names here are a promise to product apps; extra fields may be added,
existing ones never renamed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from service import vocabulary
from service.explain.explainers.exact_shap import DEFAULT_MAX_PLAYERS
from service.explain.explanation import OutputSpace
from service.models.versions import VERSION_PATTERN
from service.vocabulary import Locale, Persona, Theme, Variant

__all__ = [
    "Attribution",
    "ChartBar",
    "CopyCoverage",
    "CopyGap",
    "Counterfactual",
    "DefaultVersionRequest",
    "ErrorBody",
    "ErrorResponse",
    "ExplainRequest",
    "ExplainResponse",
    "InstanceExplanation",
    "LocaleCoverage",
    "ModelDetail",
    "ModelList",
    "ModelRef",
    "ModelSummary",
    "ModelVersion",
    "Notice",
    "NoticeChart",
    "NoticeSection",
    "NoticeTable",
    "PredictRequest",
    "PredictResponse",
    "Prediction",
    "Provenance",
    "QualityGate",
    "Reason",
    "Review",
    "SampleList",
    "Screening",
    "Version",
    "VersionDeleted",
    "Vocabulary",
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


def _served_method(value: str) -> str:
    """A method the registry serves now (or ``auto``); refused as a Literal would be."""
    choices = vocabulary.method_choices()
    if value not in choices:
        raise PydanticCustomError(
            "literal_error", "Input should be {expected}", {"expected": vocabulary.one_of(choices)}
        )
    return value


# Checked against the live registry, so the schema need not be rebuilt when a method is
# registered; the OpenAPI enum lists the methods served when the schema was built.
Method = Annotated[
    str,
    AfterValidator(_served_method),
    WithJsonSchema({"enum": list(vocabulary.method_choices()), "type": "string"}),
]

# A model version as requests name it (the card's ``version``; it names a folder on disk).
Version = Annotated[
    str,
    Field(
        pattern=VERSION_PATTERN,
        description="A version of the model (its card's `version`): 1 to 64 letters, digits, "
        "`.`, `_`, `+` or `-`. Omitted: the model's default version (the newest, unless an "
        "admin chose one with `PUT /v1/models/{name}/default`).",
        examples=["2.0"],
    ),
]

_CREDIT_EXAMPLE: dict[str, Any] = {
    "instances": [{"duration_months": 24, "credit_amount": 4500, "age": 35}],
    "method": "auto",
    "output": "probability",
    "options": {"seed": 0},
}
# The same request asking for what people read: a German adverse-action notice with
# counterfactuals, as a self-contained HTML page.
_NOTICE_EXAMPLE: dict[str, Any] = {
    **_CREDIT_EXAMPLE,
    "persona": "end_user",
    "locale": "de",
    "counterfactuals": 2,
    "format": "html",
    "widget": "notice",
    "theme": "auto",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictRequest(_Model):
    """Rows to score, by the model's default version or the one named."""

    instances: list[Instance] = Field(
        min_length=1,
        description="Rows to score: objects keyed by feature name, or lists in card order. "
        "`null` is a missing value (only for nullable features).",
    )
    version: Version | None = None


class Prediction(BaseModel):
    """A classifier's label and class probabilities, or a regressor's value."""

    label: str | None = Field(default=None, description="Predicted class (classifiers).")
    probabilities: dict[str, float] | None = Field(
        default=None, description="Class probabilities in card class order (classifiers)."
    )
    value: float | None = Field(default=None, description="Predicted value (regressors).")


class ModelRef(BaseModel):
    """Which model answered: name, version and the SHA-256 of its ONNX file."""

    name: str
    version: str
    sha256: str


class PredictResponse(BaseModel):
    """One prediction per row, in request order, and the model that made them."""

    model: ModelRef
    predictions: list[Prediction]


class ExplainRequest(_Model):
    """Rows to explain, with the method, output space, target and how to tell people."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [_CREDIT_EXAMPLE, _NOTICE_EXAMPLE]}
    )

    instances: list[Instance] = Field(min_length=1, description="Rows to explain (as for predict).")
    method: Method = Field(
        default=vocabulary.AUTO,
        description="`auto` picks tree_shap for tree ensembles, exact_shap up to "
        f"{DEFAULT_MAX_PLAYERS} players, else sampled_shap.",
    )
    output: OutputSpace | None = Field(
        default=None,
        description="Output space: `raw` (margin) or `probability`; default from the card.",
    )
    target: str | None = Field(
        default=None,
        description="Class to explain; default the positive class (binary) or the predicted class.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Method options, e.g. `seed`, `num_samples` (lime). The sampling methods "
        "(`sampled_shap`, `permutation_shap`, `kernel_shap`) share one budget language: "
        "`max_evals` (coalitions per explained row; kernel_shap also takes `nsamples`), "
        "`max_error` (target standard error in the output space) and `time_budget_ms` "
        "(sampled_shap, permutation_shap); sampling stops at the first reached and each "
        "instance's `quality` reports `sampling_error` and `evaluations`.",
    )
    # What people read (service/narratives, widgets): same explanation, worded for a persona.
    persona: Persona = Field(
        default="end_user",
        description="Who reads the narrative: `end_user` (plain words, confidence as a bucket, "
        "no model numbers), `analyst` (numbers, codes, flags, quality gates) or `audit` "
        "(also screening, raw contributions per reason code, template record).",
        examples=["end_user"],
    )
    locale: Locale = Field(
        default="en",
        description="Language of reasons, narrative and widget; card copy that lacks the locale "
        "falls back to English and its reasons are flagged `untranslated`.",
        examples=["de"],
    )
    counterfactuals: int = Field(
        default=0,
        ge=0,
        le=3,
        description="How many counterfactuals (changes to actionable features, verified by the "
        "model, that change the outcome) to look for; 0 for none.",
        examples=[2],
    )
    format: Literal["json", "html"] = Field(
        default="json",
        description="`html`: the response is a self-contained HTML page (text/html) rendered "
        "from the same explanation the JSON would carry.",
        examples=["html"],
    )
    widget: Variant = Field(
        default="notice",
        description="With `format: html`: the full notice, the reason list, the sorted bar "
        "chart or the counterfactual card.",
    )
    theme: Theme = Field(
        default="auto",
        description="With `format: html`: `auto` follows the reader's colour-scheme preference.",
    )
    reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Your business reference (an application or loan number), kept on the "
        "audit record: listings filter on it (`GET /v1/explanations?reference=...`).",
        examples=["LOAN-2026-00417"],
    )
    purpose: Literal["decision", "preview"] = Field(
        default="decision",
        description="`decision`: an explanation about a person's case; `preview`: trying "
        "things out (the workspace sends it). Review samples, listings, reports and exports "
        "take decisions only unless asked for previews.",
    )
    compact: bool = Field(
        default=False,
        description="Numbers only, for services that explain many rows: the prediction, "
        "attributions, base and output values and quality, with `reasons`, `narrative`, "
        "`notice` and `counterfactuals` left empty (not computed, so faster) and "
        "`confidence` `not_rated`. Not with `format: html` or `counterfactuals`.",
    )
    version: Version | None = Field(
        default=None,
        description="The model version to explain with (its card's `version`); omitted: the "
        "default (the newest, unless an admin chose one). The response's and the record's "
        "`model` say which version answered.",
        examples=["2.0"],
    )

    @model_validator(mode="after")
    def _compact_is_numbers_only(self) -> ExplainRequest:
        if self.compact and (self.format == "html" or self.counterfactuals):
            raise ValueError(
                "compact returns numbers only: it cannot be combined with format html or "
                "counterfactuals"
            )
        return self


class Attribution(BaseModel):
    """One player's share of the gap between the base value and the output."""

    feature: str = Field(description="Player name: a feature, or a group of one-hot columns.")
    label: str
    value: Any = Field(description="The instance's value, as given (a mapping for groups).")
    attribution: float


class Reason(BaseModel):
    """One principal reason: a reason code and the features behind it."""

    code: str = Field(description="Reason code from the card (several features may share one).")
    text: str = Field(description="The reason in words, in the requested locale.")
    features: list[str] = Field(description="Players behind the code, largest contribution first.")
    contribution: float = Field(
        description="Summed contribution toward the explained outcome, in the output space."
    )
    contributions: dict[str, float] = Field(
        description="The raw attribution of each feature behind the code (toward `target`)."
    )
    direction: Literal["raises", "lowers"] = Field(
        description="Whether the code pushed the card's reference score (the positive class's "
        "probability, or the regression value) up or down."
    )
    flags: list[str] = Field(
        default_factory=list,
        description="`proxy`: a feature behind the code is a proxy for a protected attribute "
        "(shown, flagged for review); `untranslated`: English copy stood in for the locale; "
        "`generic_copy`: the card has no reviewed phrase, so a generic sentence was used.",
    )
    proxy_for: list[str] = Field(default_factory=list)


class Screening(BaseModel):
    """What reason screening did: protected features kept out, proxies shown but flagged."""

    suppressed: list[str] = Field(
        default_factory=list,
        description="Protected features that would have ranked among the reasons; kept out.",
    )
    flagged: list[str] = Field(
        default_factory=list, description="Proxy features shown among the reasons."
    )


class Counterfactual(BaseModel):
    """A change to actionable features, re-scored by the model, that changes the outcome."""

    changes: dict[str, Any] = Field(description="Feature -> its new value, as a person gives it.")
    was: dict[str, Any] = Field(default_factory=dict, description="Feature -> its current value.")
    prediction: Prediction = Field(description="The model's prediction for the changed instance.")
    cost: float = Field(
        description="Sum over numeric changes of |change| / background IQR, plus 1 per "
        "categorical or binary change."
    )
    text: str = Field(default="", description="The change in words, in the requested locale.")


class QualityGate(BaseModel):
    """One quality check of an explanation: its value, its limit and whether it passed."""

    name: str
    value: float
    limit: float
    at_least: bool = Field(description="True: value must be >= limit; false: <= limit.")
    passed: bool


class Review(BaseModel):
    """Whether a person should review this decision before the reasons are shown as final."""

    required: bool = False
    why: list[str] = Field(
        default_factory=list,
        description="`low_confidence`, or a failed quality gate (`additivity_residual`, "
        "`fidelity_r2`, `local_prediction_error`, `sampling_error`).",
    )
    gates: list[QualityGate] = Field(default_factory=list)


class NoticeTable(BaseModel):
    """A notice's table of reasons, as rows of cells."""

    columns: list[str]
    rows: list[list[str]]


class NoticeSection(BaseModel):
    """One block of a notice; ``kind`` names it (reasons, counterfactuals, confidence, ...)."""

    kind: str
    heading: str | None = None
    paragraphs: list[str] = Field(default_factory=list)
    items: list[str] = Field(default_factory=list)
    table: NoticeTable | None = None


class ChartBar(BaseModel):
    """One bar of a notice's chart: a feature's signed share, as drawn."""

    code: str
    label: str
    value: float = Field(description="Contribution toward the outcome (negative: against it).")
    text: str = Field(description="The bar's meaning in words (the sign is never colour alone).")
    shown: str = Field(
        default="", description="The value as printed for analysts, in the locale's format."
    )


class NoticeChart(BaseModel):
    """A notice's chart: its bars and the text alternative that describes them."""

    title: str
    alt: str = Field(description="Text alternative stating the chart's takeaway.")
    toward: str = Field(description="Axis caption for bars that pushed toward the outcome.")
    against: str = Field(description="Axis caption for bars that pushed against it.")
    bars: list[ChartBar]
    show_values: bool = Field(description="Whether numbers are printed (never for end users).")
    table_caption: str
    columns: list[str]
    toward_raises: bool = Field(
        default=True,
        description="Whether bars toward the outcome raised the model's score (a binary "
        "classifier's positive class, a regressor's estimate); colours mean raised/lowered.",
    )


class Notice(BaseModel):
    """Everything a person is shown, composed once: the narrative and the HTML both render it."""

    template_version: str
    locale: str
    persona: Persona
    domain: str
    title: str
    lead: str
    sections: list[NoticeSection] = Field(default_factory=list)
    chart: NoticeChart | None = None


class InstanceExplanation(BaseModel):
    """One row's explanation: its prediction, attributions and what a person reads."""

    prediction: Prediction
    target: str
    output_value: float = Field(description="The model output for `target` in the output space.")
    base_value: float = Field(description="Expected output over the background.")
    attributions: list[Attribution]
    quality: dict[str, float]
    # What people are shown (service/people/narratives): filled in by the engine's narration step.
    reasons: list[Reason] = Field(
        default_factory=list,
        description="Principal reasons toward the predicted outcome, grouped by reason code, "
        "largest first, at most the card's `max_reasons`; protected features never appear.",
    )
    narrative: str = Field(
        default="", description="The notice as plain text, for the requested persona and locale."
    )
    confidence: Literal["high", "moderate", "low", "not_rated"] = Field(
        default="not_rated", description="Calibrated confidence bucket (`not_rated`: regressors)."
    )
    confidence_basis: str = Field(default="", description="How the bucket thresholds were set.")
    screening: Screening = Field(default_factory=Screening)
    review: Review = Field(default_factory=Review)
    counterfactuals: list[Counterfactual] = Field(
        default_factory=list,
        description="Up to `counterfactuals` verified changes to actionable features that change "
        "the outcome; empty when none is feasible (see `counterfactual_note`).",
    )
    counterfactual_note: str | None = Field(
        default=None,
        description="With counterfactuals: that they are not a guarantee; without: why none is "
        "shown. Null when none were asked for.",
    )
    notice: Notice | None = Field(
        default=None,
        description="The composed notice (title, lead, sections, chart) that both the narrative "
        "and the HTML widget render; carries the template version and locale.",
    )


class Provenance(BaseModel):
    """What is needed to reproduce an explanation: seed, parameters, background, versions."""

    seed: int
    parameters: dict[str, Any]
    algorithm: str | None = None
    background_sha256: str
    background_rows: int
    provider: str
    versions: dict[str, str]


class ExplainResponse(BaseModel):
    """An explanation as recorded: per-row attributions, reasons and provenance."""

    id: str
    model: ModelRef
    method: str
    output: OutputSpace
    provenance: Provenance
    explanations: list[InstanceExplanation]
    timing: dict[str, float] = Field(default_factory=dict)


class ModelVersion(BaseModel):
    """One served version of a model."""

    version: str
    sha256: str = Field(description="SHA-256 of the version's ONNX file.")
    background_sha256: str
    loaded_at: datetime = Field(description="When this process loaded or received it.")
    default: bool = Field(description="Whether requests without a version get this one.")


class ModelSummary(BaseModel):
    """A served model in brief: name, version, task and ONNX file hash (of the version
    described: the default unless one was asked for), and every served version."""

    name: str
    version: str
    task: Literal["classification", "regression"]
    domain: str
    sha256: str
    n_features: int
    default_version: str = Field(
        description="What a request without `version` gets: the newest version, unless an "
        "admin chose one (`default_chosen`).",
        examples=["2.0"],
    )
    default_chosen: bool = Field(
        description="Whether an admin chose the default (`PUT /v1/models/{name}/default`)."
    )
    versions: list[ModelVersion] = Field(description="Every served version, newest first.")


class ModelList(BaseModel):
    """Every served model."""

    models: list[ModelSummary]


class ModelDetail(ModelSummary):
    """A served model: its card, features, players, explainers and provenance."""

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


class DefaultVersionRequest(_Model):
    """The version requests without one get."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": "2.0"}]})

    version: Version | None = Field(
        description="A served version; `null`: the newest again (no chosen default)."
    )


class VersionDeleted(BaseModel):
    """A version no longer served, and whether its files were kept for replay."""

    name: str
    version: str
    sha256: str
    archived: bool = Field(
        description="True: audit records or jobs name this version, so its files were moved "
        "to the archive, where replay finds them; false: nothing names it, they were deleted."
    )
    default_version: str | None = Field(
        description="The model's default now; null when no version is left."
    )


class SampleList(BaseModel):
    """Background rows of a model, as people would type them."""

    instances: list[dict[str, Any]]


class CopyGap(BaseModel):
    """A feature that lacks reviewed words in a locale, and whether explanations reach it."""

    feature: str = Field(description="A feature, or a group of one-hot columns.")
    missing: list[str] = Field(description="Of `label`, `raises`, `lowers`.")
    reachable: bool = Field(description="Whether the feature can reach the top reasons.")


class LocaleCoverage(BaseModel):
    """How far one locale's reviewed words cover a model's features."""

    locale: str
    players: int = Field(description="Unprotected features (and groups): those that can show.")
    complete: bool = Field(
        description="No feature that can reach the top reasons lacks reviewed copy."
    )
    gaps: list[CopyGap]


class CopyCoverage(BaseModel):
    """Which features lack reviewed words per locale, and whether that can show."""

    model: str
    version: str
    basis: str = Field(description="How reachability was judged: card only, or a sample.")
    complete: bool
    locales: list[LocaleCoverage]


class Vocabulary(BaseModel):
    """Every name a request may use, as this service defines them: clients (the workspace,
    product apps) read them here instead of keeping their own copies."""

    model_config = ConfigDict(json_schema_extra={"examples": [vocabulary.as_dict()]})

    methods: list[str] = Field(
        description="What `method` may say in an explain request: `auto`, then each served "
        "method in the order `auto` considers them."
    )
    deterministic_methods: list[str] = Field(
        description="Methods whose values do not depend on the seed: one run is enough."
    )
    output_spaces: list[str] = Field(description="What `output` may say.")
    personas: list[str] = Field(description="Who a narrative is written for (`persona`).")
    locales: list[str] = Field(description="Languages of reasons and narratives (`locale`).")
    locale_names: dict[str, str] = Field(description="Each locale's name in its own language.")
    widgets: list[str] = Field(description="HTML widget variants (`widget`, with `format: html`).")
    themes: list[str] = Field(description="Colour themes of the HTML widgets (`theme`).")
    verdicts: list[str] = Field(description="A reviewer's verdicts on a recorded explanation.")
    risk_flags: list[str] = Field(
        description="Why a recorded decision is oversampled for review (sample `risk.weights`)."
    )


class ErrorBody(BaseModel):
    """What went wrong: a stable code, a message, the offending fields, the request id."""

    code: str
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)
    request_id: str | None = None


class ErrorResponse(BaseModel):
    """Every error the service answers (except the inference protocols' routes)."""

    error: ErrorBody
