"""Agreement measures, checked by hand and against scipy as an oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from widgets.agreement import (
    agree,
    attribution_map,
    kendall_tau,
    seed_stability,
    sign_agreement,
    spearman_rho,
    top_k,
    top_k_overlap,
)

A = {"a": 0.5, "b": -0.4, "c": 0.1, "d": 0.05, "e": -0.01}


def test_top_k_orders_by_magnitude_and_breaks_ties_by_name() -> None:
    assert top_k(A, 3) == ["a", "b", "c"]
    assert top_k({"y": 1.0, "x": -1.0, "z": 0.0}, 2) == ["x", "y"]


def test_identical_explanations_agree_fully() -> None:
    result = agree(A, A, 3)
    assert (result.top_k_overlap, result.sign_agreement) == (1.0, 1.0)
    assert result.spearman == pytest.approx(1.0, abs=1e-12)
    assert result.kendall == pytest.approx(1.0, abs=1e-12)


def test_overlap_and_sign_agreement_count_the_shared_top_k() -> None:
    b = {"a": 0.5, "b": 0.4, "c": 0.0, "d": 0.3, "e": 0.0}  # top 3: a, b, d; b flips sign
    assert top_k_overlap(A, b, 3) == pytest.approx(2 / 3)
    assert sign_agreement(A, b, 3) == pytest.approx(1 / 3)


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError, match="k must be a positive int; got 0"):
        top_k_overlap(A, A, 0)
    with pytest.raises(ValueError, match="got -1"):
        sign_agreement(A, A, -1)


def test_reversed_order_gives_minus_one() -> None:
    b = {k: -v for k, v in A.items()}
    assert spearman_rho(A, b) == pytest.approx(-1.0, abs=1e-12)
    assert kendall_tau(A, b) == pytest.approx(-1.0, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_rank_correlations_match_scipy_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=12).astype(float)  # many ties on purpose
    y = x + rng.integers(-2, 3, size=12)
    a = {f"f{i}": float(v) for i, v in enumerate(x)}
    b = {f"f{i}": float(v) for i, v in enumerate(y)}
    assert spearman_rho(a, b) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert kendall_tau(a, b) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)


def test_correlations_are_undefined_for_constant_or_tiny_inputs() -> None:
    flat = dict.fromkeys(A, 1.0)
    assert spearman_rho(A, flat) is None
    assert kendall_tau(A, flat) is None
    assert spearman_rho({"a": 1.0}, {"a": 2.0}) is None


def test_only_common_features_are_correlated() -> None:
    b = {"a": 1.0, "b": 3.0, "c": 2.0, "zzz": 100.0}  # a, b, c reversed; zzz ignored
    assert spearman_rho(A, b) == pytest.approx(-1.0)
    assert kendall_tau(A, b) == pytest.approx(-1.0)


def test_seed_stability_averages_the_pairs() -> None:
    runs = [A, A, {k: -v for k, v in A.items()}]
    stability = seed_stability(runs, 2)
    assert stability is not None
    assert stability.top_k_overlap == 1.0
    assert stability.sign_agreement == pytest.approx(1 / 3)
    assert stability.kendall == pytest.approx((1 - 1 - 1) / 3)
    assert seed_stability([A], 2) is None


def test_attribution_map_reads_an_api_explanation() -> None:
    explanation = {"attributions": [{"feature": "x", "label": "X", "value": 1, "attribution": 2}]}
    assert attribution_map(explanation) == {"x": 2.0}
    assert math.isclose(attribution_map(explanation)["x"], 2.0)
