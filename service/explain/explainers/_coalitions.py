"""The coalitions ``sampled_shap`` evaluates: which sizes are enumerated, which sampled.

The Shapley kernel puts most of its weight on the smallest and largest coalitions, so
they are evaluated exhaustively (``fixed_part``) and the sizes in between are sampled in
complementary pairs, a size uniformly, then a subset of it (``draw_pairs``: leverage-score
sampling, Musco & Witter 2025), each pair weighted for the regression by the share of
kernel weight it stands for (``pair_weights``).

Masks are boolean ``(c, m)``: coalition by player.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np
from numpy.typing import NDArray

from service.explain.game import all_masks

__all__ = ["Fixed", "draw_pairs", "fixed_part", "least_evals", "pair_weights"]


@dataclass(frozen=True)
class Fixed:
    """The enumerated part: masks (c, m) of the exhausted sizes, their kernel weights (c,),
    the sizes still to sample and the share of kernel weight each sampled pair stands for."""

    masks: NDArray[np.bool_]
    weights: NDArray[np.float64]
    sizes: tuple[int, ...]
    n_players: int


def least_evals(m: int) -> int:
    """The smallest budget (coalitions per row) ``sampled_shap`` takes for m players: every
    coalition of one player and of all but one, and as many sampled pairs as players (all
    coalitions when there are fewer)."""
    return 2 if m < 2 else min(4 * m, 2**m - 2)


def _kernel_weight(m: int, s: int) -> float:
    """The Shapley kernel's weight of one coalition of size s (0 < s < m)."""
    return (m - 1) / (comb(m, s) * s * (m - s))


def fixed_part(m: int, max_evals: int, timed: bool = False) -> Fixed:
    """Enumerate sizes from the outside in while a pair of sizes costs at most half of the
    budget left (sizes 1 and m-1 always); everything when the budget covers it. Under a
    time budget (``timed``) only sizes 1 and m-1, whose cost is known to be small, unless
    everything costs no more than that."""
    if max_evals >= 2**m - 2 and (not timed or 2**m - 2 <= least_evals(m)):
        masks = all_masks(m)[1:-1]
        sizes = masks.sum(axis=1)
        weights = np.array([_kernel_weight(m, int(s)) for s in sizes])
        return Fixed(masks, weights, (), m)
    chosen: list[int] = []
    left = max_evals
    for s in range(1, m // 2 + 1):
        cost = comb(m, s) * (1 if 2 * s == m else 2)
        if s > 1 and (timed or cost > left / 2):
            break
        chosen += [s] if 2 * s == m else [s, m - s]
        left -= cost
    blocks = [_all_of_size(m, s) for s in chosen]
    masks = np.concatenate(blocks)
    weights = np.concatenate(
        [np.full(len(b), _kernel_weight(m, s)) for b, s in zip(blocks, chosen, strict=True)]
    )
    sizes = tuple(s for s in range(1, m) if s not in chosen)
    return Fixed(masks, weights, sizes, m)


def _all_of_size(m: int, s: int) -> NDArray[np.bool_]:
    from itertools import combinations

    out = np.zeros((comb(m, s), m), dtype=bool)
    for r, cols in enumerate(combinations(range(m), s)):
        out[r, list(cols)] = True
    return out


def pair_weights(fixed: Fixed, sz: NDArray[np.intp]) -> NDArray[np.float64]:
    """Each sampled pair's weight in the regression, from its coalition sizes (u,): a pair
    stands for 1/u of the sampled sizes' kernel weight, W_s * R / (2u) per coalition and the
    same for its complement (W_s = W_{m-s} is a size's total weight, R the sizes sampled)."""
    m = fixed.n_players
    per_size = np.array([(m - 1) / (s * (m - s)) for s in range(1, m)])
    return np.asarray(per_size[sz - 1] * len(fixed.sizes) / (2.0 * sz.shape[0]))


def draw_pairs(
    rng: np.random.Generator, m: int, sizes: tuple[int, ...], n_pairs: int
) -> NDArray[np.bool_]:
    """n_pairs coalitions (size uniform over ``sizes``, then a uniform subset) each followed
    by its complement: (2 * n_pairs, m)."""
    size = np.asarray(sizes)[rng.integers(0, len(sizes), n_pairs)]
    rank = np.argsort(rng.random((n_pairs, m)), axis=1)
    drawn = rank < size[:, None]
    out = np.empty((2 * n_pairs, m), dtype=bool)
    out[0::2], out[1::2] = drawn, ~drawn
    return out
