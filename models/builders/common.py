"""The steps every bundle's build shares: split, background, conversion, verification,
metrics and confidence calibration, plus the build-wide constants.

Nothing here prints: ``models/build.py`` reports progress from what the builders return.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from service.models.card import ConfidenceSpec
from service.people.confidence import calibrate_buckets

__all__ = [
    "CARD_VERSION",
    "CONFIDENCE_MIN_ROWS",
    "CONFIDENCE_TARGETS",
    "COPY_DIR",
    "N_BACKGROUND",
    "ONNX_OPSET",
    "SEEDS",
    "TEST_SIZE",
    "BuildError",
    "background_rows",
    "calibrate",
    "classifier_metrics",
    "finish_onnx",
    "float_input",
    "run_onnx",
    "skl2onnx",
    "split",
    "tidy",
    "verify",
]

COPY_DIR = pathlib.Path(__file__).resolve().parents[1]  # models/, beside card_copy*.yaml
N_BACKGROUND = 100
TEST_SIZE = 0.25
CARD_VERSION = "1.0.0"
ONNX_OPSET = 15  # onnxmltools caps the default domain at 15 (TRAPS.md); used for all four
SEEDS = {"german_credit": 1101, "breast_cancer": 2202, "hiring_screen": 3303, "diabetes": 4404}
# Accuracy targets for the confidence buckets (calibrate_buckets' defaults, stated here so
# that the README can quote them).
CONFIDENCE_TARGETS = {"high": 0.90, "moderate": 0.75}
CONFIDENCE_MIN_ROWS = 20  # a threshold must keep at least this many held-out rows above it


class BuildError(RuntimeError):
    """A bundle failed a check while being built (conversion mismatch, unexpected data)."""


def tidy(value: float) -> float | int:
    """Integral floats as ints, so that YAML and CSV read naturally."""
    return int(value) if float(value).is_integer() else float(value)


def split(
    X: pd.DataFrame, y: NDArray[Any], seed: int, *, stratify: bool
) -> tuple[pd.DataFrame, pd.DataFrame, NDArray[Any], NDArray[Any]]:
    """(X_train, X_test, y_train, y_test): TEST_SIZE of the rows held out, seeded."""
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, random_state=seed, stratify=y if stratify else None
    )
    return (
        X_train.reset_index(drop=True),
        X_test.reset_index(drop=True),
        np.asarray(y_train),
        np.asarray(y_test),
    )


def background_rows(
    X_train: pd.DataFrame, y_train: NDArray[Any], seed: int, *, stratify: bool
) -> pd.DataFrame:
    """N_BACKGROUND training rows drawn with a fixed seed (stratified by label if asked)."""
    from sklearn.model_selection import train_test_split

    rows, _ = train_test_split(
        np.arange(len(X_train)),
        train_size=N_BACKGROUND,
        random_state=seed,
        stratify=y_train if stratify else None,
    )
    return X_train.iloc[np.sort(rows)].reset_index(drop=True)


def run_onnx(onnx_bytes: bytes, feeds: Mapping[str, Any], output: str) -> NDArray[np.float64]:
    """One output of the graph on ``feeds``, single-threaded on the CPU."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # onnxmltools' LightGBM graphs warn on every run
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
    )
    (y,) = session.run([output], dict(feeds))
    return np.asarray(y, dtype=np.float64)


def verify(name: str, native: NDArray[Any], converted: NDArray[Any], tolerance: float) -> float:
    """Max |native - ONNX| over held-out rows; raises BuildError above ``tolerance``."""
    a = np.asarray(native, dtype=np.float64).reshape(len(native), -1)
    b = np.asarray(converted, dtype=np.float64).reshape(len(converted), -1)
    if a.shape != b.shape:
        raise BuildError(f"{name}: ONNX output shape {b.shape}, native {a.shape}")
    diff = float(np.max(np.abs(a - b)))
    if not diff <= tolerance:  # also catches NaN
        raise BuildError(f"{name}: ONNX output differs from the native model by {diff:.3g}")
    return diff


def classifier_metrics(y_true: NDArray[Any], proba: NDArray[Any]) -> dict[str, float]:
    """Metrics for binary labels y_true (1 = positive) and proba [N, 2] = P(0), P(1)."""
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    return {
        "accuracy": float(accuracy_score(y_true, proba.argmax(axis=1))),
        "roc_auc": float(roc_auc_score(y_true, proba[:, 1])),
        "log_loss": float(log_loss(y_true, proba)),
    }


def calibrate(
    probabilities: NDArray[np.float64], labels: NDArray[Any], seed: int
) -> ConfidenceSpec:
    """The card's ``confidence`` section from the held-out split.

    probabilities: (n_samples, n_classes) from ONNX Runtime, in card class order (what the
    service will rate); labels: (n_samples,) class indices in the same order.
    """
    n = len(labels)
    high, moderate = CONFIDENCE_TARGETS["high"], CONFIDENCE_TARGETS["moderate"]
    basis = (
        f"calibrated on the {n:,} held-out rows of the build's seeded test split "
        f"(seed {seed}; at least {high:.0%} correct in the high bucket, "
        f"{moderate:.0%} within the moderate band)"
    )
    return calibrate_buckets(
        np.asarray(probabilities, dtype=np.float64),
        np.asarray(labels, dtype=np.int64),
        high=high,
        moderate=moderate,
        min_rows=CONFIDENCE_MIN_ROWS,
        basis=basis,
    )


def finish_onnx(model: Any, name: str, doc: str) -> bytes:
    """Name the graph, run the ONNX checker, serialise."""
    import onnx

    model.graph.name = name
    model.doc_string = doc
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def float_input(n_features: int) -> list[tuple[str, Any]]:
    """skl2onnx's initial types for one float input ``features`` [N, n_features]."""
    from skl2onnx.common.data_types import FloatTensorType

    return [("features", FloatTensorType([None, n_features]))]


def skl2onnx(model: Any, name: str, initial_types: Sequence[tuple[str, Any]], doc: str) -> bytes:
    """A fitted scikit-learn model as ONNX bytes (probabilities as a plain tensor, no zipmap)."""
    from skl2onnx import convert_sklearn

    options = {id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
    onx = convert_sklearn(
        model,
        name=name,
        initial_types=list(initial_types),
        target_opset={"": ONNX_OPSET, "ai.onnx.ml": 1},
        options=options,
    )
    return finish_onnx(onx, name, doc)
