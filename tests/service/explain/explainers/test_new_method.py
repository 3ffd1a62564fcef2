"""Adding a method is one new class and one registry entry, and nothing else.

``CoalitionShap`` is a throwaway exact method written here, in a test module. Served for
the length of a test with ``register`` (the registry line, in effect), with no other
edit anywhere, it is listed by ``GET /v1/vocabulary``, shown as available by
``GET /v1/models/{name}``, usable by ``POST /v1/models/{name}/explain`` and kept to the
contract suite's checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from service.explain.capabilities import Capabilities
from service.explain.explainers import EXPLAINERS, Explainer, Interval, register
from service.explain.explainers.exact_shap import shapley_from_coalitions
from service.explain.explanation import Explanation
from service.explain.game import Game, all_masks
from tests.service.explain.explainers.contract import CASE_NAMES, check_contract

CASE = {"income": 42.5, "debt": 30.0, "employment": "part_time", "has_guarantor": 1}


class CoalitionShap(Explainer):
    """Exact Shapley values from every coalition, up to ``MAX_PLAYERS`` players."""

    name: ClassVar[str] = "coalition_shap"
    parameter_constraints: ClassVar[dict[str, Interval]] = {"seed": Interval(int, 0, 2**32 - 1)}
    MAX_PLAYERS: ClassVar[int] = 6

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed

    @classmethod
    def unavailable(cls, model: Capabilities) -> str | None:
        if model.n_players > cls.MAX_PLAYERS:
            return f"{model.n_players} players; coalition_shap allows {cls.MAX_PLAYERS}"
        return None

    def model_rows(self, game: Game, n_samples: int) -> int:
        return n_samples * (1 << game.n_players) * game.n_background

    def _explain(self, X: NDArray[np.float64]) -> Explanation:
        game = self.game_
        v = game.values(X, all_masks(game.n_players))  # (n, 2**M, n_outputs)
        values = shapley_from_coalitions(v, game.n_players)
        return self._explanation(values, v[:, 0, :], v[:, -1, :])


@pytest.fixture
def served() -> Iterator[type[Explainer]]:
    with register(CoalitionShap) as cls:
        yield cls
    assert CoalitionShap.name not in EXPLAINERS


def test_it_is_listed_available_and_usable(client: TestClient, served: type[Explainer]) -> None:
    words = client.get("/v1/vocabulary").json()
    assert words["methods"][-1] == "coalition_shap"
    assert "coalition_shap" in words["deterministic_methods"]
    explainers = client.get("/v1/models/tiny_credit").json()["explainers"]
    assert explainers["coalition_shap"] == "available"

    def explain(method: str) -> dict[str, float]:
        r = client.post(
            "/v1/models/tiny_credit/explain", json={"instances": [CASE], "method": method}
        )
        assert r.status_code == 200, r.text
        assert r.json()["method"] == method
        return {a["feature"]: a["attribution"] for a in r.json()["explanations"][0]["attributions"]}

    ours, exact = explain("coalition_shap"), explain("exact_shap")
    assert ours.keys() == exact.keys()
    np.testing.assert_allclose(list(ours.values()), list(exact.values()), atol=1e-12)


def test_auto_leaves_it_alone(client: TestClient, served: type[Explainer]) -> None:
    r = client.post("/v1/models/tiny_credit/explain", json={"instances": [CASE]})
    assert r.status_code == 200, r.text
    assert r.json()["method"] != "coalition_shap"


def test_it_keeps_the_contract(served: type[Explainer], request: pytest.FixtureRequest) -> None:
    check_contract(served, [request.getfixturevalue(name) for name in CASE_NAMES])


def test_it_is_gone_once_unregistered(client: TestClient) -> None:
    assert "coalition_shap" not in client.get("/v1/vocabulary").json()["methods"]
    assert "coalition_shap" not in client.get("/v1/models/tiny_credit").json()["explainers"]
    r = client.post(
        "/v1/models/tiny_credit/explain", json={"instances": [CASE], "method": "coalition_shap"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "method"
