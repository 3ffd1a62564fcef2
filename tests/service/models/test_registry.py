"""The loader composes a model from parts that never change after load: the session, and
the tree capability (verified trees, or why there are none)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.explain.trees import TreeSupport, TreeUnsupported
from service.models.bundle import read_bundle_dir
from service.models.registry import build_model, limits_from
from service.models.runtime import OnnxModel
from tests.support import make_settings

MODELS = Path(__file__).resolve().parents[3] / "models"


def test_a_tree_model_answers_raw_space_with_its_margin_graph() -> None:
    settings = make_settings(MODELS)
    bundle = read_bundle_dir(MODELS / "german_credit", limits_from(settings))
    loaded = build_model(bundle, settings)
    assert isinstance(loaded.trees, TreeSupport)
    X = bundle.background[:5]
    np.testing.assert_array_equal(loaded.function("raw")(X), loaded.trees.predict_raw(X))
    np.testing.assert_array_equal(loaded.function("probability")(X), loaded.runtime.run(X))
    # the tree analysis changed nothing in the runtime: it means what a fresh session means
    fresh = OnnxModel(bundle.model, bundle.card)
    assert loaded.runtime.link == fresh.link
    np.testing.assert_array_equal(loaded.runtime.function("raw")(X), fresh.function("raw")(X))
    model = loaded.capabilities("probability")
    assert (model.n_players, model.task, model.output_space) == (
        len(bundle.card.players),
        "classification",
        "probability",
    )
    assert model.trees is loaded.trees


def test_a_model_without_trees_keeps_the_reason(tiny_models_dir: Path) -> None:
    settings = make_settings(tiny_models_dir)
    bundle = read_bundle_dir(tiny_models_dir / "tiny_credit", limits_from(settings))
    loaded = build_model(bundle, settings)
    trees = loaded.capabilities().trees
    assert isinstance(trees, TreeUnsupported)
    assert trees is loaded.trees
    X = bundle.background[:3]
    np.testing.assert_array_equal(loaded.function("raw")(X), loaded.runtime.predict_raw(X))


def test_a_binary_card_without_positive_class_is_loaded_with_a_warning(
    tiny_models_dir: Path,
) -> None:
    # Issue 16, defect 11: explanations then point to the second class for every row
    # (as scikit-learn and shap do), and loading says so.
    import dataclasses

    from structlog.testing import capture_logs

    settings = make_settings(tiny_models_dir)
    bundle = read_bundle_dir(tiny_models_dir / "tiny_credit", limits_from(settings))
    raw = bundle.card.model_dump(exclude_unset=True)
    raw.pop("positive_class", None)
    card = type(bundle.card).model_validate(raw)
    assert card.positive_class == card.classes[1] if card.classes else False
    with capture_logs() as logs:
        build_model(dataclasses.replace(bundle, card=card), settings)
    warned = [e for e in logs if e["event"] == "model.positive_class_defaulted"]
    assert [(e["log_level"], e["positive_class"]) for e in warned] == [
        ("warning", card.classes[1] if card.classes else None)
    ]
    with capture_logs() as logs:
        build_model(bundle, settings)
    assert not [e for e in logs if e["event"] == "model.positive_class_defaulted"]
