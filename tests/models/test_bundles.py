"""Sanity checks for the committed example bundles in ``models/<name>/``.

Each bundle must load as a card, carry a 100-row background that matches the card, hold
a valid ONNX graph whose inputs follow one of the two layouts the card rules allow, and
give finite outputs (probabilities summing to 1) on its own background. Every card speaks
German as well as English (every feature, category and outcome), every classifier carries
confidence buckets calibrated on its held-out split, and the registry serves exactly the
four bundles (``models/builders/`` is code, not a bundle).
"""

from __future__ import annotations

import csv
import pathlib
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from numpy.typing import NDArray

from service.models.card import Feature, ModelCard, load_card
from service.models.registry import ModelRegistry
from tests.support import make_settings

MODELS = pathlib.Path(__file__).resolve().parents[2] / "models"
BUNDLES = ("german_credit", "breast_cancer", "hiring_screen", "diabetes_progression")
CLASSIFIERS = ("german_credit", "breast_cancer", "hiring_screen")
LOCALES = ("de",)  # besides English
MAX_MODEL_BYTES = 2_000_000

_NUMPY_TYPES: dict[int, Any] = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.DOUBLE: np.float64,
    onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.STRING: object,
}


def _card(name: str) -> ModelCard:
    return load_card(MODELS / name / "card.yaml")


def _background(name: str) -> tuple[list[str], list[list[str]]]:
    with open(MODELS / name / "background.csv", newline="", encoding="utf-8") as fh:
        header, *rows = list(csv.reader(fh))
    return header, rows


def _column(feature: Feature, cells: list[str], elem_type: int) -> NDArray[Any]:
    """One background column as the graph wants it (card encoding rules), shape [N]."""
    if feature.type == "categorical":
        if elem_type == onnx.TensorProto.STRING:
            return np.asarray(cells, dtype=object)
        categories = [str(c) for c in feature.categories or ()]
        return np.asarray([categories.index(c) for c in cells], dtype=np.float64)
    return np.asarray([float(c) for c in cells], dtype=np.float64)


def _feeds(model: onnx.ModelProto, card: ModelCard, rows: list[list[str]]) -> dict[str, Any]:
    inputs = list(model.graph.input)
    columns = list(zip(*rows, strict=True))
    if len(inputs) == 1:  # one [N, n_features] tensor in card order
        elem = inputs[0].type.tensor_type.elem_type
        matrix = np.column_stack(
            [_column(f, list(columns[i]), elem) for i, f in enumerate(card.features)]
        )
        return {inputs[0].name: matrix.astype(_NUMPY_TYPES[elem])}
    by_name = {vi.name: vi.type.tensor_type.elem_type for vi in inputs}
    feeds = {}
    for i, f in enumerate(card.features):
        elem = by_name[f.name]
        feeds[f.name] = _column(f, list(columns[i]), elem).astype(_NUMPY_TYPES[elem])[:, None]
    return feeds


def _outputs(name: str) -> NDArray[np.float64]:
    """The bundle's probability (classifier) or value (regressor) output on its background."""
    card = _card(name)
    model = onnx.load(MODELS / name / "model.onnx")
    _, rows = _background(name)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )
    wanted = [o.name for o in session.get_outputs() if o.type == "tensor(float)"]
    assert len(wanted) == 1, wanted
    (y,) = session.run(wanted, _feeds(model, card, rows))
    return np.asarray(y, dtype=np.float64).reshape(len(rows), -1)


@pytest.mark.parametrize("name", BUNDLES)
def test_card_loads_and_names_the_bundle(name: str) -> None:
    card = _card(name)
    assert card.name == name
    names = set(card.feature_names)
    for f in card.features:
        assert f.label
        assert f.description
        assert f.code
        assert f.phrases.raises
        assert f.phrases.lowers
        assert f.proxy_for is None or f.proxy_for in names
        assert not f.nullable


@pytest.mark.parametrize("name", BUNDLES)
def test_background_matches_the_card(name: str) -> None:
    card = _card(name)
    header, rows = _background(name)
    assert tuple(header) == card.feature_names
    assert len(rows) == 100
    for i, f in enumerate(card.features):
        cells = [row[i] for row in rows]
        if f.type == "categorical":
            assert set(cells) <= {str(c) for c in f.categories or ()}, f.name
        elif f.type == "binary":
            assert set(cells) <= {"0", "1"}, f.name
        else:
            values = np.asarray([float(c) for c in cells])
            assert f.range is not None
            assert values.min() >= f.range[0], f.name
            assert values.max() <= f.range[1], f.name


