"""The case form a card implies, and sample cases named by their outcome."""

from __future__ import annotations

from tests.widgets.app_pages.fake_api import FakeApi
from widgets.cases import (
    FormField,
    case_labels,
    coerce,
    default_model,
    form_fields,
    is_adverse,
    outcome_text,
)


def _detail() -> dict[str, object]:
    return FakeApi().client().get_model("loan")


def test_every_feature_gets_the_input_its_card_implies() -> None:
    fields = {f.name: f for f in form_fields(_detail())}
    assert fields["income"].kind == "number"
    assert (fields["income"].low, fields["income"].high) == (0.0, 500.0)
    assert fields["debt"].kind == "integer"
    assert fields["employment"].options == ("unemployed", "part_time", "full_time")
    assert fields["has_guarantor"].kind == "flag"
    assert "Unit: kEUR." in fields["income"].help
    assert "Protected attribute" in fields["age"].help


def test_defaults_are_valid_values() -> None:
    fields = {f.name: f for f in form_fields(_detail())}
    assert fields["income"].default() == 250.0
    assert fields["debt"].default() == 100
    assert fields["employment"].default() == "unemployed"
    assert fields["has_guarantor"].default() == 0
    assert FormField("x", "x", "number", "").default() == 0.0


def test_values_are_coerced_to_what_the_api_expects() -> None:
    fields = {f.name: f for f in form_fields(_detail())}
    assert coerce(fields["debt"], 12.0) == 12
    assert isinstance(coerce(fields["income"], 3), float)
    assert coerce(fields["has_guarantor"], True) == 1
    assert coerce(fields["employment"], "full_time") == "full_time"


def test_outcomes_say_whether_they_are_adverse() -> None:
    detail = _detail()
    declined = {"label": "declined", "probabilities": {"declined": 0.87, "approved": 0.13}}
    approved = {"label": "approved", "probabilities": {"declined": 0.2, "approved": 0.8}}
    assert is_adverse(declined, detail)
    assert not is_adverse(approved, detail)
    assert outcome_text(declined, detail) == "declined (adverse outcome), 87%"
    assert outcome_text(approved, detail) == "approved (favourable), 80%"
    assert outcome_text({"value": 152.25}, {}) == "value 152.2"
    assert case_labels([declined, approved], detail) == [
        "Case 1: declined (adverse outcome), 87%",
        "Case 2: approved (favourable), 80%",
    ]


def test_without_a_favourable_class_no_outcome_is_called_adverse() -> None:
    detail = {"classes": ["a", "b"], "card": {}}
    assert outcome_text({"label": "a", "probabilities": {"a": 0.6}}, detail) == "a, 60%"


def test_pages_open_on_the_credit_demo_when_it_is_served() -> None:
    assert default_model(["breast_cancer", "diabetes_progression", "german_credit"]) == 2
    assert default_model(["breast_cancer", "loan"]) == 0
    assert default_model([]) == 0
