"""Card copy in a locale, and numbers and values written the way people read them.

English copy is the card's own fields; other locales come from ``translations``.
Whatever a locale lacks falls back to English, and the caller is told (so a reason
can carry the ``untranslated`` flag and the coverage report can list it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.models.card import Feature, LocalCopy, ModelCard, Phrases
from service.people.narratives.templates import text
from service.people.reasons import PlayerInfo, Reason

__all__ = [
    "Worded",
    "feature_label",
    "format_number",
    "format_percent",
    "format_range",
    "format_signed",
    "format_value",
    "outcome_label",
    "player_label",
    "player_value",
    "reason_text",
]

_DE_SEPARATORS = str.maketrans({",": ".", ".": ","})


@dataclass(frozen=True)
class Worded:
    """Words, and whether English stood in for the locale or a generic sentence was used."""

    text: str
    untranslated: bool = False
    generic: bool = False

    def __str__(self) -> str:
        return self.text


def _local(translations: Mapping[str, LocalCopy], locale: str) -> LocalCopy | None:
    return None if locale == "en" else translations.get(locale)


def _localise(number: str, locale: str) -> str:
    return number.translate(_DE_SEPARATORS) if locale == "de" else number


def format_number(value: float, locale: str, spec: str | None = None) -> str:
    """A number for people: the card's format spec, else whole numbers with thousands
    separators and others to three significant digits."""
    if spec is not None:
        written = _localise(format(value, spec), locale)
        return written.replace("%", "\u202f%") if locale == "de" else written
    if not math.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return _localise(f"{int(value):,}", locale)
    magnitude = math.floor(math.log10(abs(value))) if value else 0
    if magnitude < -4:
        return _localise(f"{value:.2e}", locale)
    decimals = min(max(0, 2 - magnitude), 6)
    return _localise(_trim(f"{value:,.{decimals}f}"), locale)


def _trim(number: str) -> str:
    """Drop trailing zeros after the decimal point (``0.850`` -> ``0.85``)."""
    return number.rstrip("0").rstrip(".") if "." in number else number


def format_signed(value: float, locale: str) -> str:
    """Contributions for analysts: always signed, three significant digits."""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude < -4:
        return _localise(f"{value:+.2e}", locale)
    return _localise(_trim(f"{value:+.{min(max(0, 2 - magnitude), 6)}f}"), locale)


def format_percent(p: float, locale: str, *, rounded: bool = True) -> str:
    """A probability as people read it. ``rounded``: to 5 points, clamped to 5-95."""
    sign = "\u202f%" if locale == "de" else "%"
    if not rounded:
        return _localise(f"{100 * p:.1f}", locale) + sign
    pct = 5 * round(20 * p)
    if pct < 5:
        return text(locale, "probability.under", pct=f"5{sign}")
    if pct > 95:
        return text(locale, "probability.over", pct=f"95{sign}")
    return text(locale, "probability.about", pct=f"{pct}{sign}")


def feature_label(feature: Feature, locale: str) -> Worded:
    local = _local(feature.translations, locale)
    if local is not None and local.label:
        return Worded(local.label)
    return Worded(feature.display_label, untranslated=locale != "en")


def player_label(card: ModelCard, info: PlayerInfo, locale: str) -> Worded:
    """A player's label: the feature's, or for a one-hot group its group label."""
    if len(info.columns) == 1:
        return feature_label(card.features[info.columns[0]], locale)
    return Worded(info.label, untranslated=locale != "en")


def format_value(feature: Feature, value: Any, locale: str) -> str:
    """A feature's value as a person gave it, with its unit, in the locale."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return text(locale, "value.missing")
    local = _local(feature.translations, locale)
    if feature.type == "categorical":
        if local is not None and str(value) in local.categories:
            return local.categories[str(value)]
        return str(value)
    if feature.type == "binary":
        return text(locale, "value.yes" if value else "value.no")
    return _with_unit(feature, format_number(float(value), locale, feature.format), locale)


def _with_unit(feature: Feature, number: str, locale: str) -> str:
    local = _local(feature.translations, locale)
    unit = (local.unit if local is not None and local.unit else None) or feature.unit
    return f"{number}\u00a0{unit}" if unit else number


def format_range(feature: Feature, low: float, high: float, locale: str) -> str:
    """A numeric range with the unit once: ``21.0–32.2 kg/m²``."""
    a = format_number(low, locale, feature.format)
    b = format_number(high, locale, feature.format)
    return _with_unit(feature, f"{a}\u2013{b}", locale)


def player_value(card: ModelCard, info: PlayerInfo, given: dict[str, Any], locale: str) -> str:
    """The value of a player: a feature's value, or the label of a group's hot column."""
    if len(info.columns) == 1:
        f = card.features[info.columns[0]]
        return format_value(f, given[f.name], locale)
    for c in info.columns:
        f = card.features[c]
        if given.get(f.name):
            return feature_label(f, locale).text
    return text(locale, "value.missing")


def outcome_label(card: ModelCard, cls: str, locale: str) -> str:
    """How to name a class to people: the card's outcome label, else the class itself."""
    for loc in (locale, "en"):
        label = card.outcome_labels.get(loc, {}).get(cls)
        if label:
            return label
    return cls


def _phrase(
    english: Phrases, translations: Mapping[str, LocalCopy], direction: str, locale: str
) -> tuple[str | None, bool]:
    """The reviewed phrase for a direction; (phrase, untranslated)."""
    local = _local(translations, locale)
    if local is not None and getattr(local, direction):
        return str(getattr(local, direction)), False
    phrase = getattr(english, direction)
    return (None if phrase is None else str(phrase)), locale != "en"


def reason_text(
    card: ModelCard, reason: Reason, label: Worded, locale: str, reference: str
) -> Worded:
    """The sentence for a reason: the shared code's phrase when the card has one, else the
    leading feature's; a generic sentence (flagged) when the card has no phrase at all.

    reference: the class whose score the phrases describe (see ``reasons.phrase_sign``).
    """
    members = [f for f in card.features if f.code == reason.code]
    shared = card.reason_codes.get(reason.code)
    if shared is not None:
        phrase, untranslated = _phrase(
            shared.phrases, shared.translations, reason.direction, locale
        )
    elif members:
        lead = next((f for f in members if f.name in reason.features), members[0])
        phrase, untranslated = _phrase(lead.phrases, lead.translations, reason.direction, locale)
    else:
        phrase, untranslated = None, False
    if phrase and not untranslated:
        return Worded(phrase)
    if card.task == "regression":
        generic = text(locale, f"reason.generic.regression.{reason.direction}", label=label)
        return Worded(generic, untranslated=label.untranslated, generic=True)
    quotes = ("\u201e", "\u201c") if locale == "de" else ("\u201c", "\u201d")
    named = f"{quotes[0]}{outcome_label(card, reference, locale)}{quotes[1]}"
    generic = text(locale, f"reason.generic.{reason.direction}", label=label, reference=named)
    return Worded(generic, untranslated=label.untranslated, generic=True)
