"""PermutationShap against mathematics: convergence, telescoping, dummies, seeds, error bars."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from numpy.typing import NDArray

from service.explain.explainers.permutation_shap import PermutationShap, n_permutations
from tests.helpers.explainer_cases import Case, Space

Oracle = Callable[[Case, Space], NDArray[np.float64]]


def test_budget_buys_shaps_number_of_permutations() -> None:
    assert n_permutations(500, 30) == 8  # 500 // (2 * 30 + 1), as shap's explainer
    assert n_permutations(17, 8) == 1
    assert n_permutations(10, 8) == 1  # at least one


def test_converges_to_exact_values_as_the_budget_grows(wide_case: Case, oracle: Oracle) -> None:
    truth = oracle(wide_case, "raw")
    scale = np.abs(truth).max()

    def error(max_evals: int) -> float:
        errors = [
            np.abs(
                PermutationShap(max_evals=max_evals, seed=s)
                .fit(wide_case.game)
                .explain(wide_case.X)
                .values
                - truth
            ).max()
            for s in range(3)
        ]
        return float(np.mean(errors))

    small, large = error(17), error(17 * 400)  # 1 and 400 permutations
    assert large < small
    assert large < 0.01 * scale


def test_reported_sampling_error_bounds_the_actual_error(wide_case: Case, oracle: Oracle) -> None:
    truth = oracle(wide_case, "raw")
    few = PermutationShap(max_evals=17 * 10).fit(wide_case.game).explain(wide_case.X)
    many = PermutationShap(max_evals=17 * 200).fit(wide_case.game).explain(wide_case.X)
    for explanation in (few, many):
        se = explanation.quality["sampling_error"]
        assert se.shape == (2, 2)
        assert np.all(se > 0)
        actual = np.abs(explanation.values - truth).max(axis=1)  # (n, k), worst player
        assert np.all(actual <= 5 * se)
    assert many.quality["sampling_error"].max() < few.quality["sampling_error"].max()


@pytest.mark.parametrize(
    "name", ["binary_case", "multiclass_case", "regression_case", "group_case", "wide_case"]
)
@pytest.mark.parametrize("max_evals", [10, 300])
def test_additive_by_telescoping(name: str, max_evals: int, request: pytest.FixtureRequest) -> None:
    case: Case = request.getfixturevalue(name)
    explanation = PermutationShap(max_evals=max_evals).fit(case.game).explain(case.X)
    assert explanation.quality["additivity_residual"].max() < 1e-9


@pytest.mark.parametrize(
    ("name", "dummy"), [("binary_case", 3), ("multiclass_case", 4), ("wide_case", 7)]
)
def test_dummy_gets_exactly_zero(name: str, dummy: int, request: pytest.FixtureRequest) -> None:
    # every marginal v(S + dummy) - v(S) is an exact zero: same model inputs, one evaluation each
    case: Case = request.getfixturevalue(name)
    explanation = PermutationShap(max_evals=100).fit(case.game).explain(case.X)
    assert np.all(explanation.values[:, dummy] == 0.0)


def test_symmetric_players_get_equal_values(binary_case: Case) -> None:
    explanation = PermutationShap(max_evals=2000).fit(binary_case.game).explain(binary_case.X)
    assert np.abs(explanation.values[:, 0] - explanation.values[:, 1]).max() < 1e-6


def test_group_players_match_the_oracle_over_groups(group_case: Case, oracle: Oracle) -> None:
    explanation = PermutationShap(max_evals=7 * 300).fit(group_case.game).explain(group_case.X)
    assert explanation.values.shape == (3, 3, 2)
    truth = oracle(group_case, "raw")
    assert np.abs(explanation.values - truth).max() < 0.01 * np.abs(truth).max()


def test_base_values_and_outputs_are_the_games(multiclass_case: Case) -> None:
    explanation = PermutationShap(max_evals=50).fit(multiclass_case.game).explain(multiclass_case.X)
    game = multiclass_case.game
    assert np.allclose(explanation.base_values, game.base_value()[None, :], atol=1e-12)
    assert np.allclose(explanation.outputs, game.predict(multiclass_case.X), atol=1e-6)


def test_same_seed_same_bytes_even_under_threads(wide_case: Case) -> None:
    game, X = wide_case.game, wide_case.X

    def run(seed: int) -> bytes:
        return PermutationShap(max_evals=100, seed=seed).fit(game).explain(X).values.tobytes()

    serial = {seed: run(seed) for seed in (1, 2, 3)}
    seeds = [1, 2, 3, 1, 3, 2, 1, 2, 3, 1]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(run, seeds))
    assert all(out == serial[seed] for seed, out in zip(seeds, threaded, strict=True))
    assert len(set(serial.values())) == 3


def test_blocks_of_rows_draw_the_same_permutations(
    wide_case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.explain.explainers.permutation_shap as module

    explainer = PermutationShap(max_evals=100, seed=5).fit(wide_case.game)
    whole = explainer.explain(wide_case.X).values
    monkeypatch.setattr(module, "_MASK_CELLS", 1)  # one row per block
    assert explainer.explain(wide_case.X).values.tobytes() == whole.tobytes()


def test_meta_records_the_budget(wide_case: Case) -> None:
    explanation = PermutationShap(max_evals=170, seed=3).fit(wide_case.game).explain(wide_case.X)
    assert explanation.meta["permutations"] == 10
    assert explanation.meta["seed"] == 3
    # per row: empty, full and at most 2 * 7 interior coalitions per permutation
    assert 4 < explanation.meta["coalitions_evaluated"] <= 2 * (2 + 10 * 14)


def test_the_budget_language_reports_how_sampling_ended(wide_case: Case, oracle: Oracle) -> None:
    truth = oracle(wide_case, "raw")
    plain = PermutationShap(max_evals=170).fit(wide_case.game).explain(wide_case.X)
    assert plain.meta["stopped_by"] == ["max_evals", "max_evals"]
    evaluations = plain.quality["evaluations"]
    assert evaluations.shape == (2, 2)
    assert np.all((evaluations > 0) & (evaluations <= 10 * 2 * 7))  # 10 permutations
    target = 0.02
    e = PermutationShap(max_evals=17 * 400, max_error=target).fit(wide_case.game)
    explanation = e.explain(wide_case.X)
    assert explanation.meta["stopped_by"] == ["max_error", "max_error"]
    assert np.all(explanation.quality["sampling_error"] <= target)
    assert np.abs(explanation.values - truth).max() < 4 * target
    total = explanation.base_values + explanation.values.sum(axis=1)
    np.testing.assert_allclose(total, explanation.outputs, rtol=0, atol=1e-9)


def test_a_time_budget_is_honoured(wide_case: Case) -> None:
    """The issue demands it: within the time budget plus 20% (median of three)."""
    import time

    X = np.repeat(wide_case.X, 10, axis=0)
    explainer = PermutationShap(max_evals=1_000_000, time_budget_ms=250.0).fit(wide_case.game)
    explainer.explain(X[:1])
    elapsed = []
    for _ in range(3):
        start = time.perf_counter()
        e = explainer.explain(X)
        elapsed.append((time.perf_counter() - start) * 1000)
        assert e.meta["stopped_by"] == ["time_budget"] * len(X)
    assert sorted(elapsed)[1] <= 1.2 * 250.0, elapsed
