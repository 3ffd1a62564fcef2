"""Test support: tiny real model bundles (trained in milliseconds, converted with skl2onnx)
and settings built explicitly.

Each builder writes ``model.onnx``, ``card.yaml`` and ``background.csv`` into a
folder, exactly as a user would ship a bundle.
"""

from __future__ import annotations

import csv
import io
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

from service.settings import Settings

__all__ = ["credit_bundle", "grouped_bundle", "regression_bundle", "write_bundle"]


def _to_onnx(estimator: Any, n_features: int, *, zipmap: bool = False) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(estimator): {"zipmap": zipmap}} if hasattr(estimator, "predict_proba") else None
    onx = to_onnx(
        estimator,
        initial_types=[("X", FloatTensorType([None, n_features]))],
        options=options,
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    return bytes(onx.SerializeToString())


def _csv(header: list[str], rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode()


def write_bundle(folder: Path, model: bytes, card: dict[str, Any], background: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(model)
    (folder / "card.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    (folder / "background.csv").write_bytes(background)
    return folder


EMPLOYMENT = ["unemployed", "part_time", "full_time"]


def _credit_data(rng: np.random.Generator, n: int) -> tuple[NDArray[np.float64], NDArray[Any]]:
    income = rng.uniform(10, 200, n)
    debt = rng.uniform(0, 100, n)
    employment = rng.integers(0, 3, n).astype(float)
    guarantor = rng.integers(0, 2, n).astype(float)
    X = np.column_stack([income, debt, employment, guarantor])
    logit = 0.03 * income - 0.05 * debt + 0.8 * employment + 1.0 * guarantor - 2.0
    y = (logit + rng.normal(0, 0.5, n) > 0).astype(int)
    return X, y


def credit_bundle(root: Path, name: str = "tiny_credit") -> Path:
    """Binary logistic regression on 4 features (numeric, categorical, binary)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    X, y = _credit_data(rng, 400)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    card = {
        "name": name,
        "version": "1.0",
        "task": "classification",
        "domain": "credit",
        "classes": ["declined", "approved"],
        "positive_class": "approved",
        "output": {"default": "probability"},
        "features": [
            {"name": "income", "label": "Monthly income", "range": [0, 500], "unit": "kEUR"},
            {"name": "debt", "label": "Outstanding debt", "range": [0, 200]},
            {"name": "employment", "type": "categorical", "categories": EMPLOYMENT},
            {"name": "has_guarantor", "type": "binary"},
        ],
    }
    rows = [[round(r[0], 3), round(r[1], 3), EMPLOYMENT[int(r[2])], int(r[3])] for r in X[:30]]
    header = ["income", "debt", "employment", "has_guarantor"]
    return write_bundle(root / name, _to_onnx(model, 4), card, _csv(header, rows))


def credit_bundle_v2(root: Path) -> Path:
    """tiny_credit at version 2.0: the same card and background, a more regularised model."""
    from sklearn.linear_model import LogisticRegression

    folder = credit_bundle(root)
    X, y = _credit_data(np.random.default_rng(7), 400)
    model = LogisticRegression(C=0.001, max_iter=1000).fit(X, y)
    (folder / "model.onnx").write_bytes(_to_onnx(model, 4))
    card = yaml.safe_load((folder / "card.yaml").read_text())
    card["version"] = "2.0"
    (folder / "card.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    return folder


def grouped_bundle(root: Path, name: str = "tiny_grouped") -> Path:
    """A small MLP over two numbers and a one-hot colour (three columns, one player)."""
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(11)
    n = 300
    a, b = rng.normal(size=n), rng.normal(size=n)
    colour = rng.integers(0, 3, n)
    onehot = np.eye(3)[colour]
    X = np.column_stack([a, b, onehot])
    y = ((a + 0.5 * b + np.array([-1.0, 0.0, 1.0])[colour]) > 0).astype(int)
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2000, random_state=0).fit(X, y)
    card = {
        "name": name,
        "version": "1.0",
        "task": "classification",
        "classes": ["no", "yes"],
        "positive_class": "yes",
        "groups": {"colour": "Colour"},
        "features": [
            {"name": "a"},
            {"name": "b"},
            {"name": "colour_red", "type": "binary", "group": "colour"},
            {"name": "colour_green", "type": "binary", "group": "colour"},
            {"name": "colour_blue", "type": "binary", "group": "colour"},
        ],
    }
    rows = [[round(r[0], 4), round(r[1], 4), *[int(v) for v in r[2:]]] for r in X[:20]]
    header = ["a", "b", "colour_red", "colour_green", "colour_blue"]
    return write_bundle(root / name, _to_onnx(model, 5), card, _csv(header, rows))


def regression_bundle(root: Path, name: str = "tiny_regression") -> Path:
    """Linear regression with a feature the model ignores (its attribution must be 0)."""
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    y = 2.0 * X[:, 0] - 1.0 * X[:, 1]
    model = LinearRegression().fit(X, y)
    model.coef_[2] = 0.0
    card = {
        "name": name,
        "version": "2.1",
        "task": "regression",
        "features": [{"name": "x0"}, {"name": "x1"}, {"name": "ignored", "nullable": False}],
    }
    rows = [[round(v, 4) for v in r] for r in X[:25]]
    return write_bundle(root / name, _to_onnx(model, 3), card, _csv(["x0", "x1", "ignored"], rows))


def make_settings(
    models_dir: Path, *, database_url: str | None = None, **overrides: Any
) -> Settings:
    """Settings for tests, built explicitly (the conftest clears CLARION_* variables).

    Every app gets its own audit store: ``database_url``, or a fresh SQLite file in a new
    temporary folder (never the repository's ``data/``).
    """
    if database_url is None:
        folder = Path(tempfile.mkdtemp(prefix="clarion-audit-"))
        database_url = f"sqlite:///{(folder / 'audit.db').as_posix()}"
    # Job files too stay out of the repository's data/ (the folder is made on first use).
    overrides.setdefault(
        "jobs_dir", (Path(tempfile.gettempdir()) / f"clarion-jobs-{uuid.uuid4().hex}").as_posix()
    )
    # So does the audit encryption key the service makes when none is configured.
    overrides.setdefault(
        "data_dir", Path(tempfile.gettempdir()) / f"clarion-data-{uuid.uuid4().hex}"
    )
    # Warming every method in a background thread imports shap there, racing the imports
    # of the tests themselves; tests that need it warm say so.
    overrides.setdefault("warm_methods", False)
    return Settings(models_dir=models_dir, database_url=database_url, **overrides)
