"""Deep links: the Preview's state as query parameters, written and read back leniently."""

from __future__ import annotations

from widgets.cases import FormField
from widgets.links import PreviewLink, format_value, from_query, parse_value, to_query

ALLOWED = {
    "models": ["breast_cancer", "german_credit"],
    "personas": ["end_user", "analyst", "audit"],
    "locales": ["en", "de"],
    "channels": ["notice", "reasons", "text"],
}


def test_a_link_round_trips_the_state() -> None:
    query = to_query(
        model="german_credit",
        case=2,
        persona="audit",
        locale="de",
        channel="text",
        edits={"age": 40.0, "checking_account": "no checking account", "rate": 2.5},
    )
    assert query == {
        "model": "german_credit",
        "case": "3",  # as the page labels it: "Case 3"
        "persona": "audit",
        "locale": "de",
        "channel": "text",
        "edit.age": "40",
        "edit.checking_account": "no checking account",
        "edit.rate": "2.5",
    }
    assert from_query(query, **ALLOWED) == PreviewLink(
        model="german_credit",
        case=2,
        persona="audit",
        locale="de",
        channel="text",
        edits={"age": "40", "checking_account": "no checking account", "rate": "2.5"},
    )


def test_what_a_link_cannot_mean_is_dropped() -> None:
    query = {"model": "gone", "case": "0", "persona": "boss", "locale": "fr", "channel": "fax",
             "edit.": "1", "other": "x"}  # fmt: skip
    assert from_query(query, **ALLOWED) == PreviewLink()
    assert from_query({"case": "three"}, **ALLOWED).case is None
    assert from_query({}, **ALLOWED) == PreviewLink()


def test_edited_values_are_read_as_the_form_accepts_them() -> None:
    number = FormField("income", "Income", "number", "", low=0.0, high=500.0)
    integer = FormField("debt", "Debt", "integer", "", low=0.0, high=200.0)
    flag = FormField("guarantor", "Guarantor", "flag", "")
    choice = FormField("job", "Job", "choice", "", options=("none", "part time"))
    assert parse_value(number, "12.5") == 12.5
    assert parse_value(number, "501") is None
    assert parse_value(number, "nan") is None
    assert parse_value(number, "lots") is None
    assert parse_value(integer, "40") == 40
    assert isinstance(parse_value(integer, "40.0"), int)
    assert parse_value(integer, "40.5") is None
    assert parse_value(flag, "1") == 1
    assert parse_value(flag, "2") is None
    assert parse_value(choice, "part time") == "part time"
    assert parse_value(choice, "full time") is None


def test_values_are_written_as_people_write_them() -> None:
    assert format_value(40.0) == "40"
    assert format_value(0.25) == "0.25"
    assert format_value("a b") == "a b"
