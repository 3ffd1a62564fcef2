"""The explainer registry: which methods are served, what each can explain, and ``auto``.

Adding a method is one new module with an ``Explainer`` subclass and one entry in the
tuple below: the API's vocabulary, the request schema's enum, the model's availability
listing, ``auto`` and the contract test suite all read this registry. ``register``
serves another class for the length of a block (a test's throwaway method).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

from service.errors import InvalidInput
from service.explain.capabilities import Capabilities
from service.explain.explainers._base import Explainer
from service.explain.explainers.exact_shap import ExactShap
from service.explain.explainers.kernel_shap import KernelShap
from service.explain.explainers.lime import Lime
from service.explain.explainers.permutation_shap import PermutationShap
from service.explain.explainers.sampled_shap import SampledShap
from service.explain.explainers.tree_shap import TreeShap

__all__ = ["AUTO", "EXPLAINERS", "all_warm", "availability", "choose_method", "register"]

AUTO = "auto"
"""The request's default method: the registry picks one (``choose_method``)."""

_SERVED: dict[str, type[Explainer]] = {}
EXPLAINERS: Mapping[str, type[Explainer]] = MappingProxyType(_SERVED)
"""Every served method by name, in registry order (the order ``auto`` tries them in)."""


def _add(cls: type[Explainer]) -> None:
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier() or name == AUTO:
        raise ValueError(f"{cls.__name__} needs a class attribute 'name', an identifier")
    if name in _SERVED:
        raise ValueError(f"a method named {name!r} is already registered")
    _SERVED[name] = cls


# Exact and near-exact methods first: auto falls back to sampled_shap only where they refuse.
for _cls in (TreeShap, ExactShap, SampledShap, KernelShap, PermutationShap, Lime):
    _add(_cls)


@contextmanager
def register(cls: type[Explainer]) -> Iterator[type[Explainer]]:
    """Serve ``cls`` under ``cls.name`` inside the block; it is removed on the way out."""
    _add(cls)
    try:
        yield cls
    finally:
        del _SERVED[cls.name]


def availability(model: Capabilities) -> dict[str, str]:
    """Each method and whether it is ``available`` for this model, or why not."""
    out = {}
    for name, cls in EXPLAINERS.items():
        reason = cls.unavailable(model)
        out[name] = "available" if reason is None else f"unavailable: {reason}"
    return out


def all_warm() -> bool:
    """Whether every served method has warmed up (``Explainer.warm``)."""
    return all(cls.is_warm() for cls in tuple(EXPLAINERS.values()))


def choose_method(requested: str, model: Capabilities) -> str:
    """Resolve ``auto`` and refuse a method this model cannot use, saying why.

    ``auto`` takes, in registry order, the first method marked ``auto`` that accepts the
    model with its default parameters: tree_shap for verified trees (in raw space, or up
    to the default enumeration limit), else exact_shap up to that limit, else
    sampled_shap.
    """
    if requested == AUTO:
        for name, cls in EXPLAINERS.items():
            if cls.auto and cls.accepts(model):
                return name
        raise InvalidInput(
            f"no method can explain this model; availability: {availability(model)}",
            details={"field": "method", "problem": "no method available"},
        )
    if requested not in EXPLAINERS:
        raise InvalidInput(
            f"unknown method {requested!r}; known: {[AUTO, *EXPLAINERS]}",
            details={"field": "method", "problem": "unknown method"},
        )
    reason = EXPLAINERS[requested].unavailable(model)
    if reason is not None:
        status = f"unavailable: {reason}"
        raise InvalidInput(
            f"{requested} is {status}",
            details={"field": "method", "problem": status},
        )
    return requested
