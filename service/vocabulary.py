"""Clarion's vocabulary: every name a caller may use, defined once.

Methods come from the explainer registry (``service.explain.explainers``), read when
asked, so a method registered later is listed too. Every other list is declared here
once, as a ``Literal`` type with its tuple derived from it: the wire schemas (and so the
OpenAPI enums), the CLI, the error messages and ``GET /v1/vocabulary`` all read these,
and the workspace learns them from that endpoint instead of repeating them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from service.explain.explainers import AUTO, EXPLAINERS
from service.explain.explanation import OutputSpace
from service.html.theme import Theme  # the widget's owner defines its colour schemes
from service.html.widget import Variant  # and its variants

__all__ = [
    "AUTO",
    "LOCALES",
    "LOCALE_NAMES",
    "OUTPUT_SPACES",
    "PERSONAS",
    "RISK_FLAGS",
    "THEMES",
    "VARIANTS",
    "VERDICTS",
    "Locale",
    "Persona",
    "RiskFlag",
    "Theme",
    "Variant",
    "Verdict",
    "as_dict",
    "deterministic_methods",
    "method_choices",
    "methods",
    "one_of",
]

Persona = Literal["end_user", "analyst", "audit"]
"""Who reads an explanation: plain words, an analyst's numbers, or the audit view."""
Locale = Literal["en", "de"]
"""Languages with narrative templates (``service.people.narratives.templates``)."""
Verdict = Literal["ok", "inaccurate", "proxy", "not_actionable", "unclear_wording", "unstable"]
"""A reviewer's verdict on a recorded explanation."""
RiskFlag = Literal["low_confidence", "near_threshold", "quality_failed", "proxy_flag"]
"""Why a recorded decision is oversampled for review."""

PERSONAS: tuple[Persona, ...] = get_args(Persona)
LOCALES: tuple[Locale, ...] = get_args(Locale)
VARIANTS: tuple[Variant, ...] = get_args(Variant)
THEMES: tuple[Theme, ...] = get_args(Theme)
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)
RISK_FLAGS: tuple[RiskFlag, ...] = get_args(RiskFlag)
OUTPUT_SPACES: tuple[OutputSpace, ...] = get_args(OutputSpace)

LOCALE_NAMES: Mapping[Locale, str] = {"en": "English", "de": "Deutsch"}
"""Each locale's name in its own language, for pickers."""


def methods() -> tuple[str, ...]:
    """The served explanation methods, in registry order."""
    return tuple(EXPLAINERS)


def method_choices() -> tuple[str, ...]:
    """What a request's ``method`` may say: ``auto``, then every served method."""
    return (AUTO, *EXPLAINERS)


def deterministic_methods() -> tuple[str, ...]:
    """Methods whose values do not depend on the seed (one run is enough), in registry
    order, which is the order ``auto`` prefers them in."""
    return tuple(name for name, cls in EXPLAINERS.items() if cls.deterministic)


def one_of(choices: tuple[str, ...]) -> str:
    """``'a', 'b' or 'c'``: how a message lists the accepted names."""
    quoted = [repr(c) for c in choices]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def as_dict() -> dict[str, Any]:
    """Every list, as ``GET /v1/vocabulary`` returns it."""
    return {
        "methods": list(method_choices()),
        "deterministic_methods": list(deterministic_methods()),
        "output_spaces": list(OUTPUT_SPACES),
        "personas": list(PERSONAS),
        "locales": list(LOCALES),
        "locale_names": dict(LOCALE_NAMES),
        "widgets": list(VARIANTS),
        "themes": list(THEMES),
        "verdicts": list(VERDICTS),
        "risk_flags": list(RISK_FLAGS),
    }
