"""The engine: predictions and explanations over real ONNX Runtime sessions of the tiny
bundles. Instances and canonical rows give the same numbers; every refusal names its
field; targets and output spaces follow the card; each explanation is recorded exactly
once (a typed fake of our own ``Recorder`` protocol) unless asked not to be."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from numpy.typing import NDArray

from service.engine import Engine, Recorder
from service.errors import InvalidInput, NotFound
from service.explain.explainers import register
from service.explain.explainers.exact_shap import ExactShap
from service.models.instances import canonical_rows, decode_row
from service.models.registry import ModelRegistry
from service.people.coverage import copy_coverage, reached_in
from service.results import ExplainResult, ExplainSpec, Origin
from tests.support import make_settings

TIMING = {"validate_ms", "compute_ms", "explain_ms", "people_ms", "total_ms"}


class ListRecorder:
    """Keeps every record it is handed, in order (our ``Recorder`` protocol)."""

    def __init__(self) -> None:
        self.records: list[tuple[ExplainResult, Origin]] = []

    def record(self, result: ExplainResult, origin: Origin) -> None:
        self.records.append((result, origin))

    def record_all(
        self, results: Sequence[tuple[ExplainResult, Origin]]
    ) -> list[BaseException | None]:
        self.records.extend(results)
        return [None] * len(results)


class BrokenRecorder:
    def record(self, result: ExplainResult, origin: Origin) -> None:
        raise OSError("the audit store is gone")

    def record_all(
        self, results: Sequence[tuple[ExplainResult, Origin]]
    ) -> list[BaseException | None]:
        return [OSError("the audit store is gone") for _ in results]


@pytest.fixture(scope="module")
def registry(tiny_models_dir: Path) -> ModelRegistry:
    registry = ModelRegistry(make_settings(tiny_models_dir))
    registry.load_all()
    assert not registry.refused, registry.refused
    return registry


@pytest.fixture(scope="module")
def engine(registry: ModelRegistry) -> Engine:
    return Engine(registry, registry.settings)


def _with(registry: ModelRegistry, recorder: Recorder | None = None, **settings: Any) -> Engine:
    """An engine over the same loaded models, with other settings."""
    return Engine(registry, make_settings(registry.settings.models_dir, **settings), recorder)


def _background(engine: Engine, name: str, n: int) -> NDArray[np.float64]:
    return np.array(engine.registry.get(name).bundle.background[:n])


def _people(engine: Engine, name: str, n: int) -> list[dict[str, Any]]:
    card = engine.registry.get(name).bundle.card
    return [decode_row(card, x) for x in _background(engine, name, n)]


def _refusal(call: Any, *args: Any, **kwargs: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call(*args, **kwargs)
    assert caught.value.status_code == 422
    return caught.value


# -- predict ------------------------------------------------------------------------------
def test_predict_labels_a_classifiers_probabilities(engine: Engine) -> None:
    model = engine.registry.get("tiny_credit")
    people = _people(engine, "tiny_credit", 4)
    result = engine.predict("tiny_credit", people)
    assert result.model.name == "tiny_credit"
    assert result.model.version == "1.0"
    assert result.model.sha256 == model.bundle.model_sha256
    y = model.runtime.run(canonical_rows(model.bundle.card, people))
    assert len(result.predictions) == 4
    for p, row in zip(result.predictions, y, strict=True):
        assert p.value is None
        assert p.probabilities is not None
        assert list(p.probabilities) == ["declined", "approved"]
        assert list(p.probabilities.values()) == row.tolist()
        assert p.label == ("approved" if row[1] > row[0] else "declined")


def test_predict_gives_a_regressors_value(engine: Engine) -> None:
    X = _background(engine, "tiny_regression", 5)
    result = engine.predict("tiny_regression", X.tolist())
    values = np.array([p.value for p in result.predictions], dtype=np.float64)
    assert all(p.label is None and p.probabilities is None for p in result.predictions)
    np.testing.assert_allclose(values, 2.0 * X[:, 0] - X[:, 1], rtol=0, atol=1e-5)


def test_an_unknown_model_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound, match="no model named 'nope'"):
        engine.predict("nope", [])


# -- explain ------------------------------------------------------------------------------
def test_instances_and_canonical_rows_give_the_same_explanation(engine: Engine) -> None:
    people = _people(engine, "tiny_credit", 3)
    from_people = engine.explain("tiny_credit", people, ExplainSpec())
    X = _background(engine, "tiny_credit", 3)
    from_rows = engine.explain_rows("tiny_credit", X, ExplainSpec())
    np.testing.assert_array_equal(from_people.X, X)
    assert from_people.method == from_rows.method == "exact_shap"
    for a, b in [
        (from_people.explanation.values, from_rows.explanation.values),
        (from_people.explanation.base_values, from_rows.explanation.base_values),
        (from_people.explanation.outputs, from_rows.explanation.outputs),
    ]:
        np.testing.assert_array_equal(a, b)
    assert [i.given for i in from_people.instances] == people
    assert [i.given for i in from_rows.instances] == people
    assert [i.reasons for i in from_people.instances] == [i.reasons for i in from_rows.instances]


def test_an_explanation_adds_up_to_the_prediction(engine: Engine) -> None:
    X = _background(engine, "tiny_credit", 5)
    result = engine.explain_rows("tiny_credit", X, ExplainSpec())
    e = result.explanation
    assert result.output == "probability"  # the card's default
    assert e.values.shape == (5, 4, 2)
    np.testing.assert_allclose(e.base_values + e.values.sum(axis=1), e.outputs, rtol=0, atol=1e-9)
    # the explained output is the model's own probability (a float32 graph's)
    y = engine.registry.get("tiny_credit").runtime.run(X)
    np.testing.assert_allclose(e.outputs, y, rtol=0, atol=1e-6)
    for i, instance in enumerate(result.instances):
        np.testing.assert_array_equal(instance.attributions, e.values[i, :, 1])
        assert instance.output_value == e.outputs[i, 1]
        assert instance.base_value == e.base_values[i, 1]


def test_the_numbers_alone_are_the_explanations_numbers(engine: Engine) -> None:
    """``explain_numbers`` skips the people layer and gives row for row the same numbers."""
    model = engine.registry.get("tiny_credit")
    X = _background(engine, "tiny_credit", 3)
    spec = ExplainSpec(output="raw")
    numbers = engine.explain_numbers(model, X, spec)
    full = engine.explain_rows("tiny_credit", X, spec)
    assert not hasattr(numbers, "instances")
    assert numbers.method == full.method
    assert numbers.output == full.output == "raw"
    np.testing.assert_array_equal(numbers.explanation.values, full.explanation.values)
    np.testing.assert_array_equal(numbers.probabilities, model.runtime.run(X))
    assert list(numbers.targets) == [1, 1, 1]
    assert numbers.provenance.seed == full.provenance.seed


def test_validation_errors_name_the_instance_and_feature(engine: Engine) -> None:
    people = _people(engine, "tiny_credit", 3)
    people[1]["income"] = "lots"
    people[2]["employment"] = "retired"
    del people[2]["debt"]
    refused = _refusal(engine.explain, "tiny_credit", people, ExplainSpec())
    assert {d["field"] for d in refused.details} == {
        "instances[1].income",
        "instances[2].employment",
        "instances[2].debt",
    }
    assert refused.message.startswith("instances[1].income must be a number")


def test_too_many_instances_are_refused_before_validation(registry: ModelRegistry) -> None:
    engine = _with(registry, max_instances=2)
    people = [{"wrong": 1}] * 3
    for call in (engine.predict, engine.rows):
        refused = _refusal(call, "tiny_credit", people)
        assert refused.details == [{"field": "instances", "problem": "too many instances"}]


def test_a_request_over_the_explanation_budget_is_refused_before_any_work(
    registry: ModelRegistry,
) -> None:
    """Exact enumeration of 4 players over 30 background rows scores 480 rows a row."""
    recorder = ListRecorder()
    engine = _with(registry, recorder, max_explanation_rows=1_000)
    X = _background(engine, "tiny_credit", 3)
    refused = _refusal(engine.explain_rows, "tiny_credit", X, ExplainSpec())
    assert refused.details == [{"field": "options", "problem": "over the explanation budget"}]
    assert "would score 1,440 model rows" in refused.message
    assert "the limit is 1,000 (CLARION_MAX_EXPLANATION_ROWS)" in refused.message
    model = registry.get("tiny_credit")
    _refusal(engine.explain_numbers, model, X, ExplainSpec())
    assert recorder.records == []
    assert len(engine.explain_rows("tiny_credit", X[:2], ExplainSpec()).instances) == 2


def test_options_that_cannot_explain_the_model_are_said_in_words_before_the_budget(
    registry: ModelRegistry,
) -> None:
    """Too many players for an enumerating method is refused in the method's words, not
    as a number of model rows (a tree model in probability space used to read "would
    score 104,857,600 model rows")."""
    engine = _with(registry, max_explanation_rows=1_000)
    X = _background(engine, "tiny_credit", 3)  # 1,440 model rows: over the budget too
    spec = ExplainSpec(method="exact_shap", options={"max_players": 2})
    refused = _refusal(engine.explain_rows, "tiny_credit", X, spec)
    assert "allows at most 2 players; this model has 4" in refused.message
    assert "model rows" not in refused.message


def test_a_request_over_the_memory_budget_is_refused(registry: ModelRegistry) -> None:
    # 70 rows x 480 coalition rows, 4 columns of 8 bytes: just over 1 MiB at once
    engine = _with(registry, max_explanation_bytes=1_048_576)
    X = np.tile(_background(engine, "tiny_credit", 10), (7, 1))
    refused = _refusal(engine.explain_rows, "tiny_credit", X, ExplainSpec())
    assert refused.details == [
        {"field": "options", "problem": "over the explanation memory budget"}
    ]


def test_a_method_served_for_a_while_is_asked_for_anew_once_it_is_gone(
    registry: ModelRegistry,
) -> None:
    """The engine knows the method a spec resolves to after the first ask; a method
    ``register`` served for a block resolves while it is served and is refused in words
    (422) once it is gone, not looked up from what the engine knew."""

    class ExactCopy(ExactShap):
        name: ClassVar[str] = "exact_copy"

    engine = _with(registry)
    X = _background(engine, "tiny_credit", 2)
    spec = ExplainSpec(method="exact_copy")
    with register(ExactCopy):
        served = engine.explain_rows("tiny_credit", X, spec)
        assert served.method == "exact_copy"
        np.testing.assert_array_equal(
            served.explanation.values,
            engine.explain_rows(
                "tiny_credit", X, ExplainSpec(method="exact_shap")
            ).explanation.values,
        )
    refusal = _refusal(engine.explain_rows, "tiny_credit", X, spec)
    assert refusal.details == [{"field": "method", "problem": "unknown method"}]


def test_an_option_the_method_does_not_take_names_the_option(engine: Engine) -> None:
    X = _background(engine, "tiny_credit", 1)
    spec = ExplainSpec(method="exact_shap", options={"nsamples": 10})
    refused = _refusal(engine.explain_rows, "tiny_credit", X, spec)
    assert refused.details == [{"field": "options.nsamples", "problem": "unknown option"}]
    refused = _refusal(engine.explain_rows, "tiny_credit", X, ExplainSpec(options={"seed": -1}))
    assert refused.details[0]["field"] == "options.seed"


# -- targets and output spaces ------------------------------------------------------------
def test_a_binary_classifier_is_explained_toward_its_positive_class(engine: Engine) -> None:
    X = _background(engine, "tiny_credit", 6)
    result = engine.explain_rows("tiny_credit", X, ExplainSpec(output="raw"))
    labels = {i.prediction.label for i in result.instances}
    assert labels == {"declined", "approved"}  # whatever each row's predicted class
    assert [i.target for i in result.instances] == ["approved"] * 6


def test_an_explicit_target_is_explained(engine: Engine) -> None:
    X = _background(engine, "tiny_credit", 4)
    toward = engine.explain_rows("tiny_credit", X, ExplainSpec(target="declined"))
    assert [i.target for i in toward.instances] == ["declined"] * 4
    e = toward.explanation
    for i, instance in enumerate(toward.instances):
        np.testing.assert_array_equal(instance.attributions, e.values[i, :, 0])
    # two probabilities summing to 1: what raises one lowers the other by as much
    np.testing.assert_allclose(e.values[..., 0], -e.values[..., 1], rtol=0, atol=1e-6)


def test_an_unknown_target_is_refused(engine: Engine) -> None:
    X = _background(engine, "tiny_credit", 1)
    refused = _refusal(engine.explain_rows, "tiny_credit", X, ExplainSpec(target="maybe"))
    assert refused.details == [{"field": "target", "problem": "unknown class"}]
    assert "classes: ['declined', 'approved']" in refused.message


def test_a_regressor_explains_its_value_in_raw_space(engine: Engine) -> None:
    X = _background(engine, "tiny_regression", 4)
    for spec in (ExplainSpec(), ExplainSpec(output="raw", target="value")):
        result = engine.explain_rows("tiny_regression", X, spec)
        assert result.output == "raw"
        assert [i.target for i in result.instances] == ["value"] * 4
        values = result.explanation.values[..., 0]
        # f = 2 x0 - x1: exact Shapley values are w_j (x_j - mean b_j); 'ignored' gets 0
        background = engine.registry.get("tiny_regression").bundle.background
        expected = (X - background.mean(axis=0)) * np.array([2.0, -1.0, 0.0])
        np.testing.assert_allclose(values, expected, rtol=0, atol=1e-5)
        assert np.all(values[:, 2] == 0.0)
    refused = _refusal(engine.explain_rows, "tiny_regression", X, ExplainSpec(target="approved"))
    assert refused.details == [{"field": "target", "problem": "unknown target"}]


def test_probability_space_on_a_regressor_is_refused(engine: Engine) -> None:
    X = _background(engine, "tiny_regression", 1)
    refused = _refusal(engine.explain_rows, "tiny_regression", X, ExplainSpec(output="probability"))
    assert refused.details == [{"field": "output", "problem": "not a classifier"}]


def test_the_output_space_defaults_to_the_cards(engine: Engine) -> None:
    grouped = _background(engine, "tiny_grouped", 2)
    assert engine.explain_rows("tiny_grouped", grouped, ExplainSpec()).output == "raw"
    credit = _background(engine, "tiny_credit", 2)
    raw = engine.explain_rows("tiny_credit", credit, ExplainSpec(output="raw"))
    probability = engine.explain_rows("tiny_credit", credit, ExplainSpec())
    assert (raw.output, probability.output) == ("raw", "probability")
    # raw space is the logit: its explained output is the margin of the probability
    p = probability.explanation.outputs[:, 1]
    np.testing.assert_allclose(
        raw.explanation.outputs[:, 1], np.log(p) - np.log1p(-p), rtol=0, atol=1e-5
    )


def test_a_one_hot_group_is_explained_as_one_player(engine: Engine) -> None:
    X = _background(engine, "tiny_grouped", 2)
    e = engine.explain_rows("tiny_grouped", X, ExplainSpec()).explanation
    assert e.feature_names == ("a", "b", "colour")
    assert e.values.shape == (2, 3, 2)


# -- timing, the people layer, the page ----------------------------------------------------
def test_timing_says_where_the_time_went(registry: ModelRegistry) -> None:
    plain = _with(registry)
    X = _background(plain, "tiny_credit", 2)
    timing = plain.explain_rows("tiny_credit", X, ExplainSpec()).timing
    assert set(timing) == TIMING
    assert all(v >= 0 for v in timing.values())
    assert timing["explain_ms"] <= timing["compute_ms"]
    assert timing["total_ms"] >= timing["compute_ms"] + timing["people_ms"] - 0.01
    recorded = _with(registry, ListRecorder()).explain(
        "tiny_credit", _people(plain, "tiny_credit", 2), ExplainSpec()
    )
    assert set(recorded.timing) == TIMING | {"audit_ms"}


def test_what_people_are_told_comes_with_each_row(engine: Engine) -> None:
    X = _background(engine, "tiny_credit", 2)
    result = engine.explain_rows("tiny_credit", X, ExplainSpec(output="raw"))
    card = engine.registry.get("tiny_credit").bundle.card
    for x, instance in zip(X, result.instances, strict=True):
        assert instance.given == decode_row(card, x)
        assert 1 <= len(instance.reasons) <= card.max_reasons
        assert instance.told.narrative
        assert set(instance.quality) >= {"additivity_residual"}
    assert result.page is None
    page = engine.explain_rows("tiny_credit", X, ExplainSpec(format="html")).page
    assert page is not None
    assert page.lstrip().lower().startswith("<!doctype html")


def test_provenance_names_seed_background_and_provider(engine: Engine) -> None:
    model = engine.registry.get("tiny_credit")
    X = _background(engine, "tiny_credit", 1)
    result = engine.explain_rows("tiny_credit", X, ExplainSpec(options={"seed": 7}))
    p = result.provenance
    assert p.seed == 7
    assert p.background_rows == 30
    assert p.background_sha256 == model.bundle.background_sha256
    assert p.provider == "CPUExecutionProvider"
    assert set(p.versions) >= {"numpy", "onnxruntime", "shap", "lime"}


# -- the recorder -------------------------------------------------------------------------
def test_every_explanation_is_recorded_exactly_once(registry: ModelRegistry) -> None:
    recorder = ListRecorder()
    engine = _with(registry, recorder)
    origin = Origin(caller="alice", channel="cli", request_id="r-1")
    people = _people(engine, "tiny_credit", 2)
    first = engine.explain("tiny_credit", people, ExplainSpec(), origin=origin)
    second = engine.explain_rows("tiny_credit", first.X, ExplainSpec())
    assert [(r, o) for r, o in recorder.records] == [(first, origin), (second, Origin())]
    assert recorder.records[0][0] is first


def test_record_false_writes_no_record(registry: ModelRegistry) -> None:
    recorder = ListRecorder()
    engine = _with(registry, recorder)
    X = _background(engine, "tiny_credit", 2)
    engine.explain_rows("tiny_credit", X, ExplainSpec(), record=False)
    engine.explain("tiny_credit", _people(engine, "tiny_credit", 1), ExplainSpec(), record=False)
    engine.copy_coverage("tiny_credit", ["en"], sample=3)
    engine.predict("tiny_credit", _people(engine, "tiny_credit", 1))
    assert recorder.records == []


def test_a_failure_to_record_fails_the_explanation(registry: ModelRegistry) -> None:
    engine = _with(registry, BrokenRecorder())
    with pytest.raises(OSError, match="the audit store is gone"):
        engine.explain_rows("tiny_credit", _background(engine, "tiny_credit", 1), ExplainSpec())


# -- copy coverage --------------------------------------------------------------------------
def test_copy_coverage_from_the_card_alone(engine: Engine) -> None:
    card = engine.registry.get("tiny_credit").bundle.card
    report = engine.copy_coverage("tiny_credit", ["en", "de"])
    assert report == copy_coverage(card, ["en", "de"])
    assert (report.model, report.version) == ("tiny_credit", "1.0")
    assert [c.locale for c in report.locales] == ["en", "de"]
    assert report.basis.startswith("card only")
    assert not report.complete  # the tiny card has labels but no phrases
    en = report.locales[0]
    assert en.players == 4
    assert {g.feature for g in en.gaps} == {"income", "debt", "employment", "has_guarantor"}
    assert all(g.reachable for g in en.gaps)


def test_copy_coverage_from_a_sample_counts_the_features_seen(engine: Engine) -> None:
    card = engine.registry.get("tiny_credit").bundle.card
    report = engine.copy_coverage("tiny_credit", ["en"], sample=5)
    X = _background(engine, "tiny_credit", 5)
    seen = reached_in(
        engine.explain_rows("tiny_credit", X, ExplainSpec(output="raw"), record=False).instances
    )
    assert report == copy_coverage(card, ["en"], reached=seen)
    assert not report.basis.startswith("card only")
    assert {g.feature for g in report.locales[0].gaps if g.reachable} == seen


def test_a_raw_tree_explanation_runs_the_model_once_with_the_numbers_of_two_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The predictions and tree_shap's raw outputs come from one ONNX Runtime run
    # (LoadedModel.outputs, TreeSupport.predict_joint), bit for bit what a run of the
    # model's session and one of its margin graph give.
    import dataclasses

    import onnxruntime as ort

    from service.explain.trees.support import TreeSupport
    from tests.helpers.jobs import EXAMPLE_MODELS

    registry = ModelRegistry(make_settings(EXAMPLE_MODELS))
    registry.load_all()
    engine = Engine(registry, registry.settings)
    model = registry.get("german_credit")
    assert isinstance(model.trees, TreeSupport)
    X = model.bundle.background[:5]
    runs: list[int] = []
    run = ort.InferenceSession.run

    def counted(self: ort.InferenceSession, *args: Any, **kwargs: Any) -> Any:
        runs.append(1)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(ort.InferenceSession, "run", counted)
    spec = ExplainSpec(method="tree_shap", output="raw")
    engine.explain_rows("german_credit", X, spec, record=False)  # the game made once
    runs.clear()
    once = engine.explain_rows("german_credit", X, spec, record=False)
    assert len(runs) == 1
    monkeypatch.setattr(model, "trees", dataclasses.replace(model.trees, predict_joint=None))
    runs.clear()
    apart = engine.explain_rows("german_credit", X, spec, record=False)
    assert len(runs) == 2
    for a, b in ((once.explanation, apart.explanation),):
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.outputs, b.outputs)
        np.testing.assert_array_equal(a.base_values, b.base_values)
        np.testing.assert_array_equal(
            a.quality["additivity_residual"], b.quality["additivity_residual"]
        )
    assert [i.prediction for i in once.instances] == [i.prediction for i in apart.instances]
