"""Copy coverage: which features lack reviewed words, per locale, and whether that matters.

A feature has *reviewed copy* in a locale when the card gives it a label and both
phrases there (English: ``label`` and ``phrases``; other locales: ``translations``;
a shared reason code's own phrases count for the features behind it). Without it a
reason falls back to English or to a generic sentence, flagged in the response.

A gap matters when the feature can reach the top reasons. Without evidence every
unprotected player is assumed to (protected ones never can); given the players seen
among the reasons of a sample (``reached``, e.g. from explaining the background),
only those count. The report says which basis it used.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from service.models.card import Feature, LocalCopy, ModelCard
from service.people.reasons import players_info

__all__ = [
    "CopyGap",
    "CoverageReport",
    "LocaleCoverage",
    "copy_coverage",
    "reached_in",
]

_FIELDS = ("label", "raises", "lowers")


@dataclass(frozen=True)
class CopyGap:
    feature: str  # a player: a feature, or a one-hot group
    missing: tuple[str, ...]  # of "label", "raises", "lowers"
    reachable: bool


@dataclass(frozen=True)
class LocaleCoverage:
    locale: str
    players: int  # unprotected players, the ones that can be shown
    gaps: tuple[CopyGap, ...]

    @property
    def complete(self) -> bool:
        """True when no feature that can reach the top reasons lacks reviewed copy."""
        return not any(g.reachable for g in self.gaps)


@dataclass(frozen=True)
class CoverageReport:
    model: str
    version: str
    basis: str
    locales: tuple[LocaleCoverage, ...]

    @property
    def complete(self) -> bool:
        return all(c.complete for c in self.locales)


def _present(card: ModelCard, feature: Feature, locale: str) -> set[str]:
    shared = card.reason_codes.get(feature.code or "")
    if locale == "en":
        have = {"label"} if feature.label else set()
        phrases = [feature.phrases] + ([shared.phrases] if shared is not None else [])
        have |= {d for d in ("raises", "lowers") if any(getattr(p, d) for p in phrases)}
        return have
    local: LocalCopy | None = feature.translations.get(locale)
    code_local = shared.translations.get(locale) if shared is not None else None
    copies = [c for c in (local, code_local) if c is not None]
    have = {"label"} if local is not None and local.label else set()
    return have | {d for d in ("raises", "lowers") if any(getattr(c, d) for c in copies)}


def copy_coverage(
    card: ModelCard, locales: Sequence[str], *, reached: Collection[str] | None = None
) -> CoverageReport:
    """Coverage of the card's copy in each locale.

    reached: player names seen among the reasons of a sample; None assumes every
    unprotected player can reach the top reasons.
    """
    players = [p for p in players_info(card) if not p.protected]
    out = []
    for locale in locales:
        gaps = []
        for info in players:
            first = card.features[info.columns[0]]
            have = _present(card, first, locale)
            if len(info.columns) > 1:
                # A group's label is the card's group label, which exists in English only.
                has_label = locale == "en" and info.name in card.groups
                have = (have - {"label"}) | ({"label"} if has_label else set())
            missing = tuple(f for f in _FIELDS if f not in have)
            if missing:
                reachable = True if reached is None else info.name in reached
                gaps.append(CopyGap(info.name, missing, reachable))
        out.append(LocaleCoverage(locale, len(players), tuple(gaps)))
    basis = (
        "card only: every unprotected feature is assumed able to reach the top reasons"
        if reached is None
        else f"features seen among the reasons of a sample: {len(reached)}"
    )
    return CoverageReport(card.name, card.version, basis, tuple(out))


class _Reason(Protocol):
    @property
    def features(self) -> Sequence[str]: ...


class _Reasoned(Protocol):
    @property
    def reasons(self) -> Sequence[_Reason]: ...


def reached_in(explanations: Iterable[_Reasoned]) -> set[str]:
    """Players that appear behind any reason of these narrated explanations."""
    return {f for e in explanations for r in e.reasons for f in r.features}
