"""The narrative templates: one string table per locale, versioned as a whole.

Templates are data: ``string.Template`` strings with ``$name`` placeholders and no
logic, so that a reviewer can read every sentence a person may be shown. Any change
to any string must bump ``TEMPLATE_VERSION`` (a test pins the digest of the tables
to the version), because the version travels with every response and with the audit
record: a stored notice must be reproducible from its version.
"""

from __future__ import annotations

import functools
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
            return _template(locale, key).format_map({k: str(v) for k, v in values.items()})
    raise KeyError(f"no template among {keys} for locale {locale!r}")


@functools.cache
def _template(locale: str, key: str) -> str:
    """The ``string.Template`` at ``key`` as a ``str.format`` string, made once: a notice
    fills some twenty per instance, and ``Template.substitute`` runs a regular expression
    with a callback each time. The same text for the same values (tests check every key)."""
    out = []
    source = TEMPLATES[locale][key]
    end = 0
    for match in Template.pattern.finditer(source):
        out.append(source[end : match.start()].replace("{", "{{").replace("}", "}}"))
        name = match.group("named") or match.group("braced")
        if name is not None:
            out.append("{" + name + "}")
        elif match.group("escaped") is not None:
            out.append("$")
        else:
            raise ValueError(f"template {key!r} ({locale}) has a stray '$'")
        end = match.end()
    out.append(source[end:].replace("{", "{{").replace("}", "}}"))
    return "".join(out)
