"""What could change this: counterfactuals over actionable features, verified by the model.

What may move. Only players whose every column is ``actionable``, not protected and
not a proxy (suggesting a change to a proxy is suggesting a change to what it stands
for). Numeric values stay inside the card's ``range`` intersected with the background's
[min, max]; categories, binary values and one-hot columns only take values that occur
in the background. Candidate numeric values are the background's quantiles at 0%, 5%,
..., 100% (rounded for integer features). The card rules out advice nobody would ship:
a feature's ``never_suggest`` values are never proposed (a category, or 1 for a one-hot
column or binary flag), and its ``direction`` (``increase``/``decrease``) keeps every
numeric suggestion on that side of the current value.

Cost (documented, and returned with each counterfactual):

    cost = sum over changed numeric features |new - old| / IQR(background)
         + 1 per changed categorical, binary or one-hot feature

where the IQR falls back to (max - min) / 4 and then 1 for near-constant columns, and a
change from a missing value costs 1.

Search. A beam search over at most ``max_changes`` players: every single move is scored
in one batch; the ``beam`` most promising non-solutions (half by margin gained per unit
cost, half by margin) are extended by one more player, and so on. Each solution is then
made smaller: changes that are not needed are dropped, and each numeric change is
bisected back toward the original value while the outcome still holds. The cheapest
solutions with different sets of changed features are kept (a set that contains an
already kept set is dominated), and every one is re-scored through ``predict`` (ONNX
Runtime in the service) before it is returned. "Minimal" therefore means minimal among
what this search visits, not a global optimum.

Success: the predicted class is a desired one (the card's ``favorable_class`` when it
has one, else any other class) by a margin of at least ``margin`` in probability, so
that a counterfactual does not sit on the decision boundary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from service.models.card import ModelCard

__all__ = [
    "Counterfactual",
    "Move",
    "Predict",
    "Search",
    "WhyNone",
    "find_counterfactuals",
    "moves_for",
]

Predict = Callable[[NDArray[np.float64]], NDArray[np.float64]]
WhyNone = Literal["regression", "already_favorable", "no_actionable_features", "none_found"]

_QUANTILES = np.linspace(0.0, 1.0, 21)
_BISECT_STEPS = 10


@dataclass(frozen=True)
class Move:
    """Set ``columns`` to ``values``: one player's change, with its cost."""

    player: int
    columns: tuple[int, ...]
    values: tuple[float, ...]
    cost: float


@dataclass(frozen=True)
class Counterfactual:
    """x: (n_features,) the changed row; probabilities: (n_classes,) its re-scored output."""

    x: NDArray[np.float64]
    columns: tuple[int, ...]
    probabilities: NDArray[np.float64]
    cost: float


@dataclass(frozen=True)
class Search:
    found: tuple[Counterfactual, ...]
    why_none: WhyNone | None
    desired: tuple[int, ...]


def _scale(column: NDArray[np.float64]) -> float:
    q25, q75 = np.nanquantile(column, [0.25, 0.75])
    for s in (q75 - q25, (np.nanmax(column) - np.nanmin(column)) / 4.0):
        if s > 1e-12:
            return float(s)
    return 1.0


def _numeric_cost(old: float, new: float, scale: float) -> float:
    return 1.0 if math.isnan(old) else abs(new - old) / scale


def moves_for(
    card: ModelCard, background: NDArray[np.float64], x: NDArray[np.float64]
) -> list[Move]:
    """Every single-player move allowed from x. background: (n_rows, n_features)."""
    moves: list[Move] = []
    for index, player in enumerate(card.players):
        features = [card.features[c] for c in player.columns]
        if any(f.actionability != "actionable" or f.protected or f.proxy_for for f in features):
            continue
        if len(player.columns) > 1:  # a one-hot group: switch which column is hot
            block = background[:, list(player.columns)]
            for hot in range(len(player.columns)):
                if not np.any(block[:, hot] == 1) or features[hot].never_suggests(1.0):
                    continue
                values = tuple(1.0 if i == hot else 0.0 for i in range(len(player.columns)))
                if not np.array_equal(x[list(player.columns)], values):
                    moves.append(Move(index, player.columns, values, 1.0))
            continue
        (c,) = player.columns
        f = features[0]
        seen = background[:, c][~np.isnan(background[:, c])]
        if seen.size == 0:
            continue
        if f.type in ("categorical", "binary"):
            for v in np.unique(seen):
                if v != x[c] and not f.never_suggests(float(v)):
                    moves.append(Move(index, (c,), (float(v),), 1.0))
            continue
        lo, hi = float(seen.min()), float(seen.max())
        if f.range is not None:
            lo, hi = max(lo, f.range[0]), min(hi, f.range[1])
        grid = np.clip(np.quantile(seen, _QUANTILES), lo, hi)
        if f.type == "integer":
            grid = np.clip(np.round(grid), math.ceil(lo), math.floor(hi))
        scale = _scale(background[:, c])
        for v in np.unique(grid):
            if v != x[c] and _allowed(f.direction, float(x[c]), float(v)):
                moves.append(Move(index, (c,), (float(v),), _numeric_cost(x[c], float(v), scale)))
    return moves


