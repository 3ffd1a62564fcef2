"""The protocol-agnostic core: predict and explain for the API, the CLI and batch jobs.

Routes parse and map; everything with numbers in it happens here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol

import numpy as np
import structlog
from numpy.typing import NDArray

from service.errors import InvalidInput
from service.explain.deadline import deadline
from service.explain.explainers import EXPLAINERS, Explainer, choose_method
from service.explain.explanation import Explanation, OutputSpace
from service.explain.game import Game
from service.models.card import ModelCard
from service.models.instances import canonical_rows, decode_row
from service.models.registry import LoadedModel, ModelRegistry
from service.people.narratives import narrate
from service.settings import Settings
from service.wire.schemas import (
    Attribution,
    ExplainRequest,
    ExplainResponse,
    InstanceExplanation,
    ModelRef,
    Prediction,
    PredictResponse,
    Provenance,
)

__all__ = ["Engine", "Origin", "Recorder", "library_versions"]

log = structlog.get_logger(__name__)

_VERSIONED = ("clarion", "numpy", "onnx", "onnxruntime", "shap", "lime", "scikit-learn")


def library_versions() -> dict[str, str]:
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            try:
                versions[name] = metadata.version(name + "-gpu")
            except metadata.PackageNotFoundError:
                versions[name] = "not installed"
    return versions


def _predictions(card: ModelCard, y: NDArray[np.float64]) -> list[Prediction]:
    """Probabilities (n, n_classes) or values (n, 1) -> wire predictions."""
    if card.task == "regression":
        return [Prediction(value=float(v)) for v in y[:, 0]]
    classes = card.classes or ()
    return [
        Prediction(
            label=classes[int(np.argmax(row))],
            probabilities={c: float(p) for c, p in zip(classes, row, strict=True)},
        )
        for row in y
    ]


@dataclass(frozen=True)
class Origin:
    """Who asked for an explanation and through which door, for its audit record."""

    caller: str = "anonymous"
    channel: str = "api"
    request_id: str | None = None


class Recorder(Protocol):
    """Writes the audit record of an explanation (``service.audit.AuditRecorder``)."""

    def record(
        self,
        model: LoadedModel,
        request: ExplainRequest,
        X: NDArray[np.float64],
        response: ExplainResponse,
        origin: Origin,
    ) -> None: ...


class Engine:
    """Predictions and explanations over the registry's models.

    With a ``recorder``, every explanation is recorded before it is returned; a
    failure to record fails the explanation.
    """

    def __init__(
        self, registry: ModelRegistry, settings: Settings, recorder: Recorder | None = None
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.recorder = recorder
        self.versions = library_versions()

    def _rows(self, model: LoadedModel, instances: Sequence[Any]) -> NDArray[np.float64]:
        if len(instances) > self.settings.max_instances:
            raise InvalidInput(
                f"a request may carry at most {self.settings.max_instances} instances; "
                f"got {len(instances)}",
                details={"field": "instances", "problem": "too many instances"},
            )
        return canonical_rows(model.bundle.card, instances)

    @staticmethod
    def model_ref(model: LoadedModel) -> ModelRef:
        card = model.bundle.card
        return ModelRef(name=card.name, version=card.version, sha256=model.bundle.model_sha256)

    def predict(self, name: str, instances: Sequence[Any]) -> PredictResponse:
        model = self.registry.get(name)
        X = self._rows(model, instances)
        y = model.runtime.run(X)
        return PredictResponse(
            model=self.model_ref(model), predictions=_predictions(model.bundle.card, y)
        )

    def game(self, model: LoadedModel, space: OutputSpace) -> Game:
        card = model.bundle.card
        players = card.players
        return Game(
            predict=model.runtime.function(space),
            background=model.bundle.background,
            players=tuple(p.columns for p in players),
            player_names=tuple(p.name for p in players),
            output_names=card.output_names,
            output_space=space,
            chunk_rows=self.settings.predict_chunk_rows,
            structure=model.tree_support,
            column_types=tuple(f.type for f in card.features),
            input_dtype=model.runtime.input_dtype,
        )

    def _space(self, card: ModelCard, requested: OutputSpace | None) -> OutputSpace:
        if card.task == "regression":
            if requested == "probability":
                raise InvalidInput(
                    "output 'probability' applies to classifiers; this model is a regressor",
                    details={"field": "output", "problem": "not a classifier"},
                )
            return "raw"
        return requested or card.output.default

    def _targets(
        self, card: ModelCard, requested: str | None, probabilities: NDArray[np.float64]
    ) -> list[int]:
        if card.task == "regression":
            if requested not in (None, "value"):
                raise InvalidInput(
                    f"target {requested!r} is not an output of this regressor (use 'value')",
                    details={"field": "target", "problem": "unknown target"},
                )
            return [0] * probabilities.shape[0]
        classes = list(card.classes or ())
        if requested is not None:
            if requested not in classes:
                raise InvalidInput(
                    f"target {requested!r} is not a class of this model; classes: {classes}",
                    details={"field": "target", "problem": "unknown class"},
                )
            return [classes.index(requested)] * probabilities.shape[0]
        if len(classes) == 2 and card.positive_class is not None:
            return [classes.index(card.positive_class)] * probabilities.shape[0]
        return [int(i) for i in np.argmax(probabilities, axis=1)]

    def _check_budget(self, explainer: Explainer, game: Game, n_samples: int) -> None:
        """Refuse, before any work, a request over the per-request explanation budget."""
        rows = explainer.model_rows(game, n_samples)
        limit = self.settings.max_explanation_rows
        if rows > limit:
            raise InvalidInput(
                f"this request would score {rows:,} model rows ({n_samples} instances with "
                f"{explainer.name} and its options over {game.n_background} background rows); "
                f"the limit is {limit:,} (CLARION_MAX_EXPLANATION_ROWS): send fewer instances "
                "or a smaller sample budget",
                details={"field": "options", "problem": "over the explanation budget"},
            )

    def explain(
        self,
        name: str,
        request: ExplainRequest,
        *,
        origin: Origin | None = None,
        record: bool = True,
    ) -> ExplainResponse:
        """Predict and explain; ``record=False`` (replay) writes no audit record."""
        start = time.perf_counter()
        model = self.registry.get(name)
        card = model.bundle.card
        X = self._rows(model, request.instances)
        space = self._space(card, request.output)
        method = choose_method(request.method, model, space)
        options = {"seed": self.settings.default_seed, **request.options}
        explainer = EXPLAINERS[method].from_options(options)
        game = self.game(model, space)
        self._check_budget(explainer, game, len(X))
        with deadline(self.settings.explain_timeout_s):
            probabilities = model.runtime.run(X)
            targets = self._targets(card, request.target, probabilities)
            explanation = explainer.fit(game).explain(X)
        response = ExplainResponse(
            id=uuid.uuid4().hex,
            model=self.model_ref(model),
            method=method,
            output=space,
            provenance=Provenance(
                seed=int(options["seed"]),
                parameters=dict(explanation.meta.get("parameters", {})),
                algorithm=explanation.meta.get("algorithm"),
                background_sha256=model.bundle.background_sha256,
                background_rows=int(model.bundle.background.shape[0]),
                provider=model.runtime.providers_in_use[0],
                versions=self.versions,
            ),
            explanations=self._narrated(
                model,
                X,
                space,
                request,
                self._instances(card, X, probabilities, targets, explanation),
            ),
            timing={
                "explain_ms": float(explanation.meta.get("duration_ms", 0.0)),
                "total_ms": round((time.perf_counter() - start) * 1000, 3),
            },
        )
        if record and self.recorder is not None:
            self.recorder.record(model, request, X, response, origin or Origin())
        log.info(
            "explanation.completed",
            model=name,
            method=method,
            output=space,
            rows=len(X),
            ms=response.timing["total_ms"],
        )
        return response

    @staticmethod
    def _narrated(
        model: LoadedModel,
        X: NDArray[np.float64],
        space: OutputSpace,
        request: ExplainRequest,
        instances: list[InstanceExplanation],
    ) -> list[InstanceExplanation]:
        """What people read: reasons, narrative, confidence, screening, counterfactuals
        (``service.people.narratives``), one instance at a time."""
        return [
            narrate(
                model.bundle.card,
                e,
                X[i],
                background=model.bundle.background,
                predict=model.runtime.run,
                output_space=space,
                persona=request.persona,
                locale=request.locale,
                counterfactuals=request.counterfactuals,
            )
            for i, e in enumerate(instances)
        ]

    def _instances(
        self,
        card: ModelCard,
        X: NDArray[np.float64],
        probabilities: NDArray[np.float64],
        targets: list[int],
        explanation: Explanation,
    ) -> list[InstanceExplanation]:
        players = card.players
        predictions = _predictions(card, probabilities)
        out = []
        for i, k in enumerate(targets):
            given = decode_row(card, X[i])
            attributions = [
                Attribution(
                    feature=p.name,
                    label=p.label,
                    value=(
                        given[card.features[p.columns[0]].name]
                        if len(p.columns) == 1
                        else {
                            card.features[c].name: given[card.features[c].name] for c in p.columns
                        }
                    ),
                    attribution=float(explanation.values[i, j, k]),
                )
                for j, p in enumerate(players)
            ]
            out.append(
                InstanceExplanation(
                    prediction=predictions[i],
                    target=explanation.output_names[k],
                    output_value=float(explanation.outputs[i, k]),
                    base_value=float(explanation.base_values[i, k]),
                    attributions=attributions,
                    quality={name: float(q[i, k]) for name, q in explanation.quality.items()},
                )
            )
        return out
