"""diabetes_progression: a scikit-learn gradient boosting regressor on the diabetes data,
converted with skl2onnx; one float input ``features`` [N, 10]. No confidence buckets: a
regressor has no class probability to rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .bundle import Built
from .common import (
    ONNX_OPSET,
    SEEDS,
    background_rows,
    float_input,
    run_onnx,
    skl2onnx,
    split,
    verify,
)
from .spec import check_ranges, load_spec, to_matrix

__all__ = ["build"]


def build() -> Built:
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.metrics import mean_absolute_error, r2_score

    spec, seed = load_spec("diabetes_progression"), SEEDS["diabetes"]
    data = load_diabetes(scaled=False)
    frame = pd.DataFrame(np.asarray(data.data, dtype=np.float64), columns=spec.feature_names)
    frame["age"] = frame["age"].astype(np.int64)
    frame["sex"] = (frame["sex"] - 1).astype(np.int64)  # source codes 1/2 -> 0/1
    check_ranges(frame, spec.features)
    y = np.asarray(data.target, dtype=np.float64)
    X_train, X_test, y_train, y_test = split(frame, y, seed, stratify=False)
    model = GradientBoostingRegressor(
        n_estimators=100,
        max_depth=3,
        learning_rate=0.03,
        min_samples_leaf=10,
        subsample=0.8,
        random_state=seed,
    )
    model.fit(to_matrix(X_train, spec.features), y_train)
    n = len(spec.features)
    doc = "Gradient boosting diabetes progression regressor"
    onnx_bytes = skl2onnx(model, spec.name, float_input(n), doc)
    X_test_m = to_matrix(X_test, spec.features)
    native = model.predict(X_test_m)
    converted = run_onnx(onnx_bytes, {"features": X_test_m}, "variable")
    tolerance = 1e-4  # the graph sums and returns float32: one step near 300 is 3e-5
    return Built(
        spec=spec,
        onnx_bytes=onnx_bytes,
        background=background_rows(X_train, y_train, seed, stratify=False),
        metrics={
            "r2": float(r2_score(y_test, native)),
            "mae": float(mean_absolute_error(y_test, native)),
            "target_std": float(np.std(y_test)),
        },
        max_diff=verify(spec.name, native, converted, tolerance),
        tolerance=tolerance,
        model_summary=(
            "scikit-learn `GradientBoostingRegressor`: 100 trees of depth 3, learning rate "
            "0.03, at least 10 rows per leaf, row subsampling 0.8 (seeded), squared error; "
            "picked by 5-fold cross-validation on the training split from a small grid. "
            f"Converted with skl2onnx (opset {ONNX_OPSET}). One float input `features` "
            f"[N, {n}] in card order; output `variable` [N, 1]."
        ),
        n_train=len(X_train),
        n_test=len(X_test),
    )
