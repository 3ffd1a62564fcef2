"""The protocol-agnostic core: predict and explain on canonical rows, for the API, the CLI,
replay, copy coverage and batch jobs.

The engine takes canonical rows (``service.models.instances``) and returns typed domain
results (``service.results``); the faces map those to the wire (``service.wire.mapping``).
Everything with numbers in it happens here or below.
"""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Protocol

import numpy as np
import structlog
from numpy.typing import NDArray

from service.errors import InvalidInput
from service.explain.capabilities import Capabilities
from service.explain.deadline import deadline
from service.explain.explainers import EXPLAINERS, Explainer, choose_method
from service.explain.explanation import Explanation, OutputSpace
from service.explain.game import Game
from service.explain.trees.support import TreeSupport
from service.models.card import ModelCard
from service.models.instances import canonical_rows, decode_row
from service.models.prediction import predictions
from service.models.registry import LoadedModel, ModelRegistry
from service.native import limit_blas_threads
from service.people.coverage import CoverageReport, copy_coverage, reached_in
from service.people.narratives import narrate
from service.people.told import Told
from service.results import (
    ExplainedInstance,
    ExplainedRows,
    ExplainResult,
    ExplainSpec,
    ModelRef,
    Origin,
    PredictResult,
    Provenance,
)
from service.settings import Settings

__all__ = ["Engine", "Recorder", "library_versions"]

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


class Recorder(Protocol):
    """Writes the audit records of explanations (``service.audit.AuditRecorder``): all of
    ``results`` in one transaction, returning for each what failed (None: committed)."""

    def record_all(
        self, results: Sequence[tuple[ExplainResult, Origin]]
    ) -> list[BaseException | None]: ...


