"""The explainer contract as plain checks, callable for any ``Explainer`` class.

``test_contract.py`` runs every check over every class in the registry, so a new method
is tested without editing the suite; a test that serves a method of its own (a
throwaway class under ``register``) runs them all for it with ``check_contract``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from service.errors import InvalidInput, NotFitted
from service.explain.capabilities import Capabilities
from service.explain.explainers import Explainer
from tests.helpers.explainer_cases import Case

__all__ = [
    "CASE_NAMES",
    "SMALL_BUDGETS",
    "check_availability_decides_fit",
    "check_contract",
    "check_declares_itself",
    "check_explain_before_fit_is_refused",
    "check_explain_does_not_mutate",
    "check_fit_accepts_a_second_game",
    "check_init_stores_parameters_unchanged",
    "check_parameter_violations",
    "check_shapes",
    "make",
    "unavailable",
]

CASE_NAMES = (
    "binary_case",
    "multiclass_case",
    "regression_case",
    "group_case",
    "forest_case",
    "boosted_case",
)
"""The fixtures of ``tests/helpers/explainer_cases``: each method plays those it can."""

SMALL_BUDGETS: Mapping[str, Mapping[str, Any]] = {
    "kernel_shap": {"nsamples": 32},
    "permutation_shap": {"max_evals": 60},
    "lime": {"num_samples": 300},
}
"""A small budget per method so that the suite stays fast; others run their defaults."""


def make(cls: type[Explainer], **extra: Any) -> Explainer:
    return cls(**{**SMALL_BUDGETS.get(cls.name, {}), **extra})


def unavailable(cls: type[Explainer], case: Case) -> str | None:
    """Why ``cls`` cannot play ``case``'s game, or None when it can."""
    return cls.unavailable(Capabilities.of_game(case.game))


def check_declares_itself(cls: type[Explainer]) -> None:
    """A name, keyword parameters that each have a default and a constraint (a seed among
    them: the engine always passes one), and an availability rule that answers."""
    assert isinstance(cls.name, str), cls
    assert cls.name.isidentifier(), cls
    signature = inspect.signature(cls.__init__)
    parameters = [p for p in signature.parameters.values() if p.name != "self"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters), signature
    assert all(p.default is not inspect.Parameter.empty for p in parameters), signature
    assert {p.name for p in parameters} == set(cls.parameter_constraints)
    assert "seed" in cls.parameter_constraints
    assert isinstance(cls.deterministic, bool)
    assert isinstance(cls.auto, bool)
    for model in (Capabilities(n_players=1), Capabilities(n_players=40, output_space="raw")):
        reason = cls.unavailable(model)
        assert reason is None or (isinstance(reason, str) and reason), reason


def check_shapes(cls: type[Explainer], case: Case, n: int) -> None:
    game = case.game
    explanation = make(cls).fit(game).explain(case.X[:n])
    m, k = game.n_players, game.n_outputs
    assert explanation.values.shape == (n, m, k)
    assert explanation.base_values.shape == (n, k)
    assert explanation.outputs.shape == (n, k)
    assert explanation.values.dtype == np.float64
    assert all(q.shape == (n, k) for q in explanation.quality.values())
    assert np.all(np.isfinite(explanation.values))
    assert explanation.feature_names == game.player_names
    assert explanation.output_names == game.output_names
    assert explanation.method == cls.name
    assert explanation.meta["parameters"] == make(cls).get_params()


def check_parameter_violations(cls: type[Explainer], case: Case) -> None:
    """Every violation of the constraint table reads the same way."""
    for key, constraint in cls.parameter_constraints.items():
        fraction = (2.5,) if constraint.kind is int else ()  # a fraction is a valid float
        for bad in (int(constraint.low) - 1, int(constraint.high) + 1, *fraction, True, "many"):
            explainer = make(cls, **{key: bad})
            with pytest.raises(InvalidInput) as info:
                explainer.fit(case.game)
            assert str(info.value) == (
                f"the {key!r} parameter of {cls.__name__} must be "
                f"{constraint.describe()}; got {bad!r}"
            )
            assert info.value.details == [
                {"field": f"options.{key}", "problem": constraint.describe()}
            ]


def check_explain_before_fit_is_refused(cls: type[Explainer], case: Case) -> None:
    with pytest.raises(NotFitted, match="is not fitted; call fit"):
        make(cls).explain(case.X)


def check_init_stores_parameters_unchanged(cls: type[Explainer]) -> None:
    explainer = make(cls, seed=11)
    small = SMALL_BUDGETS.get(cls.name, {})
    assert explainer.get_params() == {**cls().get_params(), **small, "seed": 11}
    assert vars(explainer) == explainer.get_params()  # nothing else until fit
    assert cls.from_options({"seed": 11, **small}).get_params() == explainer.get_params()
    with pytest.raises(InvalidInput, match="unknown option 'nsample'"):
        cls.from_options({"nsample": 5})


def check_explain_does_not_mutate(cls: type[Explainer], case: Case) -> None:
    explainer = make(cls).fit(case.game)
    before = dict(vars(explainer))
    first = explainer.explain(case.X)
    assert vars(explainer).keys() == before.keys()
    assert all(vars(explainer)[key] is value for key, value in before.items())
    # and so a second call repeats the first exactly
    second = explainer.explain(case.X)
    assert second.values.tobytes() == first.values.tobytes()


def check_fit_accepts_a_second_game(cls: type[Explainer], first: Case, second: Case) -> None:
    explainer = make(cls).fit(first.game)
    explanation = explainer.fit(second.game).explain(second.X)
    n, m, k = second.X.shape[0], second.game.n_players, second.game.n_outputs
    assert explanation.values.shape == (n, m, k)


def check_availability_decides_fit(cls: type[Explainer], cases: Sequence[Case]) -> None:
    """``fit`` refuses exactly the games ``unavailable`` names a reason for, in its words."""
    for case in cases:
        reason = unavailable(cls, case)
        if reason is None:
            make(cls).fit(case.game)
            continue
        with pytest.raises(InvalidInput) as info:
            make(cls).fit(case.game)
        assert str(info.value) == f"{cls.name} is unavailable for this model: {reason}"
        assert info.value.details == [{"field": "method", "problem": reason}]


def check_contract(cls: type[Explainer], cases: Sequence[Case]) -> None:
    """Every check above, on the cases ``cls`` can play (it must be able to play two)."""
    check_declares_itself(cls)
    check_init_stores_parameters_unchanged(cls)
    check_availability_decides_fit(cls, cases)
    playable = [case for case in cases if unavailable(cls, case) is None]
    assert len(playable) >= 2, f"{cls.name} can play fewer than two of the contract's cases"
    for case in playable:
        for n in (1, 3):
            check_shapes(cls, case, n)
        check_explain_does_not_mutate(cls, case)
    check_parameter_violations(cls, playable[0])
    check_explain_before_fit_is_refused(cls, playable[0])
    check_fit_accepts_a_second_game(cls, playable[0], playable[1])
