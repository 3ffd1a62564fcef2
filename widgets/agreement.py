"""Agreement between explanations of one case: do two methods (or two seeds) tell the same story?

Pure functions over attributions given as ``{feature: value}`` mappings (the
``attributions`` of an API explanation, see ``attribution_map``). The measures
follow Krishna et al., "The Disagreement Problem in Explainable ML" (2022):

- top-k overlap: the share of the k largest features (by |value|) the two have in common;
- sign agreement: the share of the k that are in both top-k sets *and* have the same sign;
- rank correlation: Spearman's rho and Kendall's tau-b between the signed values of all
  features both explanations cover (``None`` when either side is constant).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

__all__ = [
    "Agreement",
    "agree",
    "attribution_map",
    "kendall_tau",
    "seed_stability",
    "sign_agreement",
    "spearman_rho",
    "top_k",
    "top_k_overlap",
]

Attributions = Mapping[str, float]


@dataclass(frozen=True)
class Agreement:
    """How far two explanations agree; correlations are None where undefined."""

    top_k_overlap: float
    sign_agreement: float
    spearman: float | None
    kendall: float | None


def attribution_map(explanation: Mapping[str, Any]) -> dict[str, float]:
    """``{feature: attribution}`` of one instance explanation as the API returns it."""
    return {a["feature"]: float(a["attribution"]) for a in explanation["attributions"]}


def top_k(a: Attributions, k: int) -> list[str]:
    """The k features with the largest |value|, largest first (ties by name, for stability)."""
    return sorted(a, key=lambda f: (-abs(a[f]), f))[: max(k, 0)]


def top_k_overlap(a: Attributions, b: Attributions, k: int) -> float:
    """|top_k(a) ∩ top_k(b)| / k, in [0, 1]."""
    if k <= 0:
        raise ValueError(f"k must be a positive int; got {k}")
    return len(set(top_k(a, k)) & set(top_k(b, k))) / k


def sign_agreement(a: Attributions, b: Attributions, k: int) -> float:
    """Share of the k features that are in both top-k sets with the same sign, in [0, 1]."""
    if k <= 0:
        raise ValueError(f"k must be a positive int; got {k}")
    common = set(top_k(a, k)) & set(top_k(b, k))
    return sum(1 for f in common if math.copysign(1, a[f]) == math.copysign(1, b[f])) / k


def _ranks(values: Sequence[float]) -> list[float]:
    """Average ranks (1-based), ties sharing the mean of their positions."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for m in range(i, j + 1):
            ranks[order[m]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _common(a: Attributions, b: Attributions) -> tuple[list[float], list[float]]:
    features = sorted(set(a) & set(b))
    return [a[f] for f in features], [b[f] for f in features]


def spearman_rho(a: Attributions, b: Attributions) -> float | None:
    """Spearman's rank correlation of the signed values over the common features."""
    x, y = _common(a, b)
    if len(x) < 2:
        return None
    rx, ry = _ranks(x), _ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((p - mx) * (q - my) for p, q in zip(rx, ry, strict=True))
    sxx = sum((p - mx) ** 2 for p in rx)
    syy = sum((q - my) ** 2 for q in ry)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def kendall_tau(a: Attributions, b: Attributions) -> float | None:
    """Kendall's tau-b of the signed values over the common features (ties accounted for)."""
    x, y = _common(a, b)
    concordant = discordant = ties_x = ties_y = 0
    for i, j in combinations(range(len(x)), 2):
        dx, dy = x[i] - x[j], y[i] - y[j]
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            ties_x += 1
        elif dy == 0:
            ties_y += 1
        elif (dx > 0) == (dy > 0):
            concordant += 1
        else:
            discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    if denominator == 0:
        return None
    return (concordant - discordant) / denominator


def agree(a: Attributions, b: Attributions, k: int) -> Agreement:
    """All four measures between two explanations of the same case."""
    return Agreement(
        top_k_overlap=top_k_overlap(a, b, k),
        sign_agreement=sign_agreement(a, b, k),
        spearman=spearman_rho(a, b),
        kendall=kendall_tau(a, b),
    )


def seed_stability(runs: Sequence[Attributions], k: int) -> Agreement | None:
    """Mean pairwise agreement between runs of one method under different seeds.

    None with fewer than two runs; a correlation is averaged over the pairs where it is
    defined (None if it is defined for none).
    """
    pairs = [agree(a, b, k) for a, b in combinations(runs, 2)]
    if not pairs:
        return None

    def mean(values: Sequence[float | None]) -> float | None:
        defined = [v for v in values if v is not None]
        return sum(defined) / len(defined) if defined else None

    overlap = mean([p.top_k_overlap for p in pairs])
    sign = mean([p.sign_agreement for p in pairs])
    assert overlap is not None
    assert sign is not None
    return Agreement(
        top_k_overlap=overlap,
        sign_agreement=sign,
        spearman=mean([p.spearman for p in pairs]),
        kendall=mean([p.kendall for p in pairs]),
    )
