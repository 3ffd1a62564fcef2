"""hiring_screen: a scikit-learn MLP behind a ColumnTransformer, on a synthetic, seeded data
set with a planted gender bias (``hiring_data``), converted with skl2onnx; one [N, 1] input
per feature, strings for the categoricals.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
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
    run_onnx,
    skl2onnx,
    split,
    verify,
)
from .spec import Feat, check_ranges, load_spec

__all__ = ["BIAS", "EDUCATION", "GAP", "HIRING_N", "MERIT", "build", "hiring_data", "hiring_feeds"]

HIRING_N = 6000
EDUCATION = ("secondary", "bachelor", "master", "doctorate")
# Planted effects, in log-odds of the historical "advance" decision (see hiring_data).
MERIT = {
    "intercept": -1.2,
    "skills_test_score - 65": 0.08,
    "min(years_experience, 15)": 0.15,
    "education index (0-3)": 0.5,
    "certifications": 0.3,
    "referral": 0.8,
}
BIAS = {"gender = female": -0.9, "career_gap_months / 12": -0.6, "commute_km": 0.0}
GAP = {"female": (0.55, 8.0), "male": (0.15, 4.0)}  # P(any gap), Gamma(2, scale) months


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


def hiring_data(
    n: int = HIRING_N, seed: int = SEEDS["hiring_screen"]
) -> tuple[pd.DataFrame, NDArray[np.int64], NDArray[np.int64]]:
    """The synthetic screening history: (card-form rows, historical label, merit-only label).

    All draws come from one ``numpy.random.default_rng(seed)``, in this order:

    - gender: female with probability 0.5, else male;
    - education index e: secondary/bachelor/master/doctorate with p = .25/.45/.22/.08;
    - years_experience ~ Gamma(2, 3.5), clipped to [0, 40], one decimal;
    - skills_test_score ~ Normal(60 + 3e, 12), clipped to [0, 100], one decimal;
    - certifications ~ Poisson(1.2), at most 8;  referral ~ Bernoulli(0.2);
    - career gap: present with p = 0.55 (female) or 0.15 (male); length in whole months
      ~ Gamma(2, 8) (female, mean 16) or Gamma(2, 4) (male, mean 8), within [1, 120];
    - commute_km ~ Gamma(2, 8), clipped to [0, 150], one decimal;  u ~ Uniform(0, 1).

    merit = -1.2 + 0.08 (skills - 65) + 0.15 min(years, 15) + 0.5 e + 0.3 certs + 0.8 referral
    (the MERIT table). Historical label: advance iff u < sigmoid(merit + bias) with
    bias = -0.9 [female] - 0.6 gap / 12 (the BIAS table); merit-only label: advance iff
    u < sigmoid(merit). Gender and career gap say nothing about merit, so both effects are
    pure bias, the gap acting as a proxy for gender; commute_km has no effect at all.
    """
    rng = np.random.default_rng(seed)
    female = rng.random(n) < 0.5
    edu = rng.choice(len(EDUCATION), size=n, p=[0.25, 0.45, 0.22, 0.08])
    years = np.round(np.clip(rng.gamma(2.0, 3.5, n), 0.0, 40.0), 1)
    skills = np.round(np.clip(rng.normal(60.0 + 3.0 * edu, 12.0), 0.0, 100.0), 1)
    certs = np.minimum(rng.poisson(1.2, n), 8).astype(np.int64)
    referral = (rng.random(n) < 0.2).astype(np.int64)
    p_gap = np.where(female, GAP["female"][0], GAP["male"][0])
    has_gap = rng.random(n) < p_gap
    gap_len = np.round(rng.gamma(2.0, np.where(female, GAP["female"][1], GAP["male"][1])))
    gap = np.where(has_gap, np.clip(gap_len, 1.0, 120.0), 0.0)
    commute = np.round(np.clip(rng.gamma(2.0, 8.0, n), 0.0, 150.0), 1)
    u = rng.random(n)
    weights = list(MERIT.values())
    merit = weights[0] + np.column_stack(
        [skills - 65.0, np.minimum(years, 15.0), edu, certs, referral]
    ) @ np.asarray(weights[1:])
    bias_w = list(BIAS.values())
    bias = bias_w[0] * female + bias_w[1] * gap / 12.0 + bias_w[2] * commute
    frame = pd.DataFrame(
        {
            "years_experience": years,
            "skills_test_score": skills,
            "education_level": np.asarray(EDUCATION, dtype=object)[edu],
            "certifications": certs,
            "referral": referral,
            "career_gap_months": gap,
            "commute_km": commute,
            "gender": np.where(female, "female", "male").astype(object),
        }
    )
    historical = (u < _sigmoid(merit + bias)).astype(np.int64)
    merit_only = (u < _sigmoid(merit)).astype(np.int64)
    return frame, historical, merit_only


def hiring_feeds(frame: pd.DataFrame, features: Sequence[Feat]) -> dict[str, Any]:
    """Card-form rows -> one [N, 1] array per graph input: strings, int64 or float32."""
    feeds: dict[str, Any] = {}
    for f in features:
        col = frame[f.name].to_numpy()
        dtype = {"categorical": object, "integer": np.int64}.get(f.type, np.float32)
        feeds[f.name] = col.astype(dtype).reshape(-1, 1)
    return feeds


def _hiring_input_types(features: Sequence[Feat]) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    kinds = {"categorical": StringTensorType, "integer": Int64TensorType}
    return [(f.name, kinds.get(f.type, FloatTensorType)([None, 1])) for f in features]


def _hiring_pipeline(features: Sequence[Feat], seed: int) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = [f for f in features if f.type == "categorical"]
    onehot = OneHotEncoder(
        categories=[list(f.categories or ()) for f in categorical],
        handle_unknown="ignore",
        sparse_output=False,
    )
    prep = ColumnTransformer(
        [
            ("onehot", onehot, [f.name for f in categorical]),
            ("scale", StandardScaler(), [f.name for f in features if f.type != "categorical"]),
        ]
    )
    mlp = MLPClassifier(
        hidden_layer_sizes=(8,), alpha=0.1, solver="lbfgs", max_iter=2000, random_state=seed
    )
    return Pipeline([("prep", prep), ("mlp", mlp)])


def _selection_rates(frame: pd.DataFrame, advance: NDArray[Any]) -> tuple[float, float, float]:
    """(female rate, male rate, impact ratio female / male)."""
    female = frame["gender"].to_numpy() == "female"
    f_rate, m_rate = float(advance[female].mean()), float(advance[~female].mean())
    return f_rate, m_rate, f_rate / m_rate


def _ground_truth(frame: pd.DataFrame, rates: Mapping[str, tuple[float, float, float]]) -> str:
    """The README section that states the planted bias and what it does."""
    female = frame["gender"].to_numpy() == "female"
    gap = frame["career_gap_months"].to_numpy()
    merit = "\n".join(f"| merit | {k} | {v:+.2f} |" for k, v in MERIT.items())
    bias = "\n".join(f"| bias | {k} | {v:+.2f} |" for k, v in BIAS.items())
    rate_rows = "\n".join(
        f"| {k} | {f:.3f} | {m:.3f} | {r:.3f} |" for k, (f, m, r) in rates.items()
    )
    (pf, sf), (pm, sm) = GAP["female"], GAP["male"]
    return (
        "## Planted bias (ground truth)\n\n"
        "`hiring_data()` in `models/builders/hiring_screen.py` generates the data (its "
        "docstring gives every distribution). A candidate's historical label is *advance* "
        "with probability sigmoid(merit + bias), both sums of the terms below (log-odds):\n\n"
        f"| part | term | effect |\n|---|---|---|\n{merit}\n{bias}\n\n"
        f"- `gender` (protected) has a **direct** effect of {BIAS['gender = female']:+.1f} "
        "for women.\n"
        "- `career_gap_months` (`proxy_for: gender`) has **no job-relevant meaning**: "
        f"historical screeners penalised it by {-BIAS['career_gap_months / 12']:.1f} per year "
        f"of gap. Women have a gap with probability {pf} (mean length {2 * sf:.0f} months), men "
        f"with probability {pm} (mean {2 * sm:.0f} months): mean gap {gap[female].mean():.1f} "
        f"months for women and {gap[~female].mean():.1f} for men in the full data set.\n"
        "- `commute_km` has **no effect**: its attribution should be near zero.\n"
        "- Apart from education raising the skills score (+3 points per level) and gender "
        "driving the career gap, the features are independent.\n\n"
        "Selection rates (the four-fifths rule asks for an impact ratio of at least 0.8):\n\n"
        f"| labels | female | male | impact ratio |\n|---|---|---|---|\n{rate_rows}\n"
    )


def build() -> Built:
    from sklearn.exceptions import ConvergenceWarning

    spec, seed = load_spec("hiring_screen"), SEEDS["hiring_screen"]
    if spec.feature("education_level").categories != EDUCATION:
        raise BuildError("card_copy.yaml's education categories differ from EDUCATION")
    frame, y, merit_only = hiring_data()
    check_ranges(frame, spec.features)
    X_train, X_test, y_train, y_test = split(frame, y, seed, stratify=True)
    model = _hiring_pipeline(spec.features, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X_train, y_train)
    doc = "MLP reject/advance screening classifier"
    onnx_bytes = skl2onnx(model, spec.name, _hiring_input_types(spec.features), doc)
    native = model.predict_proba(X_test)
    converted = run_onnx(onnx_bytes, hiring_feeds(X_test, spec.features), "probabilities")
    tolerance = 1e-5
    rates = {
        f"historical labels, all {len(frame):,} candidates": _selection_rates(frame, y),
        "merit-only labels (bias terms removed, same draws)": _selection_rates(frame, merit_only),
        "this model on the held-out split (P(advance) >= 0.5)": _selection_rates(
            X_test, native.argmax(axis=1)
        ),
    }
    return Built(
        spec=spec,
        onnx_bytes=onnx_bytes,
        background=background_rows(X_train, y_train, seed, stratify=True),
        metrics=classifier_metrics(y_test, native),
        max_diff=verify(spec.name, native, converted, tolerance),
        tolerance=tolerance,
        model_summary=(
            "scikit-learn `Pipeline`: a `ColumnTransformer` (one-hot encoding of "
            "`education_level` and `gender`, standard scaling of the rest) then an "
            "`MLPClassifier` (one hidden layer of 8 ReLU units, L-BFGS, alpha 0.1); converted "
            f"with skl2onnx (zipmap off, opset {ONNX_OPSET}). One [N, 1] input per feature, "
            "named like the feature: strings for `education_level` and `gender`, int64 for "
            "`certifications`, float for the rest; output `probabilities` [N, 2] = P(reject), "
            f"P(advance). Data: {HIRING_N:,} synthetic candidates, seed {seed}."
        ),
        n_train=len(X_train),
        n_test=len(X_test),
        extra_readme=_ground_truth(frame, rates),
        # card classes [reject, advance] are the columns of `probabilities`; y is 1 for advance
        confidence=calibrate(converted, y_test, seed),
        held_out_confidence=converted.max(axis=1),
    )
