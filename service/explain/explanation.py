"""The Explanation type: one shape for every method.

``values`` is always ``(n_samples, n_features, n_outputs)`` and ``base_values``
always ``(n_samples, n_outputs)``, whatever the method, the task or the number
of rows. "features" here are the game's players (a one-hot group is one).
Library objects (shap's, lime's) are converted at the edge of their explainer
module and never travel further.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["Explanation", "OutputSpace"]

OutputSpace = Literal["raw", "probability"]


@dataclass(frozen=True)
class Explanation:
    """Attributions for a batch of rows.

    values: (n_samples, n_features, n_outputs) float64
    base_values: (n_samples, n_outputs) float64, the value of the empty coalition
    outputs: (n_samples, n_outputs) float64, the model output being explained, in ``output_space``
    quality: name -> (n_samples, n_outputs) float64 (``additivity_residual``, ``fidelity_r2``, ...)
    meta: method parameters, seed, timing; JSON-serialisable
    """

    values: NDArray[np.float64]
    base_values: NDArray[np.float64]
    outputs: NDArray[np.float64]
    feature_names: tuple[str, ...]
    output_names: tuple[str, ...]
    output_space: OutputSpace
    method: str
    quality: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, m, k = self.values.shape
        if self.base_values.shape != (n, k):
            raise ValueError(f"base_values must be {(n, k)}; got {self.base_values.shape}")
        if self.outputs.shape != (n, k):
            raise ValueError(f"outputs must be {(n, k)}; got {self.outputs.shape}")
        if len(self.feature_names) != m or len(self.output_names) != k:
            raise ValueError("feature_names and output_names must match the values' shape")
        for name, q in self.quality.items():
            if q.shape != (n, k):
                raise ValueError(f"quality {name!r} must be {(n, k)}; got {q.shape}")

    @property
    def n_samples(self) -> int:
        return int(self.values.shape[0])

    def rows(self, which: slice) -> Explanation:
        """The explanation of the rows ``which`` of this batch (views of its arrays; the
        same meta)."""
        return replace(
            self,
            values=self.values[which],
            base_values=self.base_values[which],
            outputs=self.outputs[which],
            quality={name: q[which] for name, q in self.quality.items()},
        )

    @property
    def additivity_residual(self) -> NDArray[np.float64]:
        """|base + sum(values) - output|, shape (n_samples, n_outputs)."""
        total = self.base_values + self.values.sum(axis=1)
        return np.asarray(np.abs(total - self.outputs), dtype=np.float64)
