"""Counterfactuals: only actionable features move, within the card's and the background's
bounds, at the documented cost, and every one really changes the outcome when re-scored."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from service.models.card import ModelCard
from service.people.counterfactuals import find_counterfactuals, moves_for

FEATURES: list[dict[str, Any]] = [
    {"name": "income", "range": [0, 10000]},  # 0: actionable numeric
    {"name": "loans", "type": "integer", "range": [0, 8]},  # 1: actionable integer
    {"name": "plan", "type": "categorical", "categories": ["basic", "plus", "gold"]},  # 2
    {"name": "guarantor", "type": "binary"},  # 3
    {"name": "age", "type": "integer", "actionability": "immutable", "protected": True},  # 4
    {"name": "region", "proxy_for": "origin"},  # 5: actionable by default, but a proxy
    {"name": "tenure", "actionability": "hard_to_change"},  # 6
    {"name": "col_a", "type": "binary", "group": "colour"},  # 7-9: an actionable group
    {"name": "col_b", "type": "binary", "group": "colour"},
    {"name": "col_c", "type": "binary", "group": "colour"},
]
WEIGHTS = np.array([0.0008, -0.5, 0.6, 1.0, 0.05, 3.0, 0.4, -0.3, 0.0, 0.3])


def _card(**extra: Any) -> ModelCard:
    return ModelCard.model_validate(
        {
            "name": "cf",
            "version": "1",
            "task": "classification",
            "classes": ["declined", "approved"],
            "positive_class": "approved",
            "favorable_class": "approved",
            "features": FEATURES,
            **extra,
        }
    )


def _predict(weights: NDArray[np.float64], bias: float) -> Any:
    def predict(X: NDArray[np.float64]) -> NDArray[np.float64]:
        p = 1 / (1 + np.exp(-(np.asarray(X) @ weights + bias)))
        return np.column_stack([1 - p, p])

    return predict


def _background() -> NDArray[np.float64]:
    rng = np.random.default_rng(0)
    n = 80
    colour = np.eye(3)[rng.integers(0, 3, n)]
    return np.column_stack(
        [
            np.round(rng.uniform(500, 6000, n)),
            rng.integers(0, 6, n),
            rng.integers(0, 3, n),
            rng.integers(0, 2, n),
            rng.integers(20, 70, n),
            rng.uniform(0, 1, n),
            rng.uniform(0, 10, n),
            colour,
        ]
    ).astype(np.float64)


CARD = _card()
BG = _background()
PREDICT = _predict(WEIGHTS, -5.5)
X = np.array([1500.0, 4, 0, 0, 30, 0.5, 2.0, 1, 0, 0])

ACTIONABLE = {0, 1, 2, 3, 7, 8, 9}


def _cost(x: NDArray[np.float64], z: NDArray[np.float64]) -> float:
    """The documented cost, computed independently: |Δ| / IQR per numeric feature, 1 per
    categorical, binary or one-hot change."""
    total = 0.0
    for c in (0, 1):
        if z[c] != x[c]:
            q25, q75 = np.quantile(BG[:, c], [0.25, 0.75])
            total += abs(z[c] - x[c]) / (q75 - q25)
    total += float(z[2] != x[2]) + float(z[3] != x[3])
    total += float(not np.array_equal(z[7:10], x[7:10]))
    return total


def test_found_counterfactuals_change_the_outcome_moving_only_actionable_features() -> None:
    assert PREDICT(X[None, :])[0].argmax() == 0  # declined now
    search = find_counterfactuals(CARD, PREDICT, BG, X, k=3)
    assert search.why_none is None
    assert 1 <= len(search.found) <= 3
    for cf in search.found:
        p = PREDICT(cf.x[None, :])[0]  # re-scored here, independently of the search
        assert p.argmax() == 1
        assert p[1] - p[0] >= 0.05
        moved = set(np.nonzero(cf.x != X)[0])
        assert moved
        assert moved <= ACTIONABLE
        assert set(cf.columns) == moved
        assert cf.cost == pytest.approx(_cost(X, cf.x))
        np.testing.assert_allclose(cf.probabilities, p)
        # within the card's range and what the background shows
        assert BG[:, 0].min() <= cf.x[0] <= BG[:, 0].max()
        assert cf.x[1] == round(cf.x[1])
        assert cf.x[2] in set(BG[:, 2])
        assert cf.x[7:10].sum() == 1


def test_counterfactuals_are_cheapest_first_and_not_supersets_of_each_other() -> None:
    found = find_counterfactuals(CARD, PREDICT, BG, X, k=3).found
    costs = [cf.cost for cf in found]
    assert costs == sorted(costs)
    sets = [set(cf.columns) for cf in found]
    for i, a in enumerate(sets):
        for b in sets[i + 1 :]:
            assert not a <= b


def test_a_numeric_change_is_pulled_back_as_far_as_the_outcome_holds() -> None:
    only_income = _card(
        features=[
            {**f, "actionability": "immutable"} if f["name"] != "income" else f for f in FEATURES
        ]
    )
    (cf,) = find_counterfactuals(only_income, PREDICT, BG, X, k=3).found
    needed = cf.x[0]
    nearer = X.copy()
    nearer[0] = X[0] + 0.97 * (needed - X[0])
    p_nearer = PREDICT(nearer[None, :])[0]
    assert p_nearer[1] - p_nearer[0] < 0.05  # 3% less of the change no longer works
    assert needed % 10 == 0  # rounded to a readable step (IQR / 50, a power of ten)


def test_none_when_only_protected_proxy_or_hard_to_change_features_would_work() -> None:
    stuck = _card(
        features=[
            {**f, "actionability": "immutable"}
            if f["name"] in {"income", "loans", "plan", "guarantor", "col_a", "col_b", "col_c"}
            else f
            for f in FEATURES
        ]
    )
    assert moves_for(stuck, BG, X) == []  # region is a proxy, tenure hard to change
    search = find_counterfactuals(stuck, PREDICT, BG, X)
    assert search.found == ()
    assert search.why_none == "no_actionable_features"


def test_none_found_when_no_feasible_change_flips_the_outcome() -> None:
    hopeless = _predict(WEIGHTS * 0.0001, -8.0)
    search = find_counterfactuals(CARD, hopeless, BG, X)
    assert search.found == ()
    assert search.why_none == "none_found"


def test_nothing_to_change_when_the_outcome_is_already_favourable() -> None:
    good = X.copy()
    good[0] = 6000
    good[3] = 1
    search = find_counterfactuals(CARD, PREDICT, BG, good)
    assert search.why_none == "already_favorable"


def test_without_a_favourable_class_any_other_class_will_do() -> None:
    neutral = CARD.model_copy(update={"favorable_class": None})
    assert find_counterfactuals(neutral, PREDICT, BG, X).desired == (1,)


def test_regressors_get_no_counterfactuals() -> None:
    card = ModelCard.model_validate(
        {"name": "r", "version": "1", "task": "regression", "features": [{"name": "x"}]}
    )
    search = find_counterfactuals(card, lambda X: X[:, :1], np.zeros((3, 1)), np.zeros(1))
    assert search.why_none == "regression"


def test_moves_stay_inside_the_cards_range_even_when_the_background_goes_further() -> None:
    narrow = _card(
        features=[{**f, "range": [0, 3000]} if f["name"] == "income" else f for f in FEATURES]
    )
    values = [m.values[0] for m in moves_for(narrow, BG, X) if m.columns == (0,)]
    assert values
    assert max(values) <= 3000


def _with(name: str, **advice: Any) -> ModelCard:
    features = [{**f, **advice} if f["name"] == name else f for f in FEATURES]
    return ModelCard.model_validate({**CARD.model_dump(exclude_unset=True), "features": features})


def test_never_suggest_keeps_a_category_out_of_every_move_and_result() -> None:
    # Unconstrained, "gold" (index 2) is the plan a counterfactual reaches for.
    assert any(m.columns == (2,) and m.values == (2.0,) for m in moves_for(CARD, BG, X))
    card = _with("plan", never_suggest=["gold"])
    assert not any(m.columns == (2,) and m.values == (2.0,) for m in moves_for(card, BG, X))
    assert any(m.columns == (2,) and m.values == (1.0,) for m in moves_for(card, BG, X))
    search = find_counterfactuals(card, PREDICT, BG, X, k=3)
    assert all(cf.x[2] != 2.0 for cf in search.found)


def test_never_suggest_on_a_one_hot_column_never_switches_it_on() -> None:
    features = [{**f, "never_suggest": [1]} if f["name"] == "col_c" else f for f in FEATURES]
    card = ModelCard.model_validate({**CARD.model_dump(exclude_unset=True), "features": features})
    group = [m for m in moves_for(card, BG, X) if m.columns == (7, 8, 9)]
    assert [m.values for m in group] == [(0.0, 1.0, 0.0)]


def test_never_suggest_on_a_binary_flag() -> None:
    card = _with("guarantor", never_suggest=[1])
    assert not any(m.columns == (3,) for m in moves_for(card, BG, X))


@pytest.mark.parametrize(("direction", "side"), [("increase", 1.0), ("decrease", -1.0)])
def test_direction_keeps_numeric_suggestions_on_one_side(direction: str, side: float) -> None:
    card = _with("loans", direction=direction)
    moved = [m.values[0] for m in moves_for(card, BG, X) if m.columns == (1,)]
    assert moved
    assert all((v - X[1]) * side > 0 for v in moved)
    for cf in find_counterfactuals(card, PREDICT, BG, X, k=3).found:
        assert (cf.x[1] - X[1]) * side >= 0


def test_advice_controls_are_validated_against_the_feature() -> None:
    from service.errors import BundleRejected
    from service.models.card import parse_card

    base = CARD.model_dump(exclude_unset=True)
    bad: list[tuple[str, dict[str, Any]]] = [
        ("plan", {"never_suggest": ["platinum"]}),  # not a category
        ("income", {"never_suggest": [0]}),  # numeric: use range or direction
        ("plan", {"direction": "increase"}),  # categories have no direction
        ("income", {"direction": "up"}),
    ]
    for name, advice in bad:
        features = [{**f, **advice} if f["name"] == name else f for f in FEATURES]
        with pytest.raises(BundleRejected):
            parse_card(json.dumps({**base, "features": features}))
