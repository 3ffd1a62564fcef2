"""Principal reasons: attributions grouped by reason code, screened, ordered, cut to a few.

A *player* (a feature, or the one-hot columns of one raw feature) takes the card
``code`` of its first column (or, without one, its own name); several players may
share a code, and a code's
contribution is the sum of its players' (the raw attribution of each is kept, as
Regulation B comment 9(b)(2)-4 and App. C comment 4 ask).

Direction. Attributions arrive *toward the explained target* (``target`` in the
response). ``toward`` maps them to *toward the outcome being explained to the person*:
+1 when the predicted class is the target, -1 when it is the other class of a binary
model (or, for a multiclass model, "pushed away from the target"). Classifier reasons
are the codes with a positive contribution toward the outcome, largest first. A
regressor has no outcome to push toward: its reasons are the codes with the largest
absolute contribution, in either direction.

Screening happens before ranking, per player, not per code: a protected player is
never part of a reason (cards may not mix protected and unprotected features behind
one code, so no code mixes them either). ``Screening.suppressed`` lists the protected
players that *would* have ranked among the reasons without screening; ``flagged``
lists the proxy players (``proxy_for``) that are shown.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, overload

import numpy as np
from numpy.typing import NDArray

from service.models.card import ModelCard, derived

__all__ = [
    "PlayerInfo",
    "Reason",
    "ReasonSet",
    "Screening",
    "outcome_sign",
    "phrase_class",
    "phrase_sign",
    "players_info",
    "select_reasons",
]

Direction = Literal["raises", "lowers"]


@dataclass(frozen=True)
class PlayerInfo:
    """What screening and wording need to know about one player."""

    name: str
    label: str
    code: str
    columns: tuple[int, ...]
    protected: bool
    proxy_for: tuple[str, ...]


@dataclass(frozen=True)
class Reason:
    """One reason code with the players behind it.

    ``contribution``: summed contribution toward the outcome (> 0 for classifier reasons).
    ``contributions``: player -> raw attribution toward the explained target.
    ``direction``: the effect on the card's reference score (what ``phrases`` describe).
    """

    code: str
    features: tuple[str, ...]
    contribution: float
    contributions: Mapping[str, float]
    direction: Direction
    proxy_for: tuple[str, ...] = ()


@dataclass(frozen=True)
class Screening:
    suppressed: tuple[str, ...] = ()
    flagged: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReasonSet:
    """The principal reasons and everything a reviewer needs to check them.

    ``ranked``: every unprotected code, largest absolute contribution first (charts,
    analysts). ``suppressed_contributions``: protected player -> contribution toward
    the outcome, for the audit view only.
    """

    reasons: tuple[Reason, ...]
    screening: Screening
    ranked: Sequence[Reason]
    suppressed_contributions: Mapping[str, float] = field(default_factory=dict)


def players_info(card: ModelCard) -> tuple[PlayerInfo, ...]:
    """Per player, in card player order: code, label, protection and proxy status.

    A group is protected if any of its columns is, and a proxy for everything any
    column is a proxy for: screening errs on the side of keeping things out.
    """
    return derived(card, "players_info", lambda: _players_info(card))


def _players_info(card: ModelCard) -> tuple[PlayerInfo, ...]:
    out = []
    for p in card.players:
        features = [card.features[c] for c in p.columns]
        code = features[0].code or p.name  # the card forbids a code equal to such a name
        proxies = tuple(sorted({f.proxy_for for f in features if f.proxy_for}))
        out.append(
            PlayerInfo(
                name=p.name,
                label=p.label,
                code=code,
                columns=p.columns,
                protected=any(f.protected for f in features),
                proxy_for=proxies,
            )
        )
    return tuple(out)


def outcome_sign(card: ModelCard, target: str, predicted: str | None) -> float | None:
    """+1 if attributions toward ``target`` point toward the predicted outcome, -1 if they
    point away from it; None for regressors (reasons are ranked by magnitude)."""
    if card.task == "regression" or predicted is None:
        return None
    return 1.0 if predicted == target else -1.0


def phrase_sign(card: ModelCard, target: str) -> float:
    """Map attributions toward ``target`` onto the score the card's phrases describe.

    Phrases describe the positive class's probability (binary), else the target's own
    score (multiclass, regression): for a binary model explained toward the other
    class the directions swap.
    """
    classes = card.classes or ()
    if len(classes) == 2 and card.positive_class is not None and target != card.positive_class:
        return -1.0
    return 1.0


def phrase_class(card: ModelCard, target: str) -> str:
    """The class whose score the card's phrases describe when explaining ``target``."""
    if phrase_sign(card, target) < 0 and card.positive_class is not None:
        return card.positive_class
    return target


def _total(members: Sequence[tuple[PlayerInfo, float]]) -> float:
    """A code's summed raw attribution, as ``sum`` gives it (-0.0 included: a replay
    compares bits)."""
    if len(members) == 1:
        return 0.0 + members[0][1]
    return float(sum(a for _, a in members))


def _ordered(members: Sequence[tuple[PlayerInfo, float]]) -> Sequence[tuple[PlayerInfo, float]]:
    """A code's players, largest absolute attribution first (then by name)."""
    if len(members) == 1:  # most codes have one player: nothing to order
        return members
    return sorted(members, key=lambda m: (-abs(m[1]), m[0].name))


