"""Evaluating the normalised arrays: the model's tree scores, for the self-check and base values."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from service.explain.trees.ensemble import TreeEnsemble

__all__ = ["predict_scores"]


def predict_scores(ensemble: TreeEnsemble, X: NDArray[np.float64]) -> NDArray[np.float64]:
    """Tree scores for canonical rows: X (n_samples, n_features) -> (n_samples, n_scores).

    Splits compare in the graph's dtype (``ensemble.prepare``); sums run in float64.
    """
    from service.explain.trees._kernels import (
        predict_kernel,  # numba loads on first use, not at import
    )

    e = ensemble
    Z = e.prepare(X)
    out: NDArray[np.float64] = predict_kernel(
        Z,
        e.feature,
        e.threshold,
        e.mode,
        e.nan_true,
        e.true_child,
        e.false_child,
        e.leaf,
        e.set_ptr,
        e.set_values,
        e.roots,
        e.leaf_values,
        e.base,
    )
    return out
