"""The contract every served explainer keeps: shapes, parameter validation, fitting, no
mutation, availability. Parametrised over the registry, so a new method is covered
without editing this file; the checks themselves live in ``contract.py``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from service.errors import InvalidInput
from service.explain.explainers import EXPLAINERS, Explainer, KernelShap, Lime
from tests.helpers.explainer_cases import Case
from tests.service.explain.explainers.contract import (
    CASE_NAMES,
    check_availability_decides_fit,
    check_declares_itself,
    check_explain_before_fit_is_refused,
    check_explain_does_not_mutate,
    check_fit_accepts_a_second_game,
    check_init_stores_parameters_unchanged,
    check_parameter_violations,
    check_shapes,
    unavailable,
)

CLASSES = list(EXPLAINERS.values())
IDS = [cls.name for cls in CLASSES]


def _playable(cls: type[Explainer], request: pytest.FixtureRequest) -> list[Case]:
    cases = [request.getfixturevalue(name) for name in CASE_NAMES]
    return [case for case in cases if unavailable(cls, case) is None]


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_declares_itself(cls: type[Explainer]) -> None:
    check_declares_itself(cls)


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_plays_at_least_two_of_the_cases(
    cls: type[Explainer], request: pytest.FixtureRequest
) -> None:
    assert len(_playable(cls, request)) >= 2


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
@pytest.mark.parametrize("n", [1, 3])
def test_shapes(cls: type[Explainer], n: int, request: pytest.FixtureRequest) -> None:
    # Every case the method can play (no skips: cases it cannot play are refused, which
    # test_availability_decides_fit checks).
    for case in _playable(cls, request):
        check_shapes(cls, case, n)


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_availability_decides_fit(cls: type[Explainer], request: pytest.FixtureRequest) -> None:
    check_availability_decides_fit(cls, [request.getfixturevalue(n) for n in CASE_NAMES])


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_parameter_violations_read_the_same_way(
    cls: type[Explainer], request: pytest.FixtureRequest
) -> None:
    check_parameter_violations(cls, _playable(cls, request)[0])


def test_the_message_names_bounds_in_full() -> None:
    with pytest.raises(InvalidInput, match=r"must be an int in \[16, 100000\]; got 3$"):
        KernelShap(nsamples=3).validate_params()
    with pytest.raises(InvalidInput, match=r"an int in \[0, 4294967295\]; got -1$"):
        Lime(seed=-1).validate_params()


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_explain_before_fit_is_refused(
    cls: type[Explainer], request: pytest.FixtureRequest
) -> None:
    check_explain_before_fit_is_refused(cls, _playable(cls, request)[0])


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_init_stores_parameters_unchanged(cls: type[Explainer]) -> None:
    check_init_stores_parameters_unchanged(cls)


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_explain_does_not_mutate_the_explainer(
    cls: type[Explainer], request: pytest.FixtureRequest
) -> None:
    playable = _playable(cls, request)
    multiclass = [c for c in playable if c.game.n_outputs > 2]
    check_explain_does_not_mutate(cls, (multiclass or playable)[0])


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_fit_accepts_a_second_game(cls: type[Explainer], request: pytest.FixtureRequest) -> None:
    first, second = _playable(cls, request)[:2]
    check_fit_accepts_a_second_game(cls, first, second)


def test_importing_the_explainers_loads_neither_shap_nor_lime() -> None:
    imports = "".join(f"import {cls.__module__}\n" for cls in CLASSES)
    code = (
        f"import sys\n{imports}"
        "assert not {'shap', 'lime', 'matplotlib'} & set(sys.modules), sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)
