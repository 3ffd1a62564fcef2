"""The engine's typed results: what one predict or explain call produced, as domain values.

No pydantic here: ``service.wire.mapping`` turns these into the v1 wire schemas for the
faces (API routes, CLI) and the audit recorder's document builder. ``ExplainSpec`` is what
was asked (besides the rows), ``ExplainResult`` what came back: the numbers of the batch
(``Explanation``, with its fixed shapes), and per row the prediction, the decoded values
and what people are told.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from service.explain.explanation import Explanation, OutputSpace
from service.models.card import ModelCard
from service.models.prediction import Prediction
from service.people.notice import Notice
from service.people.told import Counterfactual, Review, Screening, ShownReason, Told
from service.vocabulary import Locale, Persona, Theme, Variant

__all__ = [
    "ExplainResult",
    "ExplainSpec",
    "ExplainedInstance",
    "ExplainedRows",
    "ModelRef",
    "Origin",
    "PredictResult",
    "Provenance",
]


@dataclass(frozen=True)
class Origin:
    """Who asked for an explanation and through which door, for its audit record."""

    caller: str = "anonymous"
    channel: str = "api"
    request_id: str | None = None


@dataclass(frozen=True)
class ExplainSpec:
    """What to explain and how, besides the rows; the fields of the v1 explain request.

    ``format``, ``widget`` and ``theme`` say how the result is presented: with
    ``format="html"`` the engine renders the page once and the record keeps its hash.
    """

    method: str = "auto"
    output: OutputSpace | None = None
    target: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    persona: Persona = "end_user"
    locale: Locale = "en"
    counterfactuals: int = 0
    format: Literal["json", "html"] = "json"
    widget: Variant = "notice"
    theme: Theme = "auto"
    reference: str | None = None
    purpose: Literal["decision", "preview"] = "decision"
    compact: bool = False  # numbers only: the people layer (reasons, notice) is skipped
    version: str | None = None  # the model version asked for; None: the model's default


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    sha256: str


@dataclass(frozen=True)
class Provenance:
    seed: int
    parameters: Mapping[str, Any]
    algorithm: str | None
    background_sha256: str
    background_rows: int
    provider: str
    versions: Mapping[str, str]


@dataclass(frozen=True)
class PredictResult:
    model: ModelRef
    predictions: Sequence[Prediction]


@dataclass(frozen=True)
class ExplainedInstance:
    """One explained row: its numbers, its values as given, and what a person is told.

    ``attributions``: (n_players,) toward ``target``, in card player order. The people
    fields (``reasons``, ``notice``, ...) read through to ``told``, so renderers see the
    same attribute names as on the wire.
    """

    prediction: Prediction
    target: str
    output_value: float
    base_value: float
    attributions: NDArray[np.float64]
    quality: Mapping[str, float]
    given: Mapping[str, Any]
    told: Told

    @property
    def reasons(self) -> Sequence[ShownReason]:
        return self.told.reasons

    @property
    def notice(self) -> Notice | None:
        return self.told.notice

    @property
    def counterfactuals(self) -> Sequence[Counterfactual]:
        return self.told.counterfactuals

    @property
    def counterfactual_note(self) -> str | None:
        return self.told.counterfactual_note

    @property
    def review(self) -> Review:
        return self.told.review

    @property
    def screening(self) -> Screening:
        return self.told.screening


@dataclass(frozen=True, eq=False)  # compared by identity: one result per call
class ExplainResult:
    """An explain call's result.

    X: (n_samples, n_features) the canonical rows explained; ``explanation`` holds the
    batch's arrays for every output; ``instances`` one entry per row, toward its target.
    ``page`` is the rendered HTML (``spec.format == "html"``), rendered once: the bytes
    the caller receives and the record hashes.
    """

    id: str
    model: ModelRef
    card: ModelCard
    method: str
    output: OutputSpace
    spec: ExplainSpec
    X: NDArray[np.float64]
    explanation: Explanation
    instances: Sequence[ExplainedInstance]
    provenance: Provenance
    timing: dict[str, float]
    page: str | None = None


@dataclass(frozen=True, eq=False)
class ExplainedRows:
    """The numbers of an explanation without what people are told (batch jobs).

    probabilities: (n_samples, n_model_outputs) the model's output (probabilities, or a
    regressor's value); ``targets`` the output index each row is explained toward;
    ``explanation`` the batch's arrays. Row for row the same numbers as ``ExplainResult``.
    """

    model: ModelRef
    method: str
    output: OutputSpace
    probabilities: NDArray[np.float64]
    targets: Sequence[int]
    explanation: Explanation
    provenance: Provenance

    def of(self, which: slice) -> ExplainedRows:
        """The rows ``which`` of this batch, explained as they are here."""
        return replace(
            self,
            probabilities=self.probabilities[which],
            targets=self.targets[which],
            explanation=self.explanation.rows(which),
        )
