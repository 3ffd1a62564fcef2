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
from service.explain.explainers.tree_shap import TreeShap
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
