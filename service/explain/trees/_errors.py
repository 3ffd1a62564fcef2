"""The one exception the tree package raises internally: a model tree_shap cannot serve."""

from __future__ import annotations

__all__ = ["Unsupported"]


class Unsupported(Exception):
    """The graph (or its trees) cannot be explained exactly; ``reason`` says why, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