def _allowed(direction: str, old: float, new: float) -> bool:
    """Whether the card's ``direction`` lets a numeric value move from old to new."""
    if math.isnan(old) or direction == "any":
        return True
    return new > old if direction == "increase" else new < old


def _margins(P: NDArray[np.float64], desired: Sequence[int]) -> NDArray[np.float64]:
    """Best desired class's probability minus the best other class's, per row."""
    mask = np.zeros(P.shape[1], dtype=bool)
    mask[list(desired)] = True
    return np.asarray(P[:, mask].max(axis=1) - P[:, ~mask].max(axis=1), dtype=np.float64)


@dataclass
class _State:
    z: NDArray[np.float64]
    moves: tuple[Move, ...]
    cost: float
    margin: float = -np.inf


def _apply(z: NDArray[np.float64], move: Move) -> NDArray[np.float64]:
    out = z.copy()
    out[list(move.columns)] = move.values
    return out


def _cost(
    x: NDArray[np.float64], z: NDArray[np.float64], card: ModelCard, scales: dict[int, float]
) -> float:
    total = 0.0
    counted: set[int] = set()
    for player in card.players:
        cols = list(player.columns)
        if np.array_equal(x[cols], z[cols], equal_nan=True) or player.columns[0] in counted:
            continue
        counted.add(player.columns[0])
        f = card.features[cols[0]]
        if len(cols) > 1 or f.type in ("categorical", "binary"):
            total += 1.0
        else:
            total += _numeric_cost(float(x[cols[0]]), float(z[cols[0]]), scales[cols[0]])
    return total


def _shrink(
    states: list[_State],
    x: NDArray[np.float64],
    card: ModelCard,
    scales: dict[int, float],
    predict: Predict,
    desired: Sequence[int],
    margin: float,
) -> None:
    """Drop unneeded changes, then bisect numeric changes toward x; in place, batched."""
    for s in states:
        for move in sorted(s.moves, key=lambda m: -m.cost):
            if len(s.moves) == 1:
                break
            trial = s.z.copy()
            trial[list(move.columns)] = x[list(move.columns)]
            if _margins(predict(trial[None, :]), desired)[0] >= margin:
                s.z, s.moves = trial, tuple(m for m in s.moves if m is not move)
    # One numeric change per state at a time (batched across states), so that each
    # bisection sees the others at their final values.
    for rank in range(max((len(s.moves) for s in states), default=0)):
        numeric = [
            (s, s.moves[rank].columns[0])
            for s in states
            if rank < len(s.moves) and _is_numeric_move(card, x, s.moves[rank])
        ]
        if numeric:
            _bisect(numeric, x, card, scales, predict, desired, margin)


def _is_numeric_move(card: ModelCard, x: NDArray[np.float64], move: Move) -> bool:
    if len(move.columns) != 1 or math.isnan(x[move.columns[0]]):
        return False
    return card.features[move.columns[0]].type in ("numeric", "integer")


def _bisect(
    entries: list[tuple[_State, int]],
    x: NDArray[np.float64],
    card: ModelCard,
    scales: dict[int, float],
    predict: Predict,
    desired: Sequence[int],
    margin: float,
) -> None:
    """Move each (state, column) back toward x as far as the outcome still holds."""
    low = np.zeros(len(entries))  # fraction of the way from x to the change found
    high = np.ones(len(entries))  # known to succeed
    origins = np.array([x[c] for _, c in entries])
    targets = np.array([s.z[c] for s, c in entries])

    steps = [_step(card, c, scales[c]) for _, c in entries]

    def rows(fraction: NDArray[np.float64]) -> NDArray[np.float64]:
        Z = np.stack([s.z for s, _ in entries])
        for i, (_, c) in enumerate(entries):
            value = origins[i] + fraction[i] * (targets[i] - origins[i])
            Z[i, c] = _round(value, origins[i], targets[i], steps[i])
        return Z

    for _ in range(_BISECT_STEPS):
        mid = (low + high) / 2
        ok = _margins(predict(rows(mid)), desired) >= margin
        high = np.where(ok, mid, high)
        low = np.where(ok, low, mid)
    final = rows(high)
    for i, (s, c) in enumerate(entries):
        s.z[c] = final[i, c]


def _step(card: ModelCard, column: int, scale: float) -> float:
    """A readable precision for a suggested value: about 1/50 of the IQR, a power of ten."""
    step = 10.0 ** math.floor(math.log10(scale / 50.0))
    return max(step, 1.0) if card.features[column].type == "integer" else step


