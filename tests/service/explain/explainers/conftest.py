"""Fixtures for explainer tests: tiny real ONNX models (built once per session) and the oracle."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.helpers import explainer_cases as cases
from tests.helpers.explainer_cases import Array, Case, Space


@pytest.fixture(scope="session")
def binary_case() -> Case:
    """Logistic regression, 4 features: x0/x1 symmetric, x3 a dummy."""
    return cases.binary_case()


@pytest.fixture(scope="session")
def multiclass_case() -> Case:
    """MLP, three classes, 5 features; x4 a dummy."""
    return cases.multiclass_case()


@pytest.fixture(scope="session")
def regression_case() -> Case:
    """Random forest regressor, 4 features."""
    return cases.regression_case()


@pytest.fixture(scope="session")
def forest_case() -> Case:
    """Random forest regressor, 4 features, served with its verified trees."""
    return cases.forest_case()


@pytest.fixture(scope="session")
def boosted_case() -> Case:
    """Gradient boosting, binary, 5 features, served with its verified trees."""
    return cases.boosted_case()


@pytest.fixture(scope="session")
def group_case() -> Case:
    """Logistic regression with a one-hot group: players age, income, colour."""
    return cases.group_case()


@pytest.fixture(scope="session")
def wide_case() -> Case:
    """MLP with 8 features and interactions; x7 a dummy."""
    return cases.wide_case()


@pytest.fixture(scope="session")
def lime_case() -> Case:
    """MLP on 3 numeric features and a categorical one, probability space."""
    return cases.lime_case()


@pytest.fixture(scope="session")
def oracle() -> Callable[[Case, Space], Array]:
    """Brute-force Shapley values of a case's rows: (n, n_players, n_outputs)."""
    return cases.shapley_oracle
