"""ExactShap against the brute-force oracle: the reference the sampled methods converge to."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

from service.explain.explainers.exact_shap import ExactShap
from tests.helpers.explainer_cases import Case, Space

Oracle = Callable[[Case, Space], NDArray[np.float64]]
CASES = ["binary_case", "multiclass_case", "regression_case", "group_case", "wide_case"]


@pytest.mark.parametrize("name", CASES)
def test_equals_the_brute_force_oracle(
    name: str, oracle: Oracle, request: pytest.FixtureRequest
) -> None:
    case: Case = request.getfixturevalue(name)
    explanation = ExactShap().fit(case.game).explain(case.X)
    space: Space = "probability" if case.game.output_space == "probability" else "raw"
    assert np.abs(explanation.values - oracle(case, space)).max() < 1e-9


@pytest.mark.parametrize("name", CASES)
def test_additive(name: str, request: pytest.FixtureRequest) -> None:
    case: Case = request.getfixturevalue(name)
    explanation = ExactShap().fit(case.game).explain(case.X)
    assert explanation.quality["additivity_residual"].max() < 1e-9


@pytest.mark.parametrize(
    ("name", "dummy"), [("binary_case", 3), ("multiclass_case", 4), ("wide_case", 7)]
)
def test_dummy_gets_exactly_zero(name: str, dummy: int, request: pytest.FixtureRequest) -> None:
    case: Case = request.getfixturevalue(name)
    explanation = ExactShap().fit(case.game).explain(case.X)
    assert np.all(explanation.values[:, dummy] == 0.0)


def test_symmetric_players_get_equal_values(binary_case: Case) -> None:
    # equal weights, equal values in x, a background closed under swapping the two columns
    explanation = ExactShap().fit(binary_case.game).explain(binary_case.X)
    assert np.abs(explanation.values[:, 0] - explanation.values[:, 1]).max() < 1e-12