def _round(value: float, origin: float, target: float, step: float) -> float:
    """Round to ``step`` away from the origin (the change never shrinks below what was
    tried), without passing the target value that is known to work."""
    units = value / step
    rounded = (math.ceil(units) if target > origin else math.floor(units)) * step
    rounded = min(rounded, target) if target > origin else max(rounded, target)
    return float(round(rounded, 10))


def find_counterfactuals(
    card: ModelCard,
    predict: Predict,
    background: NDArray[np.float64],
    x: NDArray[np.float64],
    *,
    k: int = 3,
    max_changes: int = 3,
    beam: int = 32,
    margin: float = 0.05,
) -> Search:
    """Up to ``k`` verified counterfactuals for one row.

    predict: (n, n_features) canonical rows -> (n, n_classes) probabilities.
    background: (n_rows, n_features); x: (n_features,).
    """
    if card.task == "regression":
        return Search((), "regression", ())
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    classes = list(card.classes or ())
    p0 = predict(x[None, :])[0]
    current = int(np.argmax(p0))
    if card.favorable_class is not None:
        favorable = classes.index(card.favorable_class)
        if current == favorable:
            return Search((), "already_favorable", (favorable,))
        desired: tuple[int, ...] = (favorable,)
    else:
        desired = tuple(i for i in range(len(classes)) if i != current)
    moves = moves_for(card, background, x)
    if not moves:
        return Search((), "no_actionable_features", desired)
    scales = {c: _scale(background[:, c]) for c in range(background.shape[1])}
    base_margin = float(_margins(p0[None, :], desired)[0])
    frontier = [_State(x, (), 0.0, base_margin)]
    solutions: list[_State] = []
    for _ in range(max_changes):
        children = [
            _State(_apply(s.z, m), (*s.moves, m), s.cost + m.cost)
            for s in frontier
            for m in moves
            if all(m.player != done.player for done in s.moves)
        ]
        if not children:
            break
        margins = _margins(predict(np.stack([c.z for c in children])), desired)
        for child, value in zip(children, margins, strict=True):
            child.margin = float(value)
        solutions += [c for c in children if c.margin >= margin]
        rest = [c for c in children if c.margin < margin]
        by_rate = sorted(rest, key=lambda c: -(c.margin - base_margin) / max(c.cost, 1e-9))
        by_margin = sorted(rest, key=lambda c: -c.margin)
        frontier = _unique(by_rate[: beam // 2] + by_margin[: beam - beam // 2])
        if len(solutions) >= 4 * k:
            break
    if not solutions:
        return Search((), "none_found", desired)
    solutions = sorted(solutions, key=lambda s: (s.cost, len(s.moves)))[: 8 * k]
    _shrink(solutions, x, card, scales, predict, desired, margin)
    return _verified(_diverse(solutions, x, card, scales, k), x, card, predict, desired, margin)


def _unique(states: list[_State]) -> list[_State]:
    seen: set[bytes] = set()
    out = []
    for s in states:
        key = s.z.tobytes()
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def _diverse(
    states: list[_State], x: NDArray[np.float64], card: ModelCard, scales: dict[int, float], k: int
) -> list[tuple[NDArray[np.float64], float]]:
    """The cheapest solutions whose changed-player sets do not contain a kept one."""
    scored = sorted(
        ((s.z, _cost(x, s.z, card, scales)) for s in _unique(states)),
        key=lambda zc: (zc[1], int(np.sum(zc[0] != x))),
    )
    kept: list[tuple[NDArray[np.float64], float]] = []
    kept_sets: list[frozenset[int]] = []
    for z, cost in scored:
        changed = frozenset(int(c) for c in np.nonzero(~np.isclose(z, x, equal_nan=True))[0])
        if not changed or any(s <= changed for s in kept_sets):
            continue
        kept.append((z, cost))
        kept_sets.append(changed)
        if len(kept) == k:
            break
    return kept


def _verified(
    candidates: list[tuple[NDArray[np.float64], float]],
    x: NDArray[np.float64],
    card: ModelCard,
    predict: Predict,
    desired: tuple[int, ...],
    margin: float,
) -> Search:
    """Re-score every candidate; keep those that still change the outcome."""
    if not candidates:
        return Search((), "none_found", desired)
    Z = np.stack([z for z, _ in candidates])
    P = predict(Z)
    ok = _margins(P, desired) >= margin
    found = tuple(
        Counterfactual(
            x=z,
            columns=tuple(int(c) for c in np.nonzero(~np.isclose(z, x, equal_nan=True))[0]),
            probabilities=P[i],
            cost=cost,
        )
        for i, (z, cost) in enumerate(candidates)
        if ok[i]
    )
    return Search(found, None if found else "none_found", desired)
