"""OnnxModel: canonical rows in, (n_samples, n_outputs) float64 out, whatever the graph's
input layout; chunking never changes an answer; the raw space is the link applied to the
probabilities. Checked on real sessions over the tiny bundles and the example bundles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from numpy.typing import NDArray

from service.errors import BundleRejected
from service.models.bundle import Bundle, BundleLimits, read_bundle_dir
from service.models.card import parse_card
from service.models.instances import decode_row
from service.models.runtime import OnnxModel, available_providers, onnxruntime_version

MODELS = Path(__file__).resolve().parents[3] / "models"


def _bundle(folder: Path) -> Bundle:
    return read_bundle_dir(folder, BundleLimits())


@pytest.fixture(scope="module")
def credit(tiny_models_dir: Path) -> Bundle:
    return _bundle(tiny_models_dir / "tiny_credit")


@pytest.fixture(scope="module")
def regression(tiny_models_dir: Path) -> Bundle:
    return _bundle(tiny_models_dir / "tiny_regression")


@pytest.fixture(scope="module")
def hiring() -> Bundle:
    """Per-feature graph inputs: float, int64 and string tensors."""
    return _bundle(MODELS / "hiring_screen")


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


def _ort_run(bundle: Bundle, feeds: dict[str, Any], output: str) -> NDArray[np.float64]:
    session = ort.InferenceSession(bundle.model_bytes, providers=["CPUExecutionProvider"])
    (y,) = session.run([output], feeds)
    return np.asarray(y, dtype=np.float64)


def test_a_classifier_answers_one_probability_per_class(credit: Bundle) -> None:
    model = OnnxModel(credit.model, credit.card)
    X = credit.background
    y = model.run(X)
    assert y.shape == (X.shape[0], 2)
    assert y.dtype == np.float64
    assert model.n_outputs == 2
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=0, atol=1e-6)
    assert np.all((y >= 0) & (y <= 1))
    np.testing.assert_array_equal(model.predict_proba(X), y)


def test_a_regressor_answers_one_column(regression: Bundle) -> None:
    model = OnnxModel(regression.model, regression.card)
    X = regression.background
    y = model.run(X)
    assert y.shape == (X.shape[0], 1)
    assert y.dtype == np.float64
    # the card's model is 2 x0 - x1 with the third feature ignored (float32 graph)
    np.testing.assert_allclose(y[:, 0], 2.0 * X[:, 0] - X[:, 1], rtol=0, atol=1e-5)
    assert model.link == "identity"


def test_no_rows_give_an_empty_answer_of_the_right_width(credit: Bundle) -> None:
    model = OnnxModel(credit.model, credit.card)
    assert model.run(credit.background[:0]).shape == (0, 2)


@pytest.mark.parametrize("chunk_rows", [1, 7, 30])
def test_chunking_gives_the_answer_of_one_big_batch(credit: Bundle, chunk_rows: int) -> None:
    whole = OnnxModel(credit.model, credit.card)
    chunked = OnnxModel(credit.model, credit.card, chunk_rows=chunk_rows)
    X = credit.background
    # Every row is scored once, in order; ONNX Runtime's one-row kernel may round the
    # float32 graph's last bit differently from its batched one, hence a float32 ulp.
    np.testing.assert_allclose(chunked.run(X), whole.run(X), rtol=0, atol=1e-6)


def test_the_answers_are_onnx_runtimes_own(credit: Bundle) -> None:
    model = OnnxModel(credit.model, credit.card)
    X = credit.background
    expected = _ort_run(credit, {"X": X.astype(np.float32)}, "probabilities")
    np.testing.assert_array_equal(model.run(X), expected)


def test_the_providers_in_use_are_reported(credit: Bundle) -> None:
    model = OnnxModel(credit.model, credit.card)
    assert model.requested_providers == ("CPUExecutionProvider",)
    assert model.providers_in_use == ("CPUExecutionProvider",)
    assert "CPUExecutionProvider" in available_providers()
    assert onnxruntime_version() == ort.__version__


def test_an_unavailable_provider_falls_back_to_the_cpu_and_says_so(credit: Bundle) -> None:
    wanted = ("NoSuchExecutionProvider", "CPUExecutionProvider")
    model = OnnxModel(credit.model, credit.card, providers=wanted)
    assert model.requested_providers == wanted
    assert model.providers_in_use == ("CPUExecutionProvider",)
    assert model.run(credit.background[:2]).shape == (2, 2)


def test_binary_raw_space_is_the_logit_of_the_probability(credit: Bundle) -> None:
    model = OnnxModel(credit.model, credit.card)
    assert model.link == "logit"
    X = credit.background
    p = model.function("probability")(X)
    raw = model.function("raw")(X)
    assert raw.shape == p.shape == (X.shape[0], 2)
    np.testing.assert_array_equal(p, model.run(X))
    np.testing.assert_array_equal(raw, model.predict_raw(X))
    np.testing.assert_allclose(_sigmoid(raw[:, 1]), p[:, 1], rtol=0, atol=1e-6)
    np.testing.assert_allclose(_sigmoid(raw[:, 0]), p[:, 0], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(raw[:, 0], -raw[:, 1])


def test_a_multiclass_link_is_centred_log_probability(credit: Bundle) -> None:
    model = OnnxModel(credit.model, credit.card, link="log")
    X = credit.background
    p = model.run(X)
    raw = model.predict_raw(X)
    np.testing.assert_allclose(raw.sum(axis=1), 0.0, rtol=0, atol=1e-9)
    softmax = np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax, p, rtol=0, atol=1e-6)


def test_an_identity_link_leaves_probabilities_alone(credit: Bundle) -> None:
    model = OnnxModel(credit.model, credit.card, link="identity")
    X = credit.background
    np.testing.assert_array_equal(model.predict_raw(X), model.run(X))


def test_a_regressors_raw_space_is_its_value(regression: Bundle) -> None:
    model = OnnxModel(regression.model, regression.card)
    X = regression.background
    np.testing.assert_array_equal(model.function("raw")(X), model.run(X))
    np.testing.assert_array_equal(model.function("probability")(X), model.run(X))


def test_a_float32_matrix_input_builds_rows_in_float32(credit: Bundle) -> None:
    model = OnnxModel(credit.model, credit.card)
    assert model.layout.kind == "matrix"
    assert model.input_dtype is np.float32
    X = credit.background
    # rows built in the input's own dtype give exactly the float64 rows' answer
    np.testing.assert_array_equal(model.run(X.astype(np.float32)), model.run(X))


def test_per_feature_inputs_get_their_own_types(hiring: Bundle) -> None:
    """Strings for categories, rounded int64 for integer inputs, float32 for the rest,
    exactly as the graph would be fed by hand from the person's values."""
    model = OnnxModel(hiring.model, hiring.card)
    assert model.layout.kind == "per_feature"
    assert model.input_dtype is np.float64
    X = hiring.background[:12]
    types = {i.name: i.type.tensor_type.elem_type for i in hiring.model.graph.input}
    assert onnx.TensorProto.STRING in types.values()
    assert onnx.TensorProto.INT64 in types.values()
    rows = [decode_row(hiring.card, x) for x in X]
    feeds: dict[str, Any] = {}
    for f in hiring.card.features:
        column = [row[f.name] for row in rows]
        if types[f.name] == onnx.TensorProto.STRING:
            feeds[f.name] = np.asarray(column, dtype=object).reshape(-1, 1)
        elif types[f.name] == onnx.TensorProto.INT64:
            feeds[f.name] = np.asarray(column, dtype=np.int64).reshape(-1, 1)
        else:
            feeds[f.name] = np.asarray(column, dtype=np.float32).reshape(-1, 1)
    session = ort.InferenceSession(hiring.model_bytes, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs() if o.type == "tensor(float)"]
    (expected,) = session.run(outputs[:1], feeds)
    np.testing.assert_array_equal(model.run(X), np.asarray(expected, dtype=np.float64))
    # an integer input is rounded, not truncated: 1.9999999 reads as 2
    nudged = X.copy()
    int_columns = [
        j for j, f in enumerate(hiring.card.features) if types[f.name] == onnx.TensorProto.INT64
    ]
    nudged[:, int_columns] -= 1e-7
    np.testing.assert_array_equal(model.run(nudged), model.run(X))


def test_a_card_with_the_wrong_number_of_features_is_refused(credit: Bundle) -> None:
    raw = credit.card.model_dump(mode="json", exclude_unset=True)
    raw["features"] = raw["features"][:3]
    card = parse_card(json.dumps(raw))
    with pytest.raises(BundleRejected, match="has 4 columns but the card lists 3 features"):
        OnnxModel(credit.model, card)


def test_a_classifier_card_on_a_regressor_graph_is_refused(
    credit: Bundle, regression: Bundle
) -> None:
    """A classifier card on a regressor's graph is refused: no output holds 2 classes."""
    card = credit.card.model_copy(update={"features": regression.card.features})
    with pytest.raises(BundleRejected, match="class probabilities"):
        OnnxModel(regression.model, card)
