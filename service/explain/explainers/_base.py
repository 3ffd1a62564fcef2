"""The explainer contract, after scikit-learn's estimators.

``__init__`` stores keyword parameters unchanged (each with a default); ``fit(game)``
validates them against the class's constraint table, refuses a game the method cannot
play and sets trailing-underscore attributes; ``explain(X)`` checks that the explainer
is fitted and never mutates it.

Availability is part of the contract, decided on a model's ``Capabilities`` (never on
a loaded model): ``unavailable`` says why no options make the method explain such a
model (the rule ``GET /v1/models/{name}`` shows and a request is refused by), ``check``
refuses what these parameters cannot do, and ``accepts`` (both, with default
parameters) is what ``auto`` asks of the methods that set ``auto``.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from service.errors import InvalidInput, NotFitted
from service.explain.capabilities import Capabilities
from service.explain.explanation import Explanation
from service.explain.game import Game

__all__ = ["Explainer", "Interval", "NotFitted", "Options"]


@dataclass(frozen=True)
class Interval:
    """An integer or real parameter bounded on both sides (inclusive)."""

    kind: type[int] | type[float]
    low: float
    high: float

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if self.kind is float and not isinstance(value, int | float):
            return False
        return bool(self.low <= value <= self.high)

    def describe(self) -> str:
        if self.kind is int:  # whole numbers in full: "[0, 4294967295]", not "4.29497e+09"
            return f"an int in [{int(self.low)}, {int(self.high)}]"
        return f"a number in [{self.low:g}, {self.high:g}]"


Options = Mapping[str, Any]

_WARM: set[type[Explainer]] = set()
_WARMING: dict[type[Explainer], threading.Lock] = {}
_WARM_LOCK = threading.Lock()


class Explainer(ABC):
    """Base class: parameters, validation and the fitted check."""

    name: ClassVar[str]
    parameter_constraints: ClassVar[Mapping[str, Interval]] = {
        "seed": Interval(int, 0, 2**32 - 1),
    }
    deterministic: ClassVar[bool] = True
    """The same game and parameters give the same values whatever the seed."""
    auto: ClassVar[bool] = False
    """``auto`` may pick this method: it takes, in registry order, the first such method
    that ``accepts`` the model."""

    game_: Game

    @classmethod
    def is_warm(cls) -> bool:
        return cls in _WARM

    @classmethod
    def warm(cls) -> None:
        """Do once, outside any request's time limit, what the method's first explanation
        would otherwise pay for: importing its libraries (shap takes 3-4 s) and compiling
        its numba kernels. Explains a tiny linear game in both input dtypes; a method that
        cannot play it (tree_shap: no trees) warms what it can and stops there."""
        if cls in _WARM:
            return
        with _WARM_LOCK:
            lock = _WARMING.setdefault(cls, threading.Lock())
        with lock:  # one lock per method: lime need not wait for shap's import
            if cls in _WARM:
                return
            for dtype in (np.float32, np.float64):
                game = Game(
                    predict=lambda X: np.asarray(X, dtype=np.float64) @ np.array([[1.0], [2.0]]),
                    background=np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]]),
                    players=((0,), (1,)),
                    player_names=("a", "b"),
                    output_names=("y",),
                    output_space="raw",
                    input_dtype=dtype,
                )
                try:
                    cls().fit(game).explain(np.array([[1.5, 0.5]]))
                except InvalidInput:
                    break
            _WARM.add(cls)

    @classmethod
    def rows_independent(cls, output_space: str) -> bool:
        """Whether each row's values are computed from that row alone, bit for bit the same
        whatever other rows share the call (batch jobs then explain rows in blocks).
        False unless a method knows: sampling draws across a call's rows, and evaluating
        coalitions in blocks regroups sums in the last bits."""
        return False

    @classmethod
    def unavailable(cls, model: Capabilities) -> str | None:
        """Why this method cannot explain such a model whatever its options; None if it can."""
        return None

    def check(self, model: Capabilities) -> None:  # noqa: B027 - optional hook
        """Refuse with ``InvalidInput`` a model that these parameters cannot explain
        (too many players for the budget, say); the method itself is available."""

    @classmethod
    def accepts(cls, model: Capabilities) -> bool:
        """Whether the method, with its default parameters, can explain the model."""
        if cls.unavailable(model) is not None:
            return False
        try:
            cls().check(model)
        except InvalidInput:
            return False
        return True

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.parameter_constraints}

    @classmethod
    def from_options(cls, options: Options) -> Self:
        """Build from request options; unknown option names are a 422 naming the option."""
        known = set(cls.parameter_constraints)
        unknown = sorted(set(options) - known)
        if unknown:
            raise InvalidInput(
                f"unknown option {unknown[0]!r} for method {cls.name!r}; "
                f"known options: {sorted(known)}",
                details=[{"field": f"options.{k}", "problem": "unknown option"} for k in unknown],
            )
        return cls(**options)

    def validate_params(self) -> None:
        for key, constraint in self.parameter_constraints.items():
            value = getattr(self, key)
            if not constraint.accepts(value):
                raise InvalidInput(
                    f"the {key!r} parameter of {type(self).__name__} must be "
                    f"{constraint.describe()}; got {value!r}",
                    details={"field": f"options.{key}", "problem": constraint.describe()},
                )

    def fit(self, game: Game) -> Self:
        self.validate_params()
        model = Capabilities.of_game(game)
        reason = self.unavailable(model)
        if reason is not None:
            raise InvalidInput(
                f"{self.name} is unavailable for this model: {reason}",
                details={"field": "method", "problem": reason},
            )
        self.check(model)
        self.game_ = game
        return self

    def model_rows(self, game: Game, n_samples: int) -> int:
        """How many rows the model will score to explain ``n_samples`` rows: the cost
        that the per-request explanation budget bounds. One pass over the background
        per row unless a method says otherwise."""
        return n_samples * game.n_background

    def peak_rows(self, game: Game, n_samples: int) -> int:
        """The most model rows the method holds in memory at once: one chunk of the game's
        coalition rows unless a method says otherwise. Times the columns and 8 bytes, it
        is what the per-request memory budget (CLARION_MAX_EXPLANATION_BYTES) bounds."""
        return min(self.model_rows(game, n_samples), max(game.chunk_rows, game.n_background))

    def explain(
        self, X: NDArray[np.float64], *, outputs: NDArray[np.float64] | None = None
    ) -> Explanation:
        """Explain rows X (n_samples, n_columns).

        Returns values (n_samples, n_players, n_outputs) with quality and provenance.
        outputs: (n_samples, n_outputs) the game's model outputs for X, where the caller
        has them already (the engine runs the model once per request, for its predictions
        and these); a method reads them through ``_outputs`` instead of running the model.
        """
        if not hasattr(self, "game_"):
            raise NotFitted(f"{type(self).__name__} is not fitted; call fit(game) first")
        start = time.perf_counter()
        X = np.asarray(X, dtype=np.float64)
        if outputs is not None and outputs.shape != (X.shape[0], self.game_.n_outputs):
            raise ValueError(f"outputs must be {(X.shape[0], self.game_.n_outputs)}")
        if outputs is not None:
            self._given = (X, outputs)
        try:
            explanation = self._explain(X)
        finally:
            vars(self).pop("_given", None)  # the explainer as it was (a tested contract)
        meta = dict(explanation.meta)
        meta.setdefault("parameters", self.get_params())
        meta["duration_ms"] = round((time.perf_counter() - start) * 1000, 3)
        quality = dict(explanation.quality)
        quality.setdefault("additivity_residual", explanation.additivity_residual)
        return Explanation(
            values=explanation.values,
            base_values=explanation.base_values,
            outputs=explanation.outputs,
            feature_names=explanation.feature_names,
            output_names=explanation.output_names,
            output_space=explanation.output_space,
            method=explanation.method,
            quality=quality,
            meta=meta,
        )

    @abstractmethod
    def _explain(self, X: NDArray[np.float64]) -> Explanation: ...

    # what ``explain`` was given with the rows it is explaining: (X, outputs) or None
    _given: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None

    def _outputs(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """The game's model outputs for rows X: those ``explain`` was given with these very
        rows, else the model's run."""
        given = self._given
        if given is not None and given[0] is X:
            return given[1]
        return self.game_.predict(X)

    def _explanation(
        self,
        values: NDArray[np.float64],
        base_values: NDArray[np.float64],
        outputs: NDArray[np.float64],
        quality: Mapping[str, NDArray[np.float64]] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Explanation:
        game = self.game_
        return Explanation(
            values=values,
            base_values=base_values,
            outputs=outputs,
            feature_names=game.player_names,
            output_names=game.output_names,
            output_space=game.output_space,  # type: ignore[arg-type]
            method=self.name,
            quality=dict(quality or {}),
            meta=dict(meta or {}),
        )
