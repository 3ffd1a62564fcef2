"""The model card: the example cards load, players follow the card's columns with a group
as one player, every refusal names its field and problem, and values derived from a card
are computed once but never outlive the features they came from. (The card's words for
people, translations and reason codes, are tested in ``test_card_copy.py``.)"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from service.errors import BundleRejected
from service.models.card import Feature, ModelCard, derived, load_card, parse_card

MODELS = Path(__file__).resolve().parents[3] / "models"
EXAMPLES = ("german_credit", "breast_cancer", "hiring_screen", "diabetes_progression")


def _raw(**extra: Any) -> dict[str, Any]:
    card: dict[str, Any] = {
        "name": "loans",
        "version": "1",
        "task": "classification",
        "classes": ["declined", "approved"],
        "positive_class": "approved",
        "features": [
            {"name": "income"},
            {"name": "colour_red", "type": "binary", "group": "colour"},
            {"name": "debt"},
            {"name": "colour_blue", "type": "binary", "group": "colour"},
            {"name": "home_owner", "type": "binary", "group": "housing_status"},
        ],
        "groups": {"colour": "Favourite colour"},
    }
    card.update(extra)
    return card


def _refusal(raw: dict[str, Any]) -> BundleRejected:
    with pytest.raises(BundleRejected) as caught:
        parse_card(json.dumps(raw))
    assert caught.value.status_code == 422
    return caught.value


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_example_cards_load(name: str) -> None:
    folder = MODELS / name
    card = load_card(folder / "card.yaml")
    assert card.name == name
    with (folder / "background.csv").open(newline="") as fh:
        header = next(csv.reader(fh))
    assert list(card.feature_names) == header
    assert parse_card((folder / "card.yaml").read_bytes()) == card
    if card.task == "classification":
        assert card.classes is not None
        assert card.positive_class in card.classes
        assert card.output_names == card.classes
    else:
        assert card.output_names == ("value",)
    columns = sorted(c for p in card.players for c in p.columns)
    assert columns == list(range(len(card.features)))


def test_a_card_may_be_json() -> None:
    card = parse_card(json.dumps(_raw()).encode())
    assert card.feature_names == ("income", "colour_red", "debt", "colour_blue", "home_owner")
    assert card.feature("debt").type == "numeric"
    with pytest.raises(KeyError):
        card.feature("salary")


def test_a_group_is_one_player_standing_where_its_first_column_stands() -> None:
    card = parse_card(json.dumps(_raw()))
    players = card.players
    assert [(p.name, p.label, p.columns) for p in players] == [
        ("income", "income", (0,)),
        ("colour", "Favourite colour", (1, 3)),
        ("debt", "debt", (2,)),
        # a group without a label in 'groups' is named after itself
        ("housing_status", "housing status", (4,)),
    ]


def test_a_binary_card_without_positive_class_points_to_its_second_class() -> None:
    raw = _raw()
    del raw["positive_class"]
    card = parse_card(json.dumps(raw))
    assert card.positive_class == "approved"
    assert card.positive_class_defaulted
    assert not parse_card(json.dumps(_raw())).positive_class_defaulted


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        (
            {"features": [{"name": "income"}, {"name": "income"}]},
            "card",
            "feature names must be unique; repeated: ['income']",
        ),
        (
            {"positive_class": "maybe"},
            "card",
            "positive_class 'maybe' is not one of classes ['declined', 'approved']",
        ),
        ({"classes": ["only"]}, "card", "needs 'classes' with at least two labels"),
        ({"classes": ["a", "a"]}, "card", "'classes' lists a label twice"),
        (
            {"groups": {"income": "Income"}},
            "card",
            "group names may not equal feature names: ['income']",
        ),
        (
            {"features": [{"name": "x", "group": "not a name"}]},
            "card.features.0.group",
            "String should match pattern",
        ),
        (
            {"features": [{"name": "x", "type": "categorical"}]},
            "card.features.0",
            "categorical feature 'x' needs 'categories'",
        ),
        (
            {"features": [{"name": "x", "range": [5, 1]}]},
            "card.features.0",
            "feature 'x' has an empty range [5.0, 1.0]",
        ),
        (
            {"features": [{"name": "x", "translations": {"english": {"label": "X"}}}]},
            "card.features.0",
            "translation locale 'english' must be a two-letter code other than 'en'",
        ),
        (
            {"features": [{"name": "x", "translations": {"en": {"label": "X"}}}]},
            "card.features.0",
            "translation locale 'en' must be a two-letter code other than 'en'",
        ),
        (
            {"outcome_labels": {"DE": {"approved": "genehmigt"}}},
            "card",
            "outcome_labels locale 'DE' is not a two-letter code",
        ),
        ({"colour": "red"}, "card.colour", "Extra inputs are not permitted"),
        ({"task": "ranking"}, "card.task", "Input should be 'classification' or 'regression'"),
        ({"name": "1st"}, "card.name", "String should match pattern"),
        ({"features": []}, "card.features", "at least 1 item"),
        (
            {"task": "regression", "classes": None, "positive_class": None, "groups": {}},
            "card",
            "a regression card takes no 'classes' or 'positive_class'",
        ),
    ],
)
def test_a_refusal_names_the_field_and_the_problem(
    changes: dict[str, Any], field: str, problem: str
) -> None:
    raw = _raw(**changes)
    raw = {k: v for k, v in raw.items() if v is not None}
    if raw["task"] == "regression":
        raw["classes"] = ["a", "b"]  # what a regression card may not carry
    refused = _refusal(raw)
    # pydantic also adds "features: at least 1 item" when a feature fails.
    problems = {d["field"]: d["problem"] for d in refused.details}
    assert field in problems, refused.details
    assert problem in problems[field]
    assert refused.message.startswith("the card is invalid: ")
    assert problem in refused.message


def test_a_problem_of_the_whole_card_is_named_card() -> None:
    refused = _refusal(_raw(features=[{"name": "income"}, {"name": "income"}]))
    assert [d["field"] for d in refused.details] == ["card"]


def test_every_problem_is_listed() -> None:
    raw = _raw(version="", max_reasons=0)
    raw["features"][0]["type"] = "text"
    fields = {d["field"] for d in _refusal(raw).details}
    assert fields == {"card.version", "card.max_reasons", "card.features.0.type"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: [unclosed", "the card is not valid YAML or JSON"),
        ("- just\n- a list\n", "the card must be a mapping of fields"),
        ("", "the card must be a mapping of fields"),
    ],
)
def test_a_card_that_is_not_a_mapping_is_refused(text: str, problem: str) -> None:
    with pytest.raises(BundleRejected, match=problem):
        parse_card(text)


def test_a_group_label_for_no_group_is_refused() -> None:
    refused = _refusal(_raw(groups={"color": "Favourite colour"}))
    assert "color" in refused.message


def test_derived_values_are_computed_once_per_card() -> None:
    card = parse_card(json.dumps(_raw()))
    calls: list[int] = []

    def compute() -> tuple[str, ...]:
        calls.append(1)
        return card.feature_names

    first = derived(card, "test.names", compute)
    assert derived(card, "test.names", compute) is first
    assert len(calls) == 1
    assert card.players is card.players


def test_derived_values_follow_a_copy_that_replaces_the_features() -> None:
    card = parse_card(json.dumps(_raw()))
    before = card.players
    features = (
        *card.features,
        Feature(name="colour_green", type="binary", group="colour"),
    )
    grown = card.model_copy(update={"features": features})
    assert [p.columns for p in grown.players] == [(0,), (1, 3, 5), (2,), (4,)]
    assert card.players is before  # the original keeps its own
    relabelled = card.model_copy(update={"groups": {"colour": "Colour"}})
    assert relabelled.players[1].label == "Colour"
    assert card.players[1].label == "Favourite colour"


def test_a_derived_entry_is_recomputed_when_the_features_are_swapped_in_place() -> None:
    """The cache key is the card's id; an entry stays valid only while the very same
    features are attached (a copy made without validation may reuse a freed id)."""
    card: ModelCard = parse_card(json.dumps(_raw()))
    assert len(card.players) == 4
    object.__setattr__(card, "features", card.features[:1])
    assert [p.name for p in card.players] == ["income"]
