"""Predictions as domain values: what a model said about one row, in the card's words.

The one mapping from a model's outputs (probabilities ``(n, n_classes)`` or values
``(n, 1)``) to labelled predictions; the engine, the narration step and the
counterfactual search all use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from service.models.card import ModelCard

__all__ = ["Prediction", "prediction_of", "predictions"]


@dataclass(frozen=True)
class Prediction:
    """A classifier's label and class probabilities (card class order), or a regressor's value."""

    label: str | None = None
    probabilities: Mapping[str, float] | None = None
    value: float | None = None


def prediction_of(card: ModelCard, y: NDArray[np.float64]) -> Prediction:
    """One row of model output: probabilities ``(n_classes,)`` or a value ``(1,)``."""
    if card.task == "regression":
        return Prediction(value=float(y[0]))
    classes = card.classes or ()
    return Prediction(
        label=classes[int(np.argmax(y))],
        probabilities={c: float(p) for c, p in zip(classes, y, strict=True)},
    )


def predictions(card: ModelCard, y: NDArray[np.float64]) -> list[Prediction]:
    """Model output for a batch: ``(n, n_classes)`` probabilities or ``(n, 1)`` values."""
    return [prediction_of(card, row) for row in y]
