"""tree_shap in probability space beyond enumeration: exact raw values as a control variate.

The oracle is exact: every one of the 2**20 coalitions of german_credit's players is
played through ONNX Runtime against a small background (the interventional value is
the mean over background rows), and Shapley values are taken from all of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.explain.explainers.exact_shap import shapley_from_coalitions
from service.explain.explainers.tree_shap import TreeShap, default_pairs
from service.explain.game import Game, all_masks
from service.explain.trees import TreeSupport, predict_scores, prepare_tree_support
from service.explain.trees.predict import predict_chains
from service.models.bundle import BundleLimits, read_bundle_dir
from service.models.runtime import OnnxModel

ROOT = Path(__file__).resolve().parents[4]


def _german_credit(n_background: int) -> tuple[Game, np.ndarray]:
    bundle = read_bundle_dir(ROOT / "models" / "german_credit", BundleLimits())
    model = OnnxModel(bundle.model, bundle.card)
    support = prepare_tree_support(model, bundle.model, bundle.card, bundle.background)
    assert isinstance(support, TreeSupport)
    rng = np.random.default_rng(1)
    picks = rng.choice(bundle.background.shape[0], n_background + 2, replace=False)
    players = bundle.card.players
    game = Game(
        predict=model.function("probability"),
        background=bundle.background[picks[:n_background]],
        players=tuple(p.columns for p in players),
        player_names=tuple(p.name for p in players),
        output_names=bundle.card.output_names,
        output_space="probability",
        trees=support,
    )
    return game, bundle.background[picks[n_background:]]


@pytest.mark.slow
def test_probability_values_on_german_credit_are_near_exact() -> None:
    game, X = _german_credit(n_background=2)
    assert game.n_players == 20
    masks = all_masks(game.n_players)
    exact = np.concatenate(
        [shapley_from_coalitions(game.values(x[None], masks), game.n_players) for x in X]
    )
    explanation = TreeShap().fit(game).explain(X)  # default settings
    assert explanation.meta["algorithm"] == "raw_control_variate"
    assert explanation.meta["exact"] is False
    error = np.abs(explanation.values - exact)
    assert error.mean() <= 1e-3
    # the reported standard error is honest: nearly all errors within twice of it
    within = error <= 2 * explanation.quality["sampling_error"][:, None, :]
    assert within.mean() >= 0.9
    np.testing.assert_allclose(explanation.additivity_residual, 0.0, atol=1e-12)


def test_default_pairs_are_whole_passes_over_the_background() -> None:
    assert default_pairs(2) == 64
    assert default_pairs(30) == 90
    assert default_pairs(100) == 100
    assert default_pairs(256) == 256
    assert default_pairs(1000) == 256


def test_whole_passes_leave_no_spread_between_background_rows() -> None:
    """With two players (german_credit's columns split in two groups) one antithetic pair
    of chains is exact for a single background row's game, so whole passes over the
    background (the default) are exact for any seed; a partial pass is not."""
    game, X = _german_credit(n_background=5)
    columns = [c for cols in game.players for c in cols]
    halves = (tuple(columns[: len(columns) // 2]), tuple(columns[len(columns) // 2 :]))
    game = Game(
        predict=game.predict,
        background=game.background,
        players=halves,
        player_names=("first half", "second half"),
        output_names=game.output_names,
        output_space="probability",
        trees=game.trees,
    )
    masks = all_masks(2)
    exact = np.concatenate([shapley_from_coalitions(game.values(x[None], masks), 2) for x in X])
    for seed in (0, 1):
        whole = TreeShap(max_players=1, seed=seed).fit(game).explain(X)
        assert whole.meta["algorithm"] == "raw_control_variate"
        assert whole.meta["residual_pairs"] == 65  # 13 passes over 5 rows
        # exact up to ONNX Runtime's float32 outputs (the oracle and the efficiency target)
        np.testing.assert_allclose(whole.values, exact, rtol=0, atol=1e-6)
    partial = TreeShap(max_players=1, residual_pairs=3).fit(game).explain(X)
    assert np.abs(partial.values - exact).max() > 1e-4


def test_the_control_variates_slope_is_a_weighted_mean_of_secants() -> None:
    """The slope of the linearised game is the least-squares slope over the pairs (x, b):
    a mean of the per-background-row secants of the sigmoid, each in (0, 1/4]."""
    from service.explain.explainers._tree_probability import _least_squares_slope

    game, X = _german_credit(n_background=20)
    support = game.trees
    assert support is not None
    head, ensemble = support.head, support.ensemble
    rows = np.concatenate([X, game.background[:3]])  # a row that is also a background row
    slope = _least_squares_slope(
        head,
        predict_scores(ensemble, rows),
        predict_scores(ensemble, game.background),
        np.zeros((5, 2, 2)),
    )
    f = head.raw(predict_scores(ensemble, rows))[:, 1]
    fb = head.raw(predict_scores(ensemble, game.background))[:, 1]
    p, pb = 1 / (1 + np.exp(-f)), 1 / (1 + np.exp(-fb))
    for i in range(rows.shape[0]):
        run = f[i] - fb
        keep = np.abs(run) > 1e-12
        secants = (p[i] - pb[keep]) / run[keep]
        weights = run[keep] ** 2
        expected = (secants * weights).sum() / weights.sum()
        np.testing.assert_allclose(np.diagonal(slope[i]), expected, rtol=1e-9)
        assert 0 < expected <= 0.25
        assert slope[i, 0, 1] == slope[i, 1, 0] == 0.0


def test_the_same_seed_gives_the_same_bytes_and_auto_prefers_it() -> None:
    from service.explain.capabilities import Capabilities
    from service.explain.explainers.registry import choose_method

    game, X = _german_credit(n_background=20)
    first = TreeShap(seed=3, residual_pairs=4).fit(game).explain(X)
    again = TreeShap(seed=3, residual_pairs=4).fit(game).explain(X)
    other = TreeShap(seed=4, residual_pairs=4).fit(game).explain(X)
    assert first.values.tobytes() == again.values.tobytes()
    assert first.values.tobytes() != other.values.tobytes()
    assert choose_method("auto", Capabilities.of_game(game)) == "tree_shap"


def test_chain_scores_match_the_rows_they_stand_for() -> None:
    game, X = _german_credit(n_background=20)
    support = game.trees
    assert support is not None
    rng = np.random.default_rng(7)
    m = game.n_players
    perms = np.argsort(rng.random((2, 6, m)), axis=2)
    refs = rng.integers(0, game.n_background, size=(2, 6))
    chains = predict_chains(support.ensemble, game.players, X, game.background, perms, refs)
    # coalition t of a chain: its first t players from x, the rest from its background row
    rank = np.argsort(perms, axis=2)
    masks = rank[:, :, None, :] < np.arange(m + 1)[None, None, :, None]
    cols = game.column_masks(masks.reshape(-1, m)).reshape(2, 6, m + 1, -1)
    Z = np.where(cols, X[:, None, None, :], game.background[refs][:, :, None, :])
    expected = predict_scores(support.ensemble, Z.reshape(-1, game.n_columns))
    assert chains.shape == (2, 6, m + 1, expected.shape[1])
    np.testing.assert_allclose(chains.reshape(expected.shape), expected, rtol=0, atol=1e-12)
