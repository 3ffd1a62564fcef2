"""The narrative templates: one string table per locale, versioned as a whole.

Templates are data: ``string.Template`` strings with ``$name`` placeholders and no
logic, so that a reviewer can read every sentence a person may be shown. Any change
to any string must bump ``TEMPLATE_VERSION`` (a test pins the digest of the tables
to the version), because the version travels with every response and with the audit
record: a stored notice must be reproducible from its version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from string import Template

from service.people.narratives.templates import de, en

__all__ = ["LOCALES", "TEMPLATES", "TEMPLATE_VERSION", "template_digest", "text"]

TEMPLATE_VERSION = "1.1.0"
TEMPLATES: Mapping[str, Mapping[str, str]] = {"en": en.STRINGS, "de": de.STRINGS}
LOCALES: tuple[str, ...] = tuple(TEMPLATES)


def template_digest() -> str:
    """SHA-256 over every locale's table, in a canonical JSON form."""
    canonical = json.dumps(TEMPLATES, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def text(locale: str, /, *keys: str, **values: object) -> str:
    """The first of ``keys`` that the locale's table has, filled in with ``values``.

    Several keys form a fallback chain from specific to general (``reasons.heading.credit``
    then ``reasons.heading.general``). Every locale has every key (a test checks), so a
    missing key is a programming error and raises KeyError.
    """
    table = TEMPLATES[locale]
    for key in keys:
        if key in table:
            return Template(table[key]).substitute({k: str(v) for k, v in values.items()})
    raise KeyError(f"no template among {keys} for locale {locale!r}")
