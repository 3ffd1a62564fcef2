"""TreeShap: exact raw-space values from the parsed trees, exact enumeration for probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from service.errors import InvalidInput
from service.explain.capabilities import Capabilities
from service.explain.explainers._base import NotFitted
from service.explain.explainers.exact_shap import ExactShap
from service.explain.explainers.tree_shap import TreeShap
from service.explain.trees import TreeUnsupported
from tests.service.explain.trees.cases import (
    ATOL,
    RTOL,
    TreeCase,
    make_game,
    sklearn_case,
    xgboost_case,
)


@pytest.fixture(scope="module")
def binary() -> TreeCase:
    return xgboost_case("binary")


@pytest.fixture(scope="module")
def multiclass() -> TreeCase:
    return sklearn_case("gb_multiclass")


@pytest.mark.parametrize("name", ["binary", "multiclass"])
def test_raw_values_are_exact_and_additive(name: str, request: pytest.FixtureRequest) -> None:
    case: TreeCase = request.getfixturevalue(name)
    game = case.game("raw")
    explanation = TreeShap().fit(game).explain(case.X)
    n, m, k = case.X.shape[0], game.n_players, game.n_outputs
    assert explanation.values.shape == (n, m, k)
    assert explanation.base_values.shape == (n, k)
    assert explanation.method == "tree_shap"
    assert explanation.output_space == "raw"
    assert explanation.meta["algorithm"] == "interventional_path_tables"
    reference = ExactShap().fit(game).explain(case.X)
    np.testing.assert_allclose(explanation.values, reference.values, atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(explanation.base_values, reference.base_values, atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(explanation.outputs, game.predict(case.X))
    assert explanation.additivity_residual.max() < 1e-6


def test_tables_are_reused_across_requests(binary: TreeCase) -> None:
    explainer = TreeShap().fit(binary.game("raw"))
    explainer.explain(binary.X[:2])
    assert explainer.explain(binary.X[2:]).meta["tables_cached"] is True


def test_probability_values_come_from_exact_enumeration(multiclass: TreeCase) -> None:
    game = multiclass.game("probability")
    explanation = TreeShap().fit(game).explain(multiclass.X)
    assert explanation.meta["algorithm"] == "exact_enumeration"
    reference = ExactShap().fit(game).explain(multiclass.X)
    np.testing.assert_allclose(explanation.values, reference.values, atol=1e-12)
    np.testing.assert_allclose(explanation.outputs, multiclass.model.run(multiclass.X), atol=1e-12)
    assert explanation.additivity_residual.max() < 1e-9


@pytest.mark.parametrize("name", ["binary", "multiclass"])
def test_probability_beyond_the_enumeration_limit_uses_raw_values_as_control_variate(
    name: str, request: pytest.FixtureRequest
) -> None:
    case: TreeCase = request.getfixturevalue(name)
    game = case.game("probability")
    explanation = TreeShap(max_players=3, residual_pairs=512, seed=1).fit(game).explain(case.X)
    assert explanation.meta["algorithm"] == "raw_control_variate"
    exact = ExactShap().fit(game).explain(case.X).values
    error = np.abs(explanation.values - exact)
    assert error.max() < 5e-3
    assert (error <= 3 * explanation.quality["sampling_error"][:, None, :] + 1e-9).mean() >= 0.9
    assert explanation.additivity_residual.max() < 1e-12


def test_a_model_without_tree_support_is_unavailable_with_the_reason(binary: TreeCase) -> None:
    refused = TreeUnsupported("aggregate_function MIN is not additive over trees")
    assert TreeShap.unavailable(Capabilities(n_players=5, trees=refused)) == refused.reason
    assert TreeShap.unavailable(Capabilities(n_players=5)) == "not a tree ensemble"
    assert TreeShap.unavailable(Capabilities(n_players=5, trees=binary.tree_support)) is None
    game = make_game(binary.model, binary.card, binary.background, "raw", refused)
    with pytest.raises(
        InvalidInput, match=r"^tree_shap is unavailable for this model: not a tree ensemble$"
    ):
        TreeShap().fit(game)


def test_trees_that_read_other_columns_are_unavailable(binary: TreeCase) -> None:
    model = Capabilities(n_players=3, n_columns=3, trees=binary.tree_support)
    assert TreeShap.unavailable(model) == "the trees read 5 columns; the model has 3"


def test_auto_picks_tree_shap_in_raw_space_and_in_probability_space(
    binary: TreeCase,
) -> None:
    for n_players, space, accepted in [
        (20, "raw", True),
        (12, "probability", True),
        (13, "probability", True),  # beyond enumeration: the raw control variate
    ]:
        model = Capabilities(n_players=n_players, output_space=space, trees=binary.tree_support)
        assert TreeShap.accepts(model) is accepted


def test_parameters_follow_the_explainer_contract(binary: TreeCase) -> None:
    with pytest.raises(NotFitted):
        TreeShap().explain(binary.X)
    with pytest.raises(InvalidInput, match="the 'max_players' parameter of TreeShap"):
        TreeShap(max_players=0).fit(binary.game("raw"))
    with pytest.raises(InvalidInput, match="unknown option 'nsamples'"):
        TreeShap.from_options({"nsamples": 10})
    assert TreeShap.from_options({"seed": 3}).get_params() == {
        "seed": 3,
        "max_players": 12,
        "residual_pairs": 0,
    }
    with pytest.raises(InvalidInput, match="the 'residual_pairs' parameter of TreeShap"):
        TreeShap(residual_pairs=1).fit(binary.game("raw"))
    with pytest.raises(InvalidInput, match="the 'residual_pairs' parameter of TreeShap"):
        TreeShap(residual_pairs=-1).fit(binary.game("raw"))
