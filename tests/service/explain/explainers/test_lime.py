"""Lime against the real lime package, and its own guarantees."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import scipy.stats
from numpy.typing import NDArray

from service.explain.explainers.lime import Lime, _truncnorm_ppf
from service.explain.game import Game, PredictFn
from tests.helpers.explainer_cases import Case

# Same draws as lime; the truncated-normal inverse CDF agrees with scipy's to ~1e-14 and
# the ridge is solved with numpy instead of sklearn: what is left is rounding.
LIME_AGREEMENT = 1e-9


def _lime_package(
    case: Case,
    seed: int,
    categorical: list[int],
    mode: str,
    num_samples: int,
    game: Game | None = None,
    predict: PredictFn | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[float]]:
    """Explain every row with lime itself: coef (n, m, k), intercept (n, k), score per row.

    ``game`` defaults to the case's; ``predict`` to the game's."""
    from lime.lime_tabular import LimeTabularExplainer

    explainer = LimeTabularExplainer(
        case.background,
        mode=mode,
        categorical_features=categorical,
        discretize_continuous=True,
        discretizer="quartile",
        random_state=np.random.RandomState(seed),
        feature_selection="none",
        sample_around_instance=False,
    )
    game = game or case.game
    f = predict or game.predict
    k, m = game.n_outputs, game.n_players
    fn: Any = f if mode == "classification" else (lambda Z: f(Z)[:, 0])
    labels = tuple(range(k)) if mode == "classification" else (1,)
    coef, intercept, scores = np.zeros((len(case.X), m, k)), np.zeros((len(case.X), k)), []
    for i, x in enumerate(case.X):
        e = explainer.explain_instance(
            x, fn, labels=labels, num_features=m, num_samples=num_samples
        )
        for out, label in enumerate(labels):
            weights = dict(e.local_exp[label])
            coef[i, :, out] = [weights[j] for j in range(m)]
            intercept[i, out] = e.intercept[label]
        scores.append(float(e.score))  # lime keeps the last label's score
    return coef, intercept, scores


@pytest.mark.parametrize("seed", [0, 7])
def test_same_numbers_as_lime_with_a_categorical_feature(lime_case: Case, seed: int) -> None:
    ours = Lime(seed=seed).fit(lime_case.game).explain(lime_case.X)
    coef, intercept, scores = _lime_package(lime_case, seed, [3], "classification", 5000)
    assert np.abs(ours.values - coef).max() < LIME_AGREEMENT
    assert np.abs(ours.base_values - intercept).max() < LIME_AGREEMENT
    assert np.abs(ours.quality["fidelity_r2"][:, -1] - scores).max() < LIME_AGREEMENT


def test_same_numbers_as_lime_when_rows_go_in_blocks(
    lime_case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    # blocks of two rows, their buffers filled again for the second: the stream goes on
    # where the first block left it, in lime's order
    monkeypatch.setattr("service.explain.explainers.lime._BLOCK_CELLS", 1)
    ours = Lime(seed=4, num_samples=700).fit(lime_case.game).explain(lime_case.X)
    coef, intercept, _ = _lime_package(lime_case, 4, [3], "classification", 700)
    assert len(lime_case.X) == 3  # two blocks, the last one short
    assert np.abs(ours.values - coef).max() < LIME_AGREEMENT
    assert np.abs(ours.base_values - intercept).max() < LIME_AGREEMENT


def test_same_numbers_as_lime_for_a_regressor(regression_case: Case) -> None:
    ours = Lime(seed=3, num_samples=1000).fit(regression_case.game).explain(regression_case.X)
    coef, intercept, scores = _lime_package(regression_case, 3, [], "regression", 1000)
    assert np.abs(ours.values - coef).max() < LIME_AGREEMENT
    assert np.abs(ours.base_values - intercept).max() < LIME_AGREEMENT
    assert np.abs(ours.quality["fidelity_r2"][:, 0] - scores).max() < LIME_AGREEMENT


def test_truncated_normal_inverse_cdf_agrees_with_scipy() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    a = -rng.exponential(1.5, size=n)
    b = rng.exponential(1.5, size=n)
    a[:50], b[:50] = 0.0, rng.uniform(0.1, 40.0, size=50)  # a == 0: scipy's right-tail branch
    a[50:100], b[50:100] = -rng.uniform(5, 40, size=50), rng.uniform(5, 40, size=50)  # wide
    q = rng.random(n)
    ours = _truncnorm_ppf(q, a, b)
    theirs = scipy.stats.truncnorm.ppf(q, a, b)
    # scipy works in log space from the lower tail; deep in the upper tail (1 - q ~ 1e-5)
    # this takes the small upper-tail probability directly: ~1e-13 relative apart there
    assert np.allclose(ours, theirs, rtol=1e-11, atol=1e-13)
    assert np.median(np.abs(ours - theirs)) < 1e-15
    assert np.all((ours >= a) & (ours <= b))


def test_quality_fields(binary_case: Case) -> None:
    explanation = Lime(num_samples=2000).fit(binary_case.game).explain(binary_case.X)
    r2 = explanation.quality["fidelity_r2"]
    assert np.all((r2 >= 0) & (r2 <= 1))
    local = explanation.base_values + explanation.values.sum(axis=1)
    error = explanation.quality["local_prediction_error"]
    assert np.allclose(error, np.abs(local - explanation.outputs), atol=1e-12)
    assert np.allclose(explanation.outputs, binary_case.game.predict(binary_case.X), atol=1e-6)


def test_dummy_gets_a_small_coefficient(binary_case: Case) -> None:
    values = Lime().fit(binary_case.game).explain(binary_case.X).values
    assert np.all(np.abs(values[:, 3]) < 0.05 * np.abs(values).max(axis=1))


def test_group_is_one_categorical_player(group_case: Case) -> None:
    explanation = Lime(num_samples=3000).fit(group_case.game).explain(group_case.X)
    assert explanation.values.shape == (3, 3, 2)
    assert explanation.feature_names == ("age", "income", "colour")
    assert np.all(np.isfinite(explanation.values))
    # the model leans on the colour (weights 1.5 and -1 on two of its columns)
    assert np.all(np.abs(explanation.values[:, 2, 1]) > 0.05)


def test_same_seed_same_bytes_even_under_threads(lime_case: Case) -> None:
    game, X = lime_case.game, lime_case.X

    def run(seed: int) -> bytes:
        return Lime(num_samples=500, seed=seed).fit(game).explain(X).values.tobytes()

    serial = {seed: run(seed) for seed in (1, 2, 3)}
    seeds = [1, 2, 3, 1, 3, 2, 1, 2, 3, 1]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(run, seeds))
    assert all(out == serial[seed] for seed, out in zip(seeds, threaded, strict=True))
    assert len(set(serial.values())) == 3


def test_fitted_tables_are_read_only(lime_case: Case) -> None:
    explainer = Lime().fit(lime_case.game)
    assert explainer.bins_.players == (0, 1, 2)
    assert [c.player for c in explainer.categories_] == [3]
    for table in (explainer.bins_.cdf, explainer.bins_.mean, explainer.categories_[0].cdf):
        assert not table.flags.writeable


def test_a_one_value_bin_is_undiscretized_to_its_value() -> None:
    # 40% of the background sits at the minimum 5.0: lime's first quartile bin is the single
    # value 5.0, which lime turns back into 0.0 (its z-score); Clarion keeps 5.0
    from service.explain.explainers.lime import _draw, _fill, _Scratch

    column = np.concatenate([np.full(40, 5.0), np.linspace(6.0, 9.0, 60)])
    game = Game(
        predict=lambda Z: Z[:, :1],
        background=column[:, None],
        players=((0,),),
        player_names=("x",),
        output_names=("value",),
        output_space="raw",
    )
    explainer = Lime(num_samples=400).fit(game)
    scratch = _Scratch.of(1, 400, 1, 1, 1)
    _draw(explainer.bins_, 1, np.random.default_rng(0), scratch)
    _, neighbours = _fill(explainer.bins_, (), np.array([[7.0]]), scratch)
    values = neighbours[0, 1:, 0]
    assert np.any(values == 5.0)
    assert values.min() == 5.0
    assert values.max() <= 9.0


def test_compiled_ndtri_is_scipys_to_the_bit() -> None:
    import numba
    from scipy import special as sc

    from service.explain.explainers._lime_kernels import ndtri

    @numba.njit
    def each(y: np.ndarray) -> np.ndarray:
        out = np.empty_like(y)
        for i in range(y.shape[0]):
            out[i] = ndtri(y[i])
        return out

    rng = np.random.default_rng(0)
    y = np.concatenate(
        [
            rng.random(20_000),
            10 ** rng.uniform(-300, -1, 2_000),  # the far tails, both branches of cephes
            1 - 10 ** rng.uniform(-16, -1, 2_000),
            [0.0, 1.0, 0.5, np.exp(-2), 1 - np.exp(-2), -0.1, 1.1],
        ]
    )
    ours, theirs = each(y), sc.ndtri(y)
    assert np.array_equal(ours, theirs, equal_nan=True)


def _tree_games(forest: Case, boosted: Case) -> list[tuple[Case, Game, str]]:
    return [
        (forest, forest.game, "regression"),
        (boosted, boosted.game_in("raw"), "regression"),  # margins: lime's regression, output 0
        (boosted, boosted.game_in("probability"), "classification"),
    ]


def test_tree_models_score_neighbours_through_their_arrays(
    forest_case: Case, boosted_case: Case
) -> None:
    for case, game, mode in _tree_games(forest_case, boosted_case):
        explainer = Lime(seed=5, num_samples=2000).fit(game)
        assert explainer.predict_ is not game.predict
        ours = explainer.explain(case.X)
        assert np.array_equal(ours.outputs, game.predict(case.X))  # the served model at x
        k = game.n_outputs if mode == "classification" else 1  # lime's regression: output 0
        values, base = ours.values[:, :, :k], ours.base_values[:, :k]
        # the same draws as lime: scored the same way, the same numbers
        coef, intercept, _ = _lime_package(
            case, 5, [], mode, 2000, game=game, predict=explainer.predict_
        )
        assert np.abs(values - coef[:, :, :k]).max() < LIME_AGREEMENT
        assert np.abs(base - intercept[:, :k]).max() < LIME_AGREEMENT
        # and lime over ONNX Runtime: the arrays sum in float64 where ORT sums in float32
        coef, intercept, _ = _lime_package(case, 5, [], mode, 2000, game=game)
        assert np.abs(values - coef[:, :, :k]).max() < 1e-5 * max(1.0, np.abs(coef).max())
        assert np.abs(base - intercept[:, :k]).max() < 1e-5 * max(1.0, np.abs(intercept).max())


def test_a_game_whose_model_is_not_its_trees_is_scored_by_the_game(boosted_case: Case) -> None:
    game = boosted_case.game_in("probability")
    other = replace(game, predict=lambda Z: game.predict(Z)[:, ::-1].copy())
    assert Lime().fit(other).predict_ is other.predict


def test_the_level_walk_is_predict_scores_to_the_bit(forest_case: Case, boosted_case: Case) -> None:
    from service.explain.trees.ensemble import MEMBER
    from service.explain.trees.predict import Walk, predict_scores, predict_walk

    rng = np.random.default_rng(0)
    for case in (forest_case, boosted_case):
        assert case.trees is not None
        ensemble = case.trees.ensemble
        walk = Walk.of(ensemble)
        assert walk is not None
        X = rng.normal(size=(1000, ensemble.n_features))
        inner = np.flatnonzero(ensemble.leaf < 0)
        for row, node in enumerate(inner):  # values exactly on the thresholds
            X[row % 1000, ensemble.feature[node]] = ensemble.threshold[node]
        X[::7, 1] = np.nan
        assert np.array_equal(predict_walk(walk, X), predict_scores(ensemble, X))
    sets = replace(ensemble, mode=np.full_like(ensemble.mode, MEMBER))
    assert Walk.of(sets) is None  # set splits: predict_scores walks them


@pytest.mark.parametrize("mode", ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT"])
def test_the_level_walk_takes_every_numeric_split_and_nan_as_ort(mode: str) -> None:
    from onnx import helper

    from service.explain.trees import TreeSupport
    from service.explain.trees.predict import Walk, predict_scores, predict_walk
    from tests.service.explain.trees.handmade import graph, regressor, rows, served

    node = regressor(nodes_modes=[mode] * 3 + ["LEAF"] * 4)
    case = served(graph([node, helper.make_node("Identity", ["T"], ["Y"])]))
    assert isinstance(case.support, TreeSupport)
    walk = Walk.of(case.support.ensemble)
    assert walk is not None
    assert walk.nan  # the root sends NaN to its true child
    X = rows(3, 200)  # NaN and values exactly on the splits
    scores = predict_walk(walk, X)
    assert np.array_equal(scores, predict_scores(case.support.ensemble, X))
    assert np.allclose(scores, case.model.run(X), rtol=0, atol=1e-6)


def test_warming_compiles_the_walk_that_tree_models_use(
    forest_case: Case, boosted_case: Case
) -> None:
    from service.explain.explainers.lime import _warm_tree_walk
    from service.explain.trees._kernels import walk_kernel

    _warm_tree_walk()
    compiled = len(walk_kernel.signatures)
    for case in (forest_case, boosted_case):
        Lime(num_samples=50).fit(case.game_in("probability")).explain(case.X)
    assert len(walk_kernel.signatures) == compiled  # no new compilation in a request
