"""The template tables: complete in every locale, versioned, and numbers written per locale."""

from __future__ import annotations

from string import Template

import pytest

from service.people.narratives import LOCALES, PERSONAS, TEMPLATE_VERSION, template_digest
from service.people.narratives._words import format_number, format_percent, format_signed
from service.people.narratives.templates import TEMPLATES, text

# A change to any template must come with a new TEMPLATE_VERSION (it travels with every
# notice and audit record, so a stored notice names the exact words it was made of):
# record the new version's digest here when you bump it.
DIGESTS = {
    "1.0.0": "be6aa4796f930fd17e2e0752f49ad9cc37a22045ad80f355099bb6f4b9d23cf7",
    # Issue 16: coherent review notices (no outcome before the review, no "these factors"
    # without factors) and rights paragraphs per card jurisdiction (FCRA only for US).
    "1.1.0": "7bad88b7f7a65588f5817a1ac96df4c406d16817570e8542c4af700b41c458d9",
}


def _placeholders(template: str) -> set[str]:
    return {
        m.group("named") or m.group("braced")
        for m in Template.pattern.finditer(template)
        if m.group("named") or m.group("braced")
    }


def test_every_locale_has_every_key_with_the_same_placeholders() -> None:
    assert set(LOCALES) == {"en", "de"}
    english = TEMPLATES["en"]
    for locale in LOCALES:
        table = TEMPLATES[locale]
        assert set(table) == set(english), locale
        for key, template in table.items():
            assert _placeholders(template) == _placeholders(english[key]), (locale, key)


def test_the_public_surface_is_pinned() -> None:
    import service.people.narratives as narratives

    assert narratives.__all__ == [
        "LOCALES",
        "PERSONAS",
        "TEMPLATE_VERSION",
        "Locale",
        "Persona",
        "compose",
        "domain_of",
        "narrate",
        "render_text",
        "template_digest",
    ]
    assert PERSONAS == ("end_user", "analyst", "audit")


def test_the_template_version_is_bumped_with_any_change() -> None:
    assert TEMPLATE_VERSION in DIGESTS, "record the new version's digest in DIGESTS"
    assert template_digest() == DIGESTS[TEMPLATE_VERSION], (
        "the templates changed: bump TEMPLATE_VERSION and record its digest in DIGESTS"
    )


def test_a_missing_key_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="no template"):
        text("en", "no.such.key")
    assert text("de", "missing.one", "list.and") == "und"


@pytest.mark.parametrize(
    ("value", "locale", "spec", "expected"),
    [
        (12345.0, "en", None, "12,345"),
        (12345.0, "de", None, "12.345"),
        (0.8512, "en", None, "0.851"),
        (0.85, "de", None, "0,85"),
        (1234.5678, "en", None, "1,235"),  # three significant digits
        (2.5e-7, "en", None, "2.50e-07"),
        (0.256, "en", ".0%", "26%"),
        (0.256, "de", ".0%", "26\u202f%"),
        (7060.0, "de", ",.0f", "7.060"),
    ],
)
def test_numbers_are_written_for_the_locale(
    value: float, locale: str, spec: str | None, expected: str
) -> None:
    assert format_number(value, locale, spec) == expected


def test_signed_contributions_and_rounded_probabilities() -> None:
    assert format_signed(0.0900, "de") == "+0,09"
    assert format_signed(-0.1234, "en") == "-0.123"
    assert format_percent(0.83, "en") == "about 85%"
    assert format_percent(0.021, "en") == "under 5%"
    assert format_percent(0.99, "de") == "über 95\u202f%"


def test_every_template_fills_in_as_string_template_would() -> None:
    # ``text`` fills a format string made once per key (faster than Template.substitute);
    # it must give the same text, braces and dollar signs in values included.
    for locale, table in TEMPLATES.items():
        for key, source in table.items():
            values = {name: f"<{name} {{0}} $x>" for name in _placeholders(source)}
            assert text(locale, key, **values) == Template(source).substitute(values), key
