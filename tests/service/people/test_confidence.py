"""Confidence buckets, their calibration from labelled rows, and the quality gates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.models.card import ConfidenceSpec, ModelCard
from service.people.confidence import (
    DEFAULT_THRESHOLDS,
    Gate,
    calibrate_buckets,
    check_quality,
    rate,
    review_reasons,
)

BINARY = ModelCard.model_validate(
    {
        "name": "m",
        "version": "1",
        "task": "classification",
        "classes": ["no", "yes"],
        "features": [{"name": "x"}],
    }
)
REGRESSOR = ModelCard.model_validate(
    {"name": "r", "version": "1", "task": "regression", "features": [{"name": "x"}]}
)


@pytest.mark.parametrize(
    ("p_yes", "bucket"), [(0.97, "high"), (0.15, "high"), (0.7, "moderate"), (0.55, "low")]
)
def test_default_buckets_use_the_predicted_class_probability(p_yes: float, bucket: str) -> None:
    confidence = rate(BINARY, [1 - p_yes, p_yes])
    assert confidence.bucket == bucket
    assert confidence.probability == pytest.approx(max(p_yes, 1 - p_yes))
    assert not confidence.calibrated
    assert DEFAULT_THRESHOLDS == (0.85, 0.65)


def test_calibrated_thresholds_from_the_card_take_precedence() -> None:
    spec = ConfidenceSpec(high=0.95, moderate=0.6, basis="held-out split, 200 rows")
    card = BINARY.model_copy(update={"confidence": spec})
    confidence = rate(card, [0.1, 0.9])
    assert confidence.bucket == "moderate"
    assert confidence.calibrated
    assert confidence.basis == "held-out split, 200 rows"


def test_regressors_are_not_rated() -> None:
    assert rate(REGRESSOR, None).bucket == "not_rated"


def test_calibration_finds_the_lowest_threshold_that_reaches_each_accuracy() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    confidence = rng.uniform(0.5, 1.0, n)
    # A calibrated model: it is right with exactly its stated probability.
    correct = rng.uniform(size=n) < confidence
    labels = np.where(correct, 1, 0)
    probabilities = np.column_stack([1 - confidence, confidence])
    spec = calibrate_buckets(probabilities, labels, basis="synthetic")
    # Accuracy above t for a uniform calibrated model is (1 + t) / 2: 0.9 needs t = 0.8.
    assert spec.high == pytest.approx(0.8, abs=0.03)
    # Below 0.8 the band [t, 0.8) is right (t + 0.8) / 2 of the time: 0.75 needs t = 0.7.
    assert spec.moderate == pytest.approx(0.7, abs=0.03)
    assert spec.observed["high"] >= 0.9
    # The guarantee documented: each bucket on its own reaches its target.
    above = confidence >= spec.high
    assert correct[above].mean() >= 0.9
    band = (confidence >= spec.moderate) & (confidence < spec.high)
    assert correct[band].mean() >= 0.75


def test_calibration_never_splits_tied_confidences() -> None:
    probabilities = np.array([[0.1, 0.9]] * 30 + [[0.2, 0.8]] * 30)
    labels = np.array([1] * 28 + [0] * 2 + [1] * 18 + [0] * 12)
    spec = calibrate_buckets(probabilities, labels, high=0.9, moderate=0.75, basis="ties")
    assert spec.high == pytest.approx(0.9)  # 28/30 right at 0.9; 46/60 overall is below 0.9
    # The rows at 0.8 are right 18/30 = 0.6 of the time on their own: no moderate band,
    # although pooled with the high rows (46/60 = 0.767) they would have passed.
    assert spec.moderate == pytest.approx(0.9)


def test_an_unreachable_accuracy_makes_its_bucket_unreachable() -> None:
    probabilities = np.array([[0.4, 0.6]] * 40)
    labels = np.array([1, 0] * 20)
    spec = calibrate_buckets(probabilities, labels, basis="coin")
    assert spec.high == 1.0
    assert spec.moderate == 1.0


def test_calibration_needs_enough_rows() -> None:
    with pytest.raises(ValueError, match="n >= 20"):
        calibrate_buckets(np.array([[0.5, 0.5]]), np.array([0]), basis="x")


def test_additivity_gate_scales_with_what_is_explained() -> None:
    phi = np.array([0.3, -0.1])
    (ok,) = check_quality(
        {"additivity_residual": 0.003}, attributions=phi, output_value=0.7, base_value=0.5
    )
    assert ok.passed
    assert ok.limit == pytest.approx(0.004)
    (bad,) = check_quality(
        {"additivity_residual": 0.005}, attributions=phi, output_value=0.7, base_value=0.5
    )
    assert not bad.passed


def test_lime_is_gated_on_fidelity_not_additivity() -> None:
    gates = check_quality(
        {"additivity_residual": 0.5, "fidelity_r2": 0.3, "local_prediction_error": 0.01},
        attributions=np.array([0.2, 0.2]),
        output_value=0.9,
        base_value=0.5,
    )
    assert [(g.name, g.passed) for g in gates] == [
        ("fidelity_r2", False),
        ("local_prediction_error", True),
    ]


def test_sampling_error_is_judged_against_the_spread_of_values() -> None:
    phi = np.array([0.5, -0.5, 0.0])
    (gate,) = check_quality(
        {"sampling_error": 0.04}, attributions=phi, output_value=0, base_value=0
    )
    assert gate.passed
    assert gate.limit == pytest.approx(0.05)


def test_a_missing_number_fails_its_gate() -> None:
    assert not Gate("additivity_residual", math.nan, 1.0, at_least=False).passed


def test_review_is_required_for_low_confidence_or_any_failed_gate() -> None:
    high = rate(BINARY, [0.05, 0.95])
    low = rate(BINARY, [0.45, 0.55])
    failed = Gate("fidelity_r2", 0.1, 0.5, at_least=True)
    passed = Gate("additivity_residual", 0.0, 0.01, at_least=False)
    assert review_reasons(high, [passed]) == ()
    assert review_reasons(low, [passed]) == ("low_confidence",)
    assert review_reasons(high, [failed, passed]) == ("fidelity_r2",)
