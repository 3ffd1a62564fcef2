"""The card's words for people: translations, reason codes, outcomes, confidence, validated
at load like everything else in a card."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.errors import BundleRejected
from service.models.card import ModelCard, parse_card


def _card(features: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": "m",
        "version": "1",
        "task": "classification",
        "classes": ["no", "yes"],
        "positive_class": "yes",
        "features": features,
        **extra,
    }


def test_a_card_with_every_copy_field_loads() -> None:
    card = ModelCard.model_validate(
        _card(
            [
                {
                    "name": "income",
                    "format": ",.0f",
                    "code": "MONEY",
                    "translations": {"de": {"label": "Einkommen", "raises": "r", "lowers": "l"}},
                },
                {
                    "name": "kind",
                    "type": "categorical",
                    "categories": ["a", "b"],
                    "code": "MONEY",
                    "translations": {"es": {"categories": {"a": "A (es)"}}},
                },
            ],
            favorable_class="yes",
            outcome_labels={"en": {"yes": "approved"}, "de": {"yes": "genehmigt"}},
            reason_codes={"MONEY": {"label": "Money", "translations": {"de": {"label": "Geld"}}}},
            confidence={"high": 0.9, "moderate": 0.7, "basis": "test split", "observed": {}},
        )
    )
    assert card.feature("income").translations["de"].label == "Einkommen"
    assert card.reason_codes["MONEY"].translations["de"].label == "Geld"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"features": [{"name": "x", "translations": {"EN": {}}}]}, "two-letter code"),
        ({"features": [{"name": "x", "translations": {"en": {}}}]}, "other than 'en'"),
        ({"features": [{"name": "x", "format": "q"}]}, "format spec"),
        (
            {
                "features": [
                    {
                        "name": "x",
                        "type": "categorical",
                        "categories": ["a"],
                        "translations": {"de": {"categories": {"z": "Z"}}},
                    }
                ]
            },
            "unknown categories ['z']",
        ),
        ({"favorable_class": "maybe"}, "favorable_class 'maybe'"),
        ({"outcome_labels": {"de": {"maybe": "vielleicht"}}}, "unknown classes ['maybe']"),
        ({"outcome_labels": {"deu": {"yes": "ja"}}}, "not a two-letter code"),
        ({"reason_codes": {"NOPE": {}}}, "not the code of any feature"),
        (
            {
                "features": [
                    {"name": "x", "code": "SHARED"},
                    {"name": "y", "code": "SHARED", "protected": True},
                ]
            },
            "shared by protected and unprotected",
        ),
        (
            {"features": [{"name": "x"}, {"name": "y", "code": "x"}]},
            "equal the name of a feature or group without a code",
        ),
        ({"confidence": {"high": 0.6, "moderate": 0.8, "basis": "b"}}, "moderate <= high"),
        ({"confidence": {"high": 0.9, "moderate": 0.8, "basis": ""}}, "at least 1 character"),
    ],
)
def test_bad_copy_is_refused_naming_the_problem(change: dict[str, Any], problem: str) -> None:
    base = _card([{"name": "x"}])
    with pytest.raises(BundleRejected, match="card is invalid") as info:
        parse_card(json.dumps({**base, **change}))
    assert problem in str(info.value.details)


def test_confidence_buckets_belong_to_classifiers() -> None:
    with pytest.raises(ValueError, match="apply to classifiers"):
        ModelCard.model_validate(
            {
                "name": "r",
                "version": "1",
                "task": "regression",
                "features": [{"name": "x"}],
                "confidence": {"high": 0.9, "moderate": 0.8, "basis": "b"},
            }
        )
