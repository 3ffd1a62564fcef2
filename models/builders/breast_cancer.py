"""breast_cancer: a scikit-learn random forest on the Wisconsin diagnostic data, converted
with skl2onnx; one float input ``features`` [N, 30].

The 30 features are sklearn's order, each statistic (mean, se, worst) over ten measurements;
their words, in every locale, come from two templates in the copy files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .bundle import Built
from .common import (
    ONNX_OPSET,
    SEEDS,
    background_rows,
    calibrate,
    classifier_metrics,
    float_input,
    run_onnx,
    skl2onnx,
    split,
    verify,
)
from .spec import LOCALES, Feat, LocalFeat, check_ranges, load_spec, read_copy, to_matrix

__all__ = ["build", "cancer_features", "cancer_local_features"]

NAME = "breast_cancer"


def _nice_ceil(value: float) -> float:
    """Round up to two significant digits (0.2445 -> 0.25, 3751.5 -> 3800)."""
    if value <= 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    return round(math.ceil(value / step - 1e-9) * step, 10)


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _feature_name(stem: str, stat: str) -> str:
    return f"{stem}_se" if stat == "se" else f"{stat}_{stem}"


def cancer_features(maxima: Sequence[float]) -> tuple[Feat, ...]:
    """The 30 features in sklearn's order (all means, all standard errors, all worsts).

    ``maxima``: the largest value of each column; card ranges are [0, ~1.5 x max].
    """
    copy = read_copy(NAME)
    measurements = copy["measurements"]
    features = []
    for s, stat in enumerate(copy["statistics"]):
        for m, measure in enumerate(measurements):
            stem, which = measure["stem"], stat["stat"]
            features.append(
                Feat(
                    name=_feature_name(stem, which),
                    label=_upper_first(stat["label"].format(measure["label"])),
                    description=(
                        f"{_upper_first(measure['description'])} of the cell nuclei "
                        f"({stat['description']}), measured on a digitised image of a "
                        "fine-needle aspirate."
                    ),
                    code=f"{stem.upper()}_{which.upper()}",
                    subject=stat["subject"].format(measure["subject"]),
                    range=(0.0, _nice_ceil(1.5 * maxima[s * len(measurements) + m])),
                    actionability="immutable",
                    sensitive=True,
                )
            )
    return tuple(features)


def cancer_local_features(copy: Mapping[str, Any]) -> dict[str, LocalFeat]:
    """One locale's words for the 30 features, from that locale's templates.

    ``copy``: the bundle's section of ``card_copy.<locale>.yaml``. The subject names the
    label, so that its grammatical gender never has to agree with a statistic's.
    """
    words = {}
    for stat in copy["statistics"]:
        for measure in copy["measurements"]:
            label = _upper_first(stat["label"].format(measure["label"]))
            words[_feature_name(measure["stem"], stat["stat"])] = LocalFeat(
                label=label,
                description=copy["description"].format(
                    measurement=measure["description"], statistic=stat["description"]
                ),
                subject=copy["subject"].format(label=label),
            )
    return words


def build() -> Built:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    seed = SEEDS[NAME]
    data = load_breast_cancer()
    X_all = np.asarray(data.data, dtype=np.float64)
    spec = load_spec(
        NAME,
        cancer_features(X_all.max(axis=0).tolist()),
        {code: cancer_local_features(read_copy(NAME, code)) for code in LOCALES},
    )
    frame = pd.DataFrame(X_all, columns=spec.feature_names)
    check_ranges(frame, spec.features)
    y = np.asarray(data.target, dtype=np.int64)  # 0 = malignant, 1 = benign
    X_train, X_test, y_train, y_test = split(frame, y, seed, stratify=True)
    model = RandomForestClassifier(n_estimators=100, max_depth=6, n_jobs=1, random_state=seed)
    model.fit(to_matrix(X_train, spec.features), y_train)
    n = len(spec.features)
    doc = "Random forest malignant/benign classifier"
    onnx_bytes = skl2onnx(model, spec.name, float_input(n), doc)
    X_test_m = to_matrix(X_test, spec.features)
    native = model.predict_proba(X_test_m)
    converted = run_onnx(onnx_bytes, {"features": X_test_m}, "probabilities")
    tolerance = 1e-5
    return Built(
        spec=spec,
        onnx_bytes=onnx_bytes,
        background=background_rows(X_train, y_train, seed, stratify=True),
        # "malignant" (column 0) is the positive class: flip labels and columns.
        metrics=classifier_metrics(1 - y_test, native[:, ::-1]),
        max_diff=verify(spec.name, native, converted, tolerance),
        tolerance=tolerance,
        model_summary=(
            "scikit-learn `RandomForestClassifier`: 100 trees, max depth 6; converted with "
            f"skl2onnx (zipmap off, opset {ONNX_OPSET}). One float input `features` [N, {n}] "
            "in card order; output `probabilities` [N, 2] = P(malignant), P(benign)."
        ),
        n_train=len(X_train),
        n_test=len(X_test),
        # card classes [malignant, benign] are y's codes and the columns of `probabilities`
        confidence=calibrate(converted, y_test, seed),
        held_out_confidence=converted.max(axis=1),
    )
