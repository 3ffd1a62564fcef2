"""Explainers: one explicit registry and one function that picks the method for ``auto``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from service.errors import InvalidInput
from service.explain.explainers._base import Explainer, Interval, NotFitted
from service.explain.explainers.exact_shap import ExactShap
from service.explain.explainers.kernel_shap import KernelShap
from service.explain.explainers.lime import Lime
from service.explain.explainers.permutation_shap import PermutationShap
from service.explain.explainers.tree_shap import TreeShap

if TYPE_CHECKING:
    from service.models.registry import LoadedModel

__all__ = [
    "EXPLAINERS",
    "ExactShap",
    "Explainer",
    "Interval",
    "KernelShap",
    "Lime",
    "NotFitted",
    "PermutationShap",
    "TreeShap",
    "availability",
    "choose_method",
]

EXPLAINERS: Mapping[str, type[Explainer]] = {
    cls.name: cls for cls in (TreeShap, ExactShap, KernelShap, PermutationShap, Lime)
}

EXACT_MAX_PLAYERS = 12


def availability(model: LoadedModel) -> dict[str, str]:
    """Each method and whether it is ``available`` for this model, or why not."""
    n_players = len(model.bundle.card.players)
    out = {name: "available" for name in EXPLAINERS}
    if model.tree_support is None:
        out["tree_shap"] = f"unavailable: {model.tree_unavailable}"
    if n_players > EXACT_MAX_PLAYERS:
        out["exact_shap"] = (
            f"unavailable: {n_players} players; exact enumeration allows {EXACT_MAX_PLAYERS}"
        )
    return out


def choose_method(requested: str, model: LoadedModel, space: str) -> str:
    """Resolve ``auto`` and refuse a method this model cannot use, saying why."""
    n_players = len(model.bundle.card.players)
    if requested == "auto":
        if model.tree_support is not None and (space == "raw" or n_players <= EXACT_MAX_PLAYERS):
            return "tree_shap"
        return "exact_shap" if n_players <= EXACT_MAX_PLAYERS else "permutation_shap"
    if requested not in EXPLAINERS:
        raise InvalidInput(
            f"unknown method {requested!r}; known: {['auto', *EXPLAINERS]}",
            details={"field": "method", "problem": "unknown method"},
        )
    status = availability(model)[requested]
    if status != "available":
        raise InvalidInput(
            f"{requested} is {status}",
            details={"field": "method", "problem": status},
        )
    return requested