@pytest.mark.parametrize("name", BUNDLES)
def test_onnx_graph_is_valid_and_small(name: str) -> None:
    path = MODELS / name / "model.onnx"
    assert path.stat().st_size < MAX_MODEL_BYTES
    onnx.checker.check_model(str(path))
    inputs = onnx.load(path).graph.input
    card = _card(name)
    if len(inputs) > 1:  # one [N, 1] input per feature, named like the feature
        assert tuple(vi.name for vi in inputs) == card.feature_names


@pytest.mark.parametrize("name", BUNDLES)
def test_outputs_on_background_are_finite(name: str) -> None:
    card = _card(name)
    y = _outputs(name)
    assert np.isfinite(y).all()
    if card.task == "classification":
        assert y.shape == (100, len(card.classes or ()))
        assert (y >= 0).all()
        assert (y <= 1).all()
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=0, atol=1e-5)
    else:
        assert y.shape == (100, 1)


def test_german_credit_marks_its_protected_attributes() -> None:
    card = _card("german_credit")
    protected = {f.name for f in card.features if f.protected}
    assert protected == {"age", "personal_status_sex", "foreign_worker"}
    assert card.domain == "credit"
    assert card.positive_class == "bad"
    assert card.classes == ("good", "bad")


def test_hiring_screen_marks_the_planted_proxy() -> None:
    card = _card("hiring_screen")
    assert {f.name for f in card.features if f.protected} == {"gender"}
    assert {f.name: f.proxy_for for f in card.features if f.proxy_for} == {
        "career_gap_months": "gender"
    }
    assert 6 <= len(card.features) <= 9


def test_health_bundles_are_marked_sensitive() -> None:
    for name in ("breast_cancer", "diabetes_progression"):
        card = _card(name)
        assert card.domain == "health"
        assert all(f.sensitive for f in card.features)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", BUNDLES)
def test_every_feature_has_reviewed_copy_in_each_locale(name: str, locale: str) -> None:
    card = _card(name)
    assert not card.groups  # no group labels to translate; add a check when one has groups
    for f in card.features:
        local = f.translations.get(locale)
        assert local is not None, f"{name}.{f.name} has no {locale} copy"
        assert local.label, f.name
        assert local.description, f.name
        # Said to people as reasons: translated, never the English sentence again.
        assert local.raises, f.name
        assert local.lowers, f.name
        assert local.raises != f.phrases.raises, f.name
        assert local.lowers != f.phrases.lowers, f.name
        assert set(local.categories) == {str(c) for c in f.categories or ()}, f.name
        assert all(local.categories.values()), f.name
        assert (local.unit is None) == (f.unit is None), f.name


@pytest.mark.parametrize("name", BUNDLES)
def test_classifiers_name_every_outcome_in_every_locale(name: str) -> None:
    card = _card(name)
    if card.task == "regression":
        assert not card.outcome_labels
        return
    assert set(card.outcome_labels) == {"en", *LOCALES}
    for locale, labels in card.outcome_labels.items():
        assert set(labels) == set(card.classes or ()), locale
        assert all(labels.values()), locale
    assert card.outcome_labels["de"] != card.outcome_labels["en"]


@pytest.mark.parametrize("name", BUNDLES)
def test_classifiers_carry_buckets_calibrated_on_held_out_rows(name: str) -> None:
    card = _card(name)
    if card.task == "regression":
        assert card.confidence is None
        return
    spec = card.confidence
    assert spec is not None, f"{name} has no calibrated confidence section"
    assert 0.5 <= spec.moderate <= spec.high <= 1.0  # binary: the top class has p >= 0.5
    assert "held-out" in spec.basis
    assert spec.observed, "calibrate_buckets records the accuracy seen per bucket"
    if "high" in spec.observed:
        assert spec.observed["high"] >= 0.90
    readme = (MODELS / name / "README.md").read_text(encoding="utf-8")
    assert "## Confidence buckets" in readme
    assert f"| high | ≥ {spec.high:.4f} |" in readme
    assert f"| moderate | ≥ {spec.moderate:.4f} |" in readme


def test_classifier_list_matches_the_cards() -> None:
    assert tuple(n for n in BUNDLES if _card(n).task == "classification") == CLASSIFIERS


def test_the_registry_serves_the_four_bundles_and_skips_the_builders() -> None:
    assert (MODELS / "builders").is_dir()
    registry = ModelRegistry(make_settings(MODELS))
    registry.load_all()
    assert not registry.refused, registry.refused
    assert sorted(m.name for m in registry) == sorted(BUNDLES)
