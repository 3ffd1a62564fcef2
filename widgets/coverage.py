"""Copy coverage seen from the workspace: which features lack reviewed words in which locale.

Computed from the card as the API serves it (``GET /v1/models/{name}``), by the
service's rule: a player has reviewed copy in a locale when it has a label there and
both a "raises" and a "lowers" phrase (its own, or its shared reason code's; other
locales from ``translations``). A gap *matters* when the player can reach the top
reasons: every unprotected player when nothing else is known, or only the players
seen among the reasons of an explained sample (``reached``). ``observed_fallbacks``
counts what end users actually got: reasons the API flagged ``untranslated`` or
``generic_copy``. Pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CopyGap", "copy_gaps", "coverage_summary", "observed_fallbacks", "reached_in"]

_FIELDS = ("label", "raises", "lowers")


@dataclass(frozen=True)
class CopyGap:
    locale: str
    player: str
    label: str
    missing: tuple[str, ...]
    reachable: bool


def _players(detail: Mapping[str, Any]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """(player name, its card features) in player order; one-hot groups gather their columns."""
    features = detail["features"]
    out = []
    for name in detail.get("players") or [f["name"] for f in features]:
        columns = [f for f in features if f["name"] == name or f.get("group") == name]
        out.append((name, columns))
    return out


def _present(card: Mapping[str, Any], feature: Mapping[str, Any], locale: str) -> set[str]:
    shared = (card.get("reason_codes") or {}).get(feature.get("code") or "") or {}
    if locale == "en":
        have = {"label"} if feature.get("label") else set()
        phrases = [feature.get("phrases") or {}, shared.get("phrases") or {}]
        return have | {d for d in ("raises", "lowers") if any(p.get(d) for p in phrases)}
    local = (feature.get("translations") or {}).get(locale) or {}
    code_local = (shared.get("translations") or {}).get(locale) or {}
    have = {"label"} if local.get("label") else set()
    return have | {d for d in ("raises", "lowers") if local.get(d) or code_local.get(d)}


def copy_gaps(
    detail: Mapping[str, Any], locales: Sequence[str], *, reached: Collection[str] | None = None
) -> list[CopyGap]:
    """Every unprotected player lacking reviewed copy in a locale, and whether it matters."""
    card = detail.get("card") or {}
    groups = card.get("groups") or {}
    gaps = []
    for locale in locales:
        for name, columns in _players(detail):
            if not columns or any(c.get("protected") for c in columns):
                continue
            have = _present(card, columns[0], locale)
            label = columns[0].get("label") or name
            if len(columns) > 1:
                # A group's label is the card's group label, which exists in English only.
                has_label = locale == "en" and name in groups
                have = (have - {"label"}) | ({"label"} if has_label else set())
                label = groups.get(name, name)
            missing = tuple(f for f in _FIELDS if f not in have)
            if missing:
                reachable = True if reached is None else name in reached
                gaps.append(CopyGap(locale, name, str(label), missing, reachable))
    return gaps


def coverage_summary(
    detail: Mapping[str, Any], locales: Sequence[str], gaps: Iterable[CopyGap]
) -> list[dict[str, Any]]:
    """Per locale: players that can be shown, gaps, gaps that matter, complete or not."""
    shown = sum(
        1
        for _, columns in _players(detail)
        if columns and not any(c.get("protected") for c in columns)
    )
    listed = list(gaps)
    rows = []
    for locale in locales:
        mine = [g for g in listed if g.locale == locale]
        matter = sum(1 for g in mine if g.reachable)
        rows.append(
            {
                "locale": locale,
                "players": shown,
                "with reviewed copy": shown - len(mine),
                "gaps": len(mine),
                "gaps that matter": matter,
                "complete": matter == 0,
            }
        )
    return rows


def reached_in(explanations: Iterable[Mapping[str, Any]]) -> set[str]:
    """Players behind any reason of these explanations."""
    return {f for e in explanations for r in e.get("reasons", []) for f in r.get("features", [])}


def observed_fallbacks(explanations: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Reasons shown with a fallback: ``untranslated`` and ``generic_copy`` counts, and total."""
    counts: Counter[str] = Counter()
    for e in explanations:
        for r in e.get("reasons", []):
            counts["reasons"] += 1
            for flag in r.get("flags", []):
                if flag in ("untranslated", "generic_copy"):
                    counts[flag] += 1
    return {k: counts[k] for k in ("reasons", "untranslated", "generic_copy")}
