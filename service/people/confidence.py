"""Confidence buckets and the quality gates that decide when a person must review.

Buckets. A classifier's confidence is the probability of its predicted class, put
into one of three buckets by two thresholds (``high`` and ``moderate``):
``high`` >= high > ``moderate`` >= moderate > ``low``. People are shown the bucket,
never the number (HAX G2-B: precision must match performance).

Calibration. Thresholds come from the card's ``confidence`` section when it has one:
``calibrate_buckets`` writes it from labelled held-out rows, choosing the lowest
threshold above which the observed accuracy reaches a target (90% for high, 75% for
moderate by default), so a bucket's name is a measured claim about that model. A card
without the section gets ``DEFAULT_THRESHOLDS`` (0.85 / 0.65); those are only honest
for a well-calibrated model, and the response says so (``calibrated: false`` and the
basis text). The bundle background carries no labels, so it cannot calibrate anything.
Regressors have no probability: their bucket is ``not_rated``.

Gates. An explanation fails a gate when the explainer's own quality numbers say its
story may be wrong (thresholds are team heuristics from the research note, tune on
data; ``scale`` is the size of what is explained, max(sum |phi|, |output - base|)):

- ``additivity_residual`` <= 0.01 x scale (SHAP methods; LIME is not additive by design);
- ``fidelity_r2`` >= 0.5 and ``local_prediction_error`` <= 0.1 x scale (LIME's surrogate);
- ``sampling_error`` <= 0.05 x (max phi - min phi) (sampled Shapley values, the
  Covert-Lee standard-error ratio with a looser bound than their convergence rule).

A low bucket or any failed gate means the end-user view shows the human-review
message instead of a confident reason list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from service.models.card import ConfidenceSpec, ModelCard

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Bucket",
    "Confidence",
    "Gate",
    "calibrate_buckets",
    "check_quality",
    "rate",
    "review_reasons",
]

Bucket = Literal["high", "moderate", "low", "not_rated"]
DEFAULT_THRESHOLDS = (0.85, 0.65)  # (high, moderate) on the predicted class's probability


@dataclass(frozen=True)
class Confidence:
    bucket: Bucket
    probability: float | None
    calibrated: bool
    basis: str


@dataclass(frozen=True)
class Gate:
    """One quality check: ``value`` compared with ``limit`` (``at_least`` or at most)."""

    name: str
    value: float
    limit: float
    at_least: bool

    @property
    def passed(self) -> bool:
        if not np.isfinite(self.value):
            return False
        return self.value >= self.limit if self.at_least else self.value <= self.limit


def rate(card: ModelCard, probabilities: Sequence[float] | None) -> Confidence:
    """Bucket a prediction. probabilities: (n_classes,) in card class order, or None."""
    if card.task == "regression" or probabilities is None:
        return Confidence("not_rated", None, False, "regression: no calibrated uncertainty")
    p = float(max(probabilities))
    if card.confidence is not None:
        high, moderate = card.confidence.high, card.confidence.moderate
        calibrated, basis = True, card.confidence.basis
    else:
        high, moderate = DEFAULT_THRESHOLDS
        calibrated = False
        basis = (
            f"default thresholds ({high:g} high, {moderate:g} moderate) on the model's own "
            "probability; not calibrated for this model"
        )
    bucket: Bucket = "high" if p >= high else "moderate" if p >= moderate else "low"
    return Confidence(bucket, p, calibrated, basis)


def check_quality(
    quality: Mapping[str, float],
    *,
    attributions: NDArray[np.float64],
    output_value: float,
    base_value: float,
) -> tuple[Gate, ...]:
    """The gates that apply to this explanation's quality numbers.

    attributions: (n_players,) for the explained target.
    """
    phi = np.asarray(attributions, dtype=np.float64)
    scale = max(float(np.abs(phi).sum()), abs(output_value - base_value), 1e-12)
    gates: list[Gate] = []
    is_surrogate = "fidelity_r2" in quality
    if "additivity_residual" in quality and not is_surrogate:
        gates.append(
            Gate("additivity_residual", quality["additivity_residual"], 0.01 * scale, False)
        )
    if is_surrogate:
        gates.append(Gate("fidelity_r2", quality["fidelity_r2"], 0.5, True))
    if "local_prediction_error" in quality:
        gates.append(
            Gate("local_prediction_error", quality["local_prediction_error"], 0.1 * scale, False)
        )
    if "sampling_error" in quality:
        spread = float(phi.max() - phi.min()) if phi.size else 0.0
        gates.append(Gate("sampling_error", quality["sampling_error"], 0.05 * spread, False))
    return tuple(gates)


def review_reasons(confidence: Confidence, gates: Sequence[Gate]) -> tuple[str, ...]:
    """Why a person must review before reasons are shown as final (empty: no review)."""
    why = ["low_confidence"] if confidence.bucket == "low" else []
    return (*why, *(g.name for g in gates if not g.passed))


def _lowest_threshold(
    conf: NDArray[np.float64], correct: NDArray[np.float64], target: float, min_rows: int
) -> float | None:
    """The lowest confidence t whose rows at or above t (>= min_rows) reach ``target``."""
    order = np.argsort(-conf, kind="stable")
    conf, correct = conf[order], correct[order]
    n = len(conf)
    if n == 0:
        return None
    # Accuracy of the top-i most confident rows, for every i: a threshold keeps a prefix,
    # and only prefixes that end where the confidence strictly drops are cut points.
    running = np.cumsum(correct) / np.arange(1, n + 1)
    cut = np.ones(n, dtype=bool)
    cut[:-1] = conf[:-1] > conf[1:]
    ok = np.nonzero(cut & (running >= target) & (np.arange(1, n + 1) >= min_rows))[0]
    return float(conf[int(ok.max())]) if ok.size else None


def calibrate_buckets(
    probabilities: NDArray[np.float64],
    labels: NDArray[np.int64],
    *,
    high: float = 0.90,
    moderate: float = 0.75,
    min_rows: int = 20,
    basis: str,
) -> ConfidenceSpec:
    """Thresholds for the card's ``confidence`` section from labelled held-out rows.

    probabilities: (n_samples, n_classes); labels: (n_samples,) class indices.
    ``high`` is the lowest predicted-class probability t such that the rows at or
    above t (at least ``min_rows`` of them) are right at least ``high`` of the time.
    ``moderate`` is found the same way among the rows *below* the high threshold, so
    that the moderate band on its own (not pooled with the high rows) meets its
    target; an unreachable bucket gets the threshold above it (1.0 for high), which
    leaves it empty. ``basis`` describes the data ("held-out split of 250 rows").
    """
    P = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels).reshape(-1)
    if P.ndim != 2 or P.shape[0] != y.shape[0] or P.shape[0] < min_rows:
        raise ValueError(
            f"need (n, n_classes) probabilities and n labels with n >= {min_rows}; "
            f"got {P.shape} and {y.shape}"
        )
    conf = P.max(axis=1)
    correct = (P.argmax(axis=1) == y).astype(np.float64)
    t_high = _lowest_threshold(conf, correct, high, min_rows) or 1.0
    below = conf < t_high
    t_moderate = _lowest_threshold(conf[below], correct[below], moderate, min_rows) or t_high
    observed = {}
    for name, mask in (
        ("high", conf >= t_high),
        ("moderate", (conf >= t_moderate) & (conf < t_high)),
        ("low", conf < t_moderate),
    ):
        if mask.any():
            observed[name] = round(float(correct[mask].mean()), 4)
    return ConfidenceSpec(high=t_high, moderate=t_moderate, basis=basis, observed=observed)
