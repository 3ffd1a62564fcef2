"""The registry: what each method can explain and why not, ``auto``, and serving a class."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
from numpy.typing import NDArray

import service.explain.explainers
from service.errors import InvalidInput
from service.explain.capabilities import NOT_A_TREE_ENSEMBLE, Capabilities
from service.explain.explainers import (
    AUTO,
    EXPLAINERS,
    ExactShap,
    Explainer,
    TreeShap,
    availability,
    choose_method,
    register,
)
from service.explain.explainers.exact_shap import DEFAULT_MAX_PLAYERS, MAX_PLAYERS
from service.explain.explanation import Explanation
from service.explain.trees import TreeSupport, TreeUnsupported
from tests.helpers.explainer_cases import Case


@pytest.fixture(scope="module")
def trees() -> TreeSupport:
    from tests.helpers.explainer_cases import forest_case

    support = forest_case().trees
    assert support is not None
    return support


def test_every_method_is_named_after_its_own_module() -> None:
    for name, cls in EXPLAINERS.items():
        assert cls.name == name
        assert cls.__module__ == f"service.explain.explainers.{name}"


def test_public_surface_is_sorted_and_pinned() -> None:
    exported = service.explain.explainers.__all__
    assert exported == sorted(exported)
    assert {"AUTO", "EXPLAINERS", "availability", "choose_method", "register"} <= set(exported)


@pytest.mark.parametrize(
    ("has_trees", "space", "n_players", "expected"),
    [
        (True, "raw", 40, "tree_shap"),
        (True, "probability", DEFAULT_MAX_PLAYERS, "tree_shap"),
        (True, "probability", DEFAULT_MAX_PLAYERS + 1, "tree_shap"),  # near-exact (item 3)
        (False, "raw", DEFAULT_MAX_PLAYERS, "exact_shap"),
        (False, "probability", DEFAULT_MAX_PLAYERS, "exact_shap"),
        (False, "raw", DEFAULT_MAX_PLAYERS + 1, "sampled_shap"),
        (False, "probability", MAX_PLAYERS + 1, "sampled_shap"),
    ],
)
def test_auto_keeps_its_rule(
    trees: TreeSupport, has_trees: bool, space: str, n_players: int, expected: str
) -> None:
    """tree_shap with verified trees (raw, or up to the enumeration default), else
    exact_shap up to that default, else sampled_shap."""
    model = Capabilities(
        n_players=n_players,
        output_space=space,
        trees=trees if has_trees else NOT_A_TREE_ENSEMBLE,
    )
    assert choose_method(AUTO, model) == expected


def test_one_limit_for_exact_enumeration_and_the_option_takes_effect() -> None:
    at_limit = Capabilities(n_players=MAX_PLAYERS)
    over = Capabilities(n_players=MAX_PLAYERS + 1)
    assert availability(at_limit)["exact_shap"] == "available"
    assert availability(over)["exact_shap"] == (
        f"unavailable: {MAX_PLAYERS + 1} players; exact enumeration allows {MAX_PLAYERS}"
    )
    assert ExactShap.parameter_constraints["max_players"].high == MAX_PLAYERS
    beyond_default = Capabilities(n_players=DEFAULT_MAX_PLAYERS + 1)
    with pytest.raises(InvalidInput, match=r"Raise options\.max_players"):
        ExactShap().check(beyond_default)
    ExactShap(max_players=DEFAULT_MAX_PLAYERS + 1).check(beyond_default)  # takes effect
    with pytest.raises(InvalidInput, match=r"must be an int in \[1, 14\]; got 15"):
        ExactShap(max_players=MAX_PLAYERS + 1).validate_params()


def test_availability_names_every_method_with_its_reason() -> None:
    refused = TreeUnsupported("aggregate_function MIN is not additive over trees")
    listed = availability(Capabilities(n_players=3, trees=refused))
    assert list(listed) == list(EXPLAINERS)
    assert listed["tree_shap"] == f"unavailable: {refused.reason}"
    assert all(v == "available" for k, v in listed.items() if k != "tree_shap")


def test_unknown_and_unavailable_methods_are_refused_in_the_same_words() -> None:
    model = Capabilities(n_players=3)
    with pytest.raises(InvalidInput) as info:
        choose_method("magic", model)
    assert str(info.value) == f"unknown method 'magic'; known: {['auto', *EXPLAINERS]}"
    assert info.value.details == [{"field": "method", "problem": "unknown method"}]
    with pytest.raises(InvalidInput) as info:
        choose_method("tree_shap", model)
    assert str(info.value) == "tree_shap is unavailable: not a tree ensemble"
    assert info.value.details == [
        {"field": "method", "problem": "unavailable: not a tree ensemble"}
    ]
    assert choose_method("kernel_shap", model) == "kernel_shap"


def test_tree_shap_is_available_with_verified_trees_only(trees: TreeSupport) -> None:
    assert TreeShap.unavailable(Capabilities(n_players=4, n_columns=4, trees=trees)) is None
    assert TreeShap.unavailable(Capabilities(n_players=4)) == "not a tree ensemble"


class _Halves(Explainer):
    name: ClassVar[str] = "halves"

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed

    def _explain(self, X: NDArray[np.float64]) -> Explanation:
        raise NotImplementedError  # never explains: these tests only serve it


def test_register_serves_a_class_for_the_block_only() -> None:
    with register(_Halves):
        assert EXPLAINERS["halves"] is _Halves
        assert list(EXPLAINERS)[-1] == "halves"
        assert choose_method("halves", Capabilities(n_players=2)) == "halves"
        with pytest.raises(ValueError, match="already registered"), register(_Halves):
            pass
    assert "halves" not in EXPLAINERS


def test_a_class_without_a_usable_name_is_refused() -> None:
    class Auto(_Halves):
        name: ClassVar[str] = "auto"

    class Spaced(_Halves):
        name: ClassVar[str] = "two words"

    for cls in (Auto, Spaced):
        with pytest.raises(ValueError, match="needs a class attribute 'name'"), register(cls):
            pass


def test_fit_refuses_what_availability_refuses(group_case: Case) -> None:
    with pytest.raises(InvalidInput) as info:
        TreeShap().fit(group_case.game)
    assert str(info.value) == "tree_shap is unavailable for this model: not a tree ensemble"
