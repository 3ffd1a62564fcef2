"""Deep links: the Preview's state as URL query parameters, and back.

A link names the model, the case (1-based, as the page labels it), persona, locale,
channel and every what-if edit as ``edit.<feature>=<value>``, e.g.
``?model=german_credit&case=3&persona=end_user&locale=de&channel=notice&edit.age=40``.
``to_query`` writes the parameters; ``from_query`` reads them back leniently: a value
it cannot use (an unknown model, a case out of range, a category the card lacks) is
dropped, so a stale link still opens the page. Pure: no Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from widgets.cases import FormField

__all__ = ["EDIT_PREFIX", "PreviewLink", "format_value", "from_query", "parse_value", "to_query"]

EDIT_PREFIX = "edit."


@dataclass(frozen=True)
class PreviewLink:
    """What a link says about the Preview; ``None`` where it says nothing usable."""

    model: str | None = None
    case: int | None = None
    """0-based index into the sample cases."""
    persona: str | None = None
    locale: str | None = None
    channel: str | None = None
    edits: Mapping[str, Any] = field(default_factory=dict)
    """Raw text per feature; see ``parse_value`` to read it for a field."""


def format_value(value: Any) -> str:
    """A value as a link carries it: ``40`` rather than ``40.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def to_query(
    *,
    model: str,
    case: int,
    persona: str,
    locale: str,
    channel: str,
    edits: Mapping[str, Any],
) -> dict[str, str]:
    """The query parameters of a link to this Preview (``case`` 0-based)."""
    query = {
        "model": model,
        "case": str(case + 1),
        "persona": persona,
        "locale": locale,
        "channel": channel,
    }
    query.update({f"{EDIT_PREFIX}{name}": format_value(v) for name, v in edits.items()})
    return query


def _choice(value: str | None, allowed: Sequence[str]) -> str | None:
    return value if value in allowed else None


def from_query(
    query: Mapping[str, str],
    *,
    models: Sequence[str],
    personas: Sequence[str],
    locales: Sequence[str],
    channels: Sequence[str],
) -> PreviewLink:
    """What ``query`` asks for, keeping only values among the allowed ones."""
    case: int | None = None
    try:
        number = int(query.get("case", ""))
    except ValueError:
        pass
    else:
        case = number - 1 if number >= 1 else None
    return PreviewLink(
        model=_choice(query.get("model"), models),
        case=case,
        persona=_choice(query.get("persona"), personas),
        locale=_choice(query.get("locale"), locales),
        channel=_choice(query.get("channel"), channels),
        edits={
            key.removeprefix(EDIT_PREFIX): value
            for key, value in query.items()
            if key.startswith(EDIT_PREFIX) and len(key) > len(EDIT_PREFIX)
        },
    )


def parse_value(field: FormField, text: str) -> Any | None:
    """The value ``text`` gives ``field`` (``None`` when it gives none the form accepts)."""
    if field.kind == "choice":
        by_text = {str(o): o for o in field.options}
        return by_text.get(text)
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if field.kind == "flag":
        return int(number) if number in (0, 1) else None
    if field.kind == "integer":
        if not number.is_integer():
            return None
        number = float(int(number))
    if (field.low is not None and number < field.low) or (
        field.high is not None and number > field.high
    ):
        return None
    return int(number) if field.kind == "integer" else number