class Engine:
    """Predictions and explanations over the registry's models.

    With a ``recorder``, every explanation is recorded before it is returned; a
    failure to record fails the explanation. Making one limits the process's BLAS
    threads (``CLARION_BLAS_THREADS``, ``service.native``).
    """

    def __init__(
        self, registry: ModelRegistry, settings: Settings, recorder: Recorder | None = None
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.recorder = recorder
        self.versions = library_versions()
        limit_blas_threads(settings.blas_threads)  # the pool runs explanations side by side
        # What is fixed once a model is loaded, kept with the model object (a reloaded
        # model is a new key, and its record goes with the old object): its games, one
        # per output space, so what a game computes once (the background's mean output,
        # its background in the model's dtype) is computed once per model, not per
        # request; and the method each request's spec resolves to, and whether requests
        # for it may share a pass, asked on the event loop for every explain request.
        self._served: weakref.WeakKeyDictionary[LoadedModel, _Served] = weakref.WeakKeyDictionary()

    def warm_in_background(self, then: Callable[[], None] | None = None) -> threading.Thread:
        """Warm every method (``Explainer.warm``) on a daemon thread, so the first request
        for each finds its libraries imported and its kernels compiled; ``then`` runs on
        that thread once all are warm."""

        def warm() -> None:
            for explainer in tuple(EXPLAINERS.values()):  # a snapshot: tests register more
                try:
                    explainer.warm()
                except Exception:  # the method's first request will say what is wrong
                    log.warning("explainer.warm_failed", method=explainer.name, exc_info=True)
            if then is not None:
                then()

        thread = threading.Thread(target=warm, name="clarion-warm", daemon=True)
        thread.start()
        return thread

    def rows(self, name: str, instances: Sequence[Any]) -> NDArray[np.float64]:
        """Validate instances as people give them against the card: canonical rows
        (n_samples, n_features); 422 naming the instance and feature on anything wrong."""
        return self._rows(self.registry.get(name), instances)

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

    def predict(
        self, name: str, instances: Sequence[Any], version: str | None = None
    ) -> PredictResult:
        """Score instances with ``version`` of the model (None: its default)."""
        model = self.registry.get(name, version)
        X = self._rows(model, instances)
        with deadline(self.settings.predict_timeout_s, "CLARION_PREDICT_TIMEOUT_S"):
            y = model.runtime.run(X)
        return PredictResult(
            model=self.model_ref(model), predictions=predictions(model.bundle.card, y)
        )

    def game(self, model: LoadedModel, space: OutputSpace) -> Game:
        """The model's game in ``space`` (made on first use, then kept with the model)."""
        games = self._kept(model).games
        if space not in games:  # two threads may both build it; either one serves
            games[space] = self._new_game(model, space)
        return games[space]

    def _kept(self, model: LoadedModel) -> _Served:
        kept = self._served.get(model)
        if kept is None:  # two threads may both make one; either one serves
            kept = self._served.setdefault(model, _Served())
        return kept

    def _method(self, model: LoadedModel, space: OutputSpace, requested: str) -> str:
        """The method ``requested`` resolves to for ``model`` in ``space`` (``auto``
        chosen, a method the model cannot use refused with 422), known after the first ask."""
        methods = self._kept(model).methods
        key = (space, requested, tuple(EXPLAINERS))  # another method served: asked anew
        method = methods.get(key)
        if method is None:  # a refusal raises, and is asked again next time
            method = methods[key] = choose_method(requested, model.capabilities(space))
        return method

    def _new_game(self, model: LoadedModel, space: OutputSpace) -> Game:
        card = model.bundle.card
        players = card.players
        return Game(
            predict=model.function(space),
            background=model.bundle.background,
            players=tuple(p.columns for p in players),
            player_names=tuple(p.name for p in players),
            output_names=card.output_names,
            output_space=space,
            chunk_rows=self.settings.predict_chunk_rows,
            trees=model.trees if isinstance(model.trees, TreeSupport) else None,
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
        """Refuse, before any work, options the method does not take (422 naming
        ``options.<name>``: the budget arithmetic needs them valid) and a request over the
        per-request explanation budget: model rows scored, and bytes of the largest
        matrix of coalition rows held at once (rows x columns x 8)."""
        explainer.validate_params()
        # what these options cannot do at all is said in the method's words (tree_shap's
        # "too many players for exact probabilities"), not as a budget in model rows
        explainer.check(Capabilities.of_game(game))
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
        peak = explainer.peak_rows(game, n_samples) * game.n_columns * 8
        most = self.settings.max_explanation_bytes
        if peak > most:
            raise InvalidInput(
                f"this request would hold {peak / 2**20:,.0f} MiB of coalition rows at once "
                f"({explainer.name} and its options over {game.n_background} background rows); "
                f"the limit is {most / 2**20:,.0f} MiB (CLARION_MAX_EXPLANATION_BYTES): ask for "
                "a smaller sample budget",
                details={"field": "options", "problem": "over the explanation memory budget"},
            )

    def copy_coverage(
        self, name: str, locales: Sequence[str], *, sample: int = 0
    ) -> CoverageReport:
        """Which features lack reviewed words per locale (``service.people.coverage``).

        sample: explain this many background rows (raw output space, no audit record) and
        count only the features seen among their reasons; 0 judges from the card alone.
        """
        model = self.registry.get(name)
        reached = None
        if sample > 0:
            rows = model.bundle.background[:sample]
            result = self._explain(model, rows, ExplainSpec(output="raw"), None, record=False)
            reached = reached_in(result.instances)
        return copy_coverage(model.bundle.card, locales, reached=reached)

    def explain(
        self,
        name: str,
        instances: Sequence[Any],
        spec: ExplainSpec,
        *,
        origin: Origin | None = None,
        record: bool = True,
    ) -> ExplainResult:
        """Validate instances as people give them, then ``explain_rows``."""
        start = time.perf_counter()
        model = self.registry.get(name, spec.version)
        X = self._rows(model, instances)
        return self._explain(model, X, spec, origin, record, started=start)

    def explain_rows(
        self,
        name: str,
        X: NDArray[np.float64],
        spec: ExplainSpec,
        *,
        origin: Origin | None = None,
        record: bool = True,
    ) -> ExplainResult:
        """Predict and explain canonical rows X (n_samples, n_features), already valid for
        the model's card (CLI files, coverage samples), with ``spec.version`` of the model
        (None: its default). ``record=False`` (coverage) writes no audit record."""
        return self._explain(self.registry.get(name, spec.version), X, spec, origin, record)

    def replay_rows(
        self, model: LoadedModel, X: NDArray[np.float64], spec: ExplainSpec
    ) -> ExplainResult:
        """``explain_rows`` with the model a record names (``ModelRegistry.recorded``:
        served, or a deleted version kept in the archive), writing no record."""
        return self._explain(model, X, spec, None, record=False)

    def explain_numbers(
        self, model: LoadedModel, X: NDArray[np.float64], spec: ExplainSpec
    ) -> ExplainedRows:
        """The numbers of ``explain_rows`` for canonical rows X (n_samples, n_features),
        without what people are told and without a record: batch jobs, whose workers hold
        the model themselves. The same steps as ``_explain``, so each row's numbers are
        the ones an explain request of the same rows returns."""
        card = model.bundle.card
        space = self._space(card, spec.output)
        method = self._method(model, space, spec.method)
        options = {"seed": self.settings.default_seed, **spec.options}
        explainer = EXPLAINERS[method].from_options(options)
        type(explainer).warm()  # imports and compiles once, outside the time limit
        game = self.game(model, space)
        self._check_budget(explainer, game, len(X))
        with deadline(self.settings.explain_timeout_s):
            # one run for the predictions and, where it gives them, the explainer's f(X)
            probabilities, outputs = model.outputs(X, space)
            targets = self._targets(card, spec.target, probabilities)
            explanation = explainer.fit(game).explain(X, outputs=outputs)
        return ExplainedRows(
            model=self.model_ref(model),
            method=method,
            output=space,
            probabilities=probabilities,
            targets=targets,
            explanation=explanation,
            provenance=Provenance(
                seed=int(options["seed"]),
                parameters=dict(explanation.meta.get("parameters", {})),
                algorithm=explanation.meta.get("algorithm"),
                background_sha256=model.bundle.background_sha256,
                background_rows=int(model.bundle.background.shape[0]),
                provider=model.runtime.providers_in_use[0],
                versions=self.versions,
            ),
        )

    def stacks(self, name: str, spec: ExplainSpec) -> bool:
        """Whether requests for ``spec`` may share one pass (``explain_batch``) and get
        the numbers each would get alone: exact tree_shap from the path tables, where every
        step (the model in ONNX Runtime, the tables, what people are told) goes row by row.
        Cheap (no model is run; known per model, output and method after the first ask):
        the API asks before it coalesces a request."""
        if spec.counterfactuals != 0:
            return False
        model = self.registry.get(name, spec.version)
        known = self._kept(model).stacking
        key = (spec.output, spec.method, tuple(EXPLAINERS))
        stacks = known.get(key)
        if stacks is None:
            from service.explain.explainers.tree_shap import TreeShap

            space = self._space(model.bundle.card, spec.output)
            method = self._method(model, space, spec.method)
            stacks = known[key] = method == TreeShap.name and TreeShap.on_tables(
                self.game(model, space)
            )
        return stacks

    def explain_batch(
        self, name: str, requests: Sequence[tuple[Sequence[Any], Origin]], spec: ExplainSpec
    ) -> list[ExplainResult | BaseException]:
        """Several explain requests with one ``spec`` (``stacks``), in one pass: each is
        validated, answered and recorded as its own explanation (its own id, record and
        timing), with the numbers ``explain`` gives it alone; the rows of all go through the
        model and the path tables together, which then come from memory once for all of
        them, and the records are committed in one transaction. For each request its result,
        or what failed it (a request with an invalid instance fails alone)."""
        started = time.perf_counter()
        out: list[ExplainResult | BaseException | None] = [None] * len(requests)
        try:
            model = self.registry.get(name, spec.version)
        except Exception as exc:
            return [exc] * len(requests)
        valid: list[tuple[int, NDArray[np.float64]]] = []
        for i, (instances, _) in enumerate(requests):
            try:
                valid.append((i, self._rows(model, instances)))
            except Exception as exc:  # that request's 422; the others go on
                out[i] = exc
        if valid:
            start = time.perf_counter()
            try:
                rows = self.explain_numbers(model, np.concatenate([x for _, x in valid]), spec)
            except Exception as exc:
                for i, _ in valid:
                    out[i] = exc
                return [r for r in out if r is not None]
            computed = time.perf_counter()
            done: list[tuple[int, ExplainResult, Origin]] = []
            at = 0
            for i, X in valid:
                part = rows if len(valid) == 1 else rows.of(slice(at, at + len(X)))
                at += len(X)
                timing = {"validate_ms": _ms(start - started), "compute_ms": _ms(computed - start)}
                done.append((i, self._told(model, X, spec, part, timing), requests[i][1]))
            failed = self._record([(result, origin) for _, result, origin in done], started)
            for (i, result, _), error in zip(done, failed, strict=True):
                out[i] = result if error is None else error
        return [r for r in out if r is not None]

    def _explain(
        self,
        model: LoadedModel,
        X: NDArray[np.float64],
        spec: ExplainSpec,
        origin: Origin | None,
        record: bool,
        *,
        started: float | None = None,
    ) -> ExplainResult:
        """Explain, tell, render, record. ``timing``: ``validate_ms`` (instances to rows),
        ``compute_ms`` (the model and the explainer; ``explain_ms`` the explainer alone),
        ``people_ms`` (reasons, notices, counterfactuals, the page), ``audit_ms`` (the
        record, committed) and ``total_ms``, all in milliseconds."""
        start = time.perf_counter()
        started = start if started is None else started
        rows = self.explain_numbers(model, X, spec)
        computed = time.perf_counter()
        timing = {"validate_ms": _ms(start - started), "compute_ms": _ms(computed - start)}
        result = self._told(model, X, spec, rows, timing)
        if record and self.recorder is not None:
            (error,) = self._record([(result, origin or Origin())], started)
            if error is not None:
                raise error
        else:
            self._completed(result, started)
        return result

    def _told(
        self,
        model: LoadedModel,
        X: NDArray[np.float64],
        spec: ExplainSpec,
        rows: ExplainedRows,
        timing: dict[str, float],
    ) -> ExplainResult:
        """The result of the rows X explained as ``rows``: what people are told (and the
        page), with ``timing``'s ``explain_ms`` and ``people_ms`` added."""
        computed = time.perf_counter()
        explanation = rows.explanation
        instances = self._instances(
            model, X, rows.output, spec, rows.probabilities, rows.targets, explanation
        )
        page = None
        if spec.format == "html":
            from service.html.widget import render_page

            page = render_page(instances, variant=spec.widget, theme=spec.theme)
        timing["explain_ms"] = float(explanation.meta.get("duration_ms", 0.0))
        timing["people_ms"] = _ms(time.perf_counter() - computed)
        return ExplainResult(
            id=uuid.uuid4().hex,
            model=rows.model,
            card=model.bundle.card,
            method=rows.method,
            output=rows.output,
            spec=spec,
            X=X,
            explanation=explanation,
            instances=instances,
            provenance=rows.provenance,
            timing=timing,
            page=page,
        )

    def _record(
        self, results: Sequence[tuple[ExplainResult, Origin]], started: float
    ) -> list[BaseException | None]:
        """Record ``results`` (one transaction for all); for each, what failed (None: its
        record is committed). The record keeps the timings known when it is written; the
        result then adds the write itself (``audit_ms``) and the total."""
        if self.recorder is None:
            for result, _ in results:
                self._completed(result, started)
            return [None] * len(results)
        before = time.perf_counter()
        for result, _ in results:
            result.timing["total_ms"] = _ms(before - started)
        failed = self.recorder.record_all(results)
        audit_ms = _ms(time.perf_counter() - before)
        for (result, _), error in zip(results, failed, strict=True):
            if error is None:
                result.timing["audit_ms"] = audit_ms
                self._completed(result, started)
        return failed

    @staticmethod
    def _completed(result: ExplainResult, started: float) -> None:
        result.timing["total_ms"] = _ms(time.perf_counter() - started)
        log.info(
            "explanation.completed",
            model=result.model.name,
            method=result.method,
            output=result.output,
            rows=len(result.X),
            ms=result.timing["total_ms"],
        )

    @staticmethod
    def _instances(
        model: LoadedModel,
        X: NDArray[np.float64],
        space: OutputSpace,
        spec: ExplainSpec,
        probabilities: NDArray[np.float64],
        targets: Sequence[int],
        explanation: Explanation,
    ) -> list[ExplainedInstance]:
        """Each row toward its target, with what people are told (``service.people``):
        reasons, narrative, confidence, screening, counterfactuals. Rows are decoded once."""
        card = model.bundle.card
        out = []
        for i, (k, prediction) in enumerate(
            zip(targets, predictions(card, probabilities), strict=True)
        ):
            given = decode_row(card, X[i])
            phi = explanation.values[i, :, k]
            quality = {name: float(q[i, k]) for name, q in explanation.quality.items()}
            target = explanation.output_names[k]
            output_value = float(explanation.outputs[i, k])
            base_value = float(explanation.base_values[i, k])
            told = (
                Told()  # compact: numbers only, nothing for people is computed
                if spec.compact
                else narrate(
                    card,
                    X[i],
                    given,
                    phi,
                    prediction=prediction,
                    target=target,
                    output_value=output_value,
                    base_value=base_value,
                    quality=quality,
                    background=model.bundle.background,
                    predict=model.runtime.run,
                    output_space=space,
                    persona=spec.persona,
                    locale=spec.locale,
                    counterfactuals=spec.counterfactuals,
                )
            )
            out.append(
                ExplainedInstance(
                    prediction=prediction,
                    target=target,
                    output_value=output_value,
                    base_value=base_value,
                    attributions=phi,
                    quality=quality,
                    given=given,
                    told=told,
                )
            )
        return out


@dataclass(eq=False)
class _Served:
    """What ``Engine`` keeps per served model object (see ``Engine.__init__``)."""

    games: dict[OutputSpace, Game] = field(default_factory=dict)
    # keyed by the served methods' names too: ``register`` may serve another for a while
    methods: dict[tuple[OutputSpace, str, tuple[str, ...]], str] = field(default_factory=dict)
    stacking: dict[tuple[str | None, str | None, tuple[str, ...]], bool] = field(
        default_factory=dict
    )


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