def _code_reason(
    code: str,
    members: Sequence[tuple[PlayerInfo, float]],
    toward: float,
    phrase: float,
) -> Reason:
    total = _total(members)
    ordered = _ordered(members)
    if len(members) == 1:
        proxies = members[0][0].proxy_for  # sorted and unique (``players_info``)
    else:
        proxies = tuple(sorted({p for info, _ in members for p in info.proxy_for}))
    return Reason(
        code=code,
        features=tuple(info.name for info, _ in ordered),
        contribution=toward * total,
        contributions={info.name: float(a) for info, a in ordered},
        direction="raises" if phrase * total >= 0 else "lowers",
        proxy_for=proxies,
    )


def _group(
    players: Sequence[PlayerInfo], values: Sequence[float], keep: Sequence[bool]
) -> dict[str, list[tuple[PlayerInfo, float]]]:
    codes: dict[str, list[tuple[PlayerInfo, float]]] = {}
    for info, v, k in zip(players, values, keep, strict=True):
        if k:
            codes.setdefault(info.code, []).append((info, v))
    return codes


class _Ranked(Sequence[Reason]):
    """Every unprotected code as a ``Reason``, largest absolute contribution first, each
    made when it is first read: a notice's chart reads the first few of a card's codes,
    and only the analyst and audit views read them all."""

    def __init__(
        self,
        order: Sequence[str],
        codes: Mapping[str, Sequence[tuple[PlayerInfo, float]]],
        toward: float,
        phrase: float,
    ) -> None:
        self._order = order
        self._codes = codes
        self._made: dict[str, Reason] = {}
        self._toward = toward
        self._phrase = phrase

    def reason(self, code: str) -> Reason:
        """The ``Reason`` of ``code``, made on its first read."""
        reason = self._made.get(code)
        if reason is None:
            reason = self._made[code] = _code_reason(
                code, self._codes[code], self._toward, self._phrase
            )
        return reason

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, index: int) -> Reason: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Reason, ...]: ...
    def __getitem__(self, index: int | slice) -> Reason | tuple[Reason, ...]:
        if isinstance(index, slice):
            return tuple(self.reason(code) for code in self._order[index])
        return self.reason(self._order[index])

    def __iter__(self) -> Iterator[Reason]:
        return (self.reason(code) for code in self._order)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Ranked | tuple):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"_Ranked({tuple(self)!r})"


def select_reasons(
    card: ModelCard,
    attributions: NDArray[np.float64],
    *,
    toward: float | None,
    phrase: float = 1.0,
    max_reasons: int | None = None,
    min_share: float = 0.01,
) -> ReasonSet:
    """Group, screen and rank one row's attributions.

    attributions: (n_players,) toward the explained target, in card player order.
    toward: see ``outcome_sign``; None ranks by magnitude in both directions.
    phrase: see ``phrase_sign``.
    max_reasons: at most this many reasons (default the card's ``max_reasons``).
    min_share: a reason must carry at least this share of the total absolute
        attribution, so that a negligible code is never presented as principal.

    Codes are ranked on their sums; a ``Reason`` is made only for a code that is read
    (the reasons themselves, and ``ranked`` as far as it is read).
    """
    players = players_info(card)
    values = np.asarray(attributions, dtype=np.float64).reshape(-1)
    if values.shape[0] != len(players):
        raise ValueError(
            f"expected {len(players)} attributions (one per player); got {values.shape}"
        )
    limit = max_reasons if max_reasons is not None else card.max_reasons
    sign = 1.0 if toward is None else toward
    floor = max(min_share * float(np.abs(values).sum()), 1e-12)
    floats = values.tolist()  # the values as float() gives them

    def rank(contributions: Mapping[str, float]) -> list[str]:
        """The codes whose contribution reaches the floor, in the order reasons go."""
        if toward is None:
            chosen = [c for c, v in contributions.items() if abs(v) >= floor]
            return sorted(chosen, key=lambda c: (-abs(contributions[c]), c))
        chosen = [c for c, v in contributions.items() if v >= floor]
        return sorted(chosen, key=lambda c: (-contributions[c], c))

    screened = _group(players, floats, [not p.protected for p in players])
    contribution = {c: sign * _total(m) for c, m in screened.items()}
    ranked = _Ranked(
        sorted(screened, key=lambda c: (-abs(contribution[c]), c)), screened, sign, phrase
    )
    reasons = tuple(ranked.reason(c) for c in rank(contribution)[:limit])  # made once

    # What the top reasons would have been with nothing screened: the protected
    # players in there are the ones screening kept out. Only codes with a protected
    # member differ from the screened ones.
    unscreened = _group(players, floats, [True] * len(players))
    touched = {p.code for p in players if p.protected}
    would_be = rank(
        {c: sign * _total(m) if c in touched else contribution[c] for c, m in unscreened.items()}
    )[:limit]
    suppressed = tuple(
        info.name
        for c in would_be
        if c in touched
        for info, _ in _ordered(unscreened[c])
        if info.protected
    )
    flagged = tuple(
        info.name for r in reasons for info in players if info.name in r.features and info.proxy_for
    )
    return ReasonSet(
        reasons=reasons,
        screening=Screening(suppressed=suppressed, flagged=flagged),
        ranked=ranked,
        suppressed_contributions={
            p.name: sign * v for p, v in zip(players, floats, strict=True) if p.protected
        },
    )
