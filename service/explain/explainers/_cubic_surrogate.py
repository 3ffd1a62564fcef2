"""The cubic single-index surrogate of ``sampled_shap``: u(S) = c1 L + c2 L^2 + c3 L^3.

L(S) = sum of b_i over the players in S, one linear score. A smooth link (a sigmoid, a
softmax) on a nearly additive model adds mostly such a curvature to the additive game, so
this cubic is a cheap control variate for the mean game, and its Shapley values have a
closed form (expand the powers of L into unanimity games).

This module owns the surrogate (``SingleIndex``): its weighted least-squares fit, its
values and its Shapley values.

Shapes: masks Z (c, n_players) as floats; weights w and values y (c,); b (n_players,);
c (3,), the coefficients of L, L^2 and L^3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["SingleIndex"]


@dataclass(frozen=True)
class SingleIndex:
    """The control variate: a cubic of one linear score, u(S) = c1 L + c2 L^2 + c3 L^3 with
    L(S) = sum of b_i over the players in S. It captures what a smooth link (a sigmoid,
    a softmax) adds to a nearly additive model, and its Shapley values have a closed form.
    """

    b: NDArray[np.float64]
    c: NDArray[np.float64]

    @classmethod
    def fit(
        cls,
        Z: NDArray[np.float64],
        w: NDArray[np.float64],
        y: NDArray[np.float64],
        total: float,
        start: NDArray[np.float64],
    ) -> SingleIndex | None:
        """Weighted least squares over the evaluated coalitions (Z (c, m), w, y (c,)) with
        the full coalition held close; None unless it fits better than the additive start."""
        from scipy.optimize import least_squares

        m = Z.shape[1]
        sw = np.sqrt(w)
        Zx = np.vstack([Z, np.ones(m)])
        yx = np.append(y, total)
        swx = np.append(sw, 10.0 * sw.max())

        def residual(theta: NDArray[np.float64]) -> NDArray[np.float64]:
            L = Zx @ theta[:m]
            c = theta[m:]
            return np.asarray(swx * (L * (c[0] + L * (c[1] + L * c[2])) - yx))

        def jacobian(theta: NDArray[np.float64]) -> NDArray[np.float64]:
            L = Zx @ theta[:m]
            c = theta[m:]
            slope = c[0] + L * (2 * c[1] + 3 * L * c[2])
            powers = np.stack([L, L**2, L**3], axis=1)
            return np.asarray(swx[:, None] * np.concatenate([slope[:, None] * Zx, powers], 1))

        theta0 = np.concatenate([start, [1.0, 0.0, 0.0]])
        before = float((residual(theta0) ** 2).sum())
        with np.errstate(all="ignore"):
            theta = least_squares(
                residual, theta0, jac=jacobian, method="lm", max_nfev=20 * (m + 3)
            ).x
        after = float((residual(theta) ** 2).sum())
        if not np.all(np.isfinite(theta)) or not after < 0.9 * before:
            return None
        return cls(theta[:m], theta[m:])

    def __call__(self, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        L = Z @ self.b
        c = self.c
        return np.asarray(L * (c[0] + L * (c[1] + L * c[2])))

    def at_full(self) -> float:
        return float(self(np.ones((1, self.b.shape[0])))[0])

    def shapley(self) -> NDArray[np.float64]:
        """Exact Shapley values (m,) of the cubic: expand the powers of L into unanimity games
        (z_i**2 = z_i) and share each product's coefficient among its players."""
        b, c = self.b, self.c
        others = b.sum() - b
        others_sq = (b**2).sum() - b**2
        pairs_of_others = (others**2 - others_sq) / 2.0
        linear = b
        square = b**2 + b * others
        cube = b**3 + 1.5 * (b**2 * others + b * others_sq) + 2.0 * b * pairs_of_others
        return np.asarray(c[0] * linear + c[1] * square + c[2] * cube)
