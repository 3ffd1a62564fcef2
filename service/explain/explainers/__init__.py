"""Explainers: the contract (``Explainer``), one module per method, and the registry
(``EXPLAINERS``) that serves them, says what each can explain and picks the method for
``auto``."""

from __future__ import annotations

from service.errors import NotFitted
from service.explain.explainers._base import Explainer, Interval
from service.explain.explainers.exact_shap import ExactShap
from service.explain.explainers.kernel_shap import KernelShap
from service.explain.explainers.lime import Lime
from service.explain.explainers.permutation_shap import PermutationShap
from service.explain.explainers.registry import (
    AUTO,
    EXPLAINERS,
    all_warm,
    availability,
    choose_method,
    register,
)
from service.explain.explainers.sampled_shap import SampledShap
from service.explain.explainers.tree_shap import TreeShap

__all__ = [
    "AUTO",
    "EXPLAINERS",
    "ExactShap",
    "Explainer",
    "Interval",
    "KernelShap",
    "Lime",
    "NotFitted",
    "PermutationShap",
    "SampledShap",
    "TreeShap",
    "all_warm",
    "availability",
    "choose_method",
    "register",
]
