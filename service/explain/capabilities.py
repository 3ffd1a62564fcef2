"""What a model offers an explainer: the few typed facts that decide whether a method applies.

Explainers never see a loaded model. The loader composes these facts once: the card
gives the players and the task, tree analysis at load gives the verified tree structure
(``TreeSupport``) or the reason there is none (``TreeUnsupported``), and a request adds
its output space. Each explainer class reads them to say whether it can explain the
model and why not (``Explainer.unavailable``), and ``auto`` asks the registry with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from service.explain.trees.support import TreeSupport, TreeUnsupported

if TYPE_CHECKING:
    from service.explain.game import Game

__all__ = ["NOT_A_TREE_ENSEMBLE", "Capabilities", "Task"]

Task = Literal["classification", "regression"]

NOT_A_TREE_ENSEMBLE = TreeUnsupported("not a tree ensemble")
"""The tree capability of a model whose trees were never analysed (or a bare game)."""


@dataclass(frozen=True)
class Capabilities:
    """A model as an explainer's availability rule sees it.

    n_players: the players of the game (features, or one-hot groups as one player)
    n_columns: the canonical columns the model reads; None where unknown
    task: the card's task; None where unknown (a bare ``Game``)
    output_space: ``raw`` or ``probability`` for a request; None for the model in general
    trees: the verified tree structure, or why the model has none
    """

    n_players: int
    n_columns: int | None = None
    task: Task | None = None
    output_space: str | None = None
    trees: TreeSupport | TreeUnsupported = NOT_A_TREE_ENSEMBLE

    @classmethod
    def of_game(cls, game: Game) -> Capabilities:
        """What a game alone says: its players, its output space and its trees, if any."""
        return cls(
            n_players=game.n_players,
            n_columns=game.n_columns,
            output_space=game.output_space,
            trees=game.trees if game.trees is not None else NOT_A_TREE_ENSEMBLE,
        )
