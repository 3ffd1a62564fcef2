"""The contract every explainer keeps: shapes, parameter validation, fitting, no mutation."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from service.errors import InvalidInput
from service.explain.explainers._base import Explainer, NotFitted
from service.explain.explainers.exact_shap import ExactShap
from service.explain.explainers.kernel_shap import KernelShap
from service.explain.explainers.lime import Lime
from service.explain.explainers.permutation_shap import PermutationShap
from tests.helpers.explainer_cases import Case

# each explainer with a small budget, so the suite stays fast
EXPLAINERS: list[tuple[type[Explainer], dict[str, Any]]] = [
    (ExactShap, {}),
    (KernelShap, {"nsamples": 32}),
    (PermutationShap, {"max_evals": 60}),
    (Lime, {"num_samples": 300}),
]
IDS = [cls.__name__ for cls, _ in EXPLAINERS]
CASES = ["binary_case", "multiclass_case", "regression_case", "group_case"]


def _make(cls: type[Explainer], params: dict[str, Any], **extra: Any) -> Explainer:
    return cls(**{**params, **extra})


@pytest.mark.parametrize(("cls", "params"), EXPLAINERS, ids=IDS)
@pytest.mark.parametrize("case_name", CASES)
@pytest.mark.parametrize("n", [1, 3])
def test_shapes(
    cls: type[Explainer],
    params: dict[str, Any],
    case_name: str,
    n: int,
    request: pytest.FixtureRequest,
) -> None:
    case: Case = request.getfixturevalue(case_name)
    game = case.game
    explanation = _make(cls, params).fit(game).explain(case.X[:n])
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
    assert explanation.meta["parameters"] == _make(cls, params).get_params()


@pytest.mark.parametrize(("cls", "params"), EXPLAINERS, ids=IDS)
def test_parameter_violations_read_the_same_way(
    cls: type[Explainer], params: dict[str, Any], binary_case: Case
) -> None:
    for key, constraint in cls.parameter_constraints.items():
        for bad in (int(constraint.low) - 1, int(constraint.high) + 1, 2.5, True, "many"):
            explainer = _make(cls, params, **{key: bad})
            with pytest.raises(InvalidInput) as info:
                explainer.fit(binary_case.game)
            assert str(info.value) == (
                f"the {key!r} parameter of {cls.__name__} must be "
                f"{constraint.describe()}; got {bad!r}"
            )
            assert info.value.details == [
                {"field": f"options.{key}", "problem": constraint.describe()}
            ]


def test_the_message_names_bounds_in_full() -> None:
    with pytest.raises(InvalidInput, match=r"must be an int in \[16, 100000\]; got 3$"):
        KernelShap(nsamples=3).validate_params()
    with pytest.raises(InvalidInput, match=r"an int in \[0, 4294967295\]; got -1$"):
        Lime(seed=-1).validate_params()


@pytest.mark.parametrize(("cls", "params"), EXPLAINERS, ids=IDS)
def test_explain_before_fit_is_refused(
    cls: type[Explainer], params: dict[str, Any], binary_case: Case
) -> None:
    with pytest.raises(NotFitted, match="is not fitted; call fit"):
        _make(cls, params).explain(binary_case.X)


@pytest.mark.parametrize(("cls", "params"), EXPLAINERS, ids=IDS)
def test_init_stores_parameters_unchanged(cls: type[Explainer], params: dict[str, Any]) -> None:
    explainer = _make(cls, params, seed=11)
    assert explainer.get_params() == {**_make(cls, {}).get_params(), **params, "seed": 11}
    assert vars(explainer) == explainer.get_params()  # nothing else until fit
    assert cls.from_options({"seed": 11, **params}).get_params() == explainer.get_params()
    with pytest.raises(InvalidInput, match="unknown option 'nsample'"):
        cls.from_options({"nsample": 5})


@pytest.mark.parametrize(("cls", "params"), EXPLAINERS, ids=IDS)
def test_explain_does_not_mutate_the_explainer(
    cls: type[Explainer], params: dict[str, Any], multiclass_case: Case
) -> None:
    explainer = _make(cls, params).fit(multiclass_case.game)
    before = dict(vars(explainer))
    first = explainer.explain(multiclass_case.X)
    assert vars(explainer).keys() == before.keys()
    assert all(vars(explainer)[key] is value for key, value in before.items())
    # and so a second call repeats the first exactly
    second = explainer.explain(multiclass_case.X)
    assert second.values.tobytes() == first.values.tobytes()


@pytest.mark.parametrize(("cls", "params"), EXPLAINERS, ids=IDS)
def test_fit_accepts_a_second_game(
    cls: type[Explainer], params: dict[str, Any], binary_case: Case, regression_case: Case
) -> None:
    explainer = _make(cls, params).fit(binary_case.game)
    explanation = explainer.fit(regression_case.game).explain(regression_case.X)
    assert explanation.values.shape == (3, 4, 1)


def test_importing_the_explainers_loads_neither_shap_nor_lime() -> None:
    code = (
        "import sys\n"
        "import service.explain.explainers.kernel_shap\n"
        "import service.explain.explainers.permutation_shap\n"
        "import service.explain.explainers.lime\n"
        "assert not {'shap', 'lime', 'matplotlib'} & set(sys.modules), sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)
