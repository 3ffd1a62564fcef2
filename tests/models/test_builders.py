"""The bundle builders in ``models/builders/``: their public surface and the copy checks
that keep a card from shipping half translated (the bundles themselves are checked in
``test_bundles.py``)."""

from __future__ import annotations

import dataclasses

import pytest

import models.builders
from models.builders import BuildError
from models.builders.breast_cancer import cancer_local_features
from models.builders.spec import LOCALES, LocalFeat, load_spec, read_copy


def test_public_names_are_pinned() -> None:
    assert models.builders.__all__ == ["BUILDERS", "BuildError", "Built", "write_bundle"]
    assert list(models.builders.BUILDERS) == [
        "german_credit",
        "breast_cancer",
        "hiring_screen",
        "diabetes_progression",
    ]


def _german(name: str) -> dict[str, LocalFeat]:
    spec = load_spec(name)
    (local,) = (loc for loc in spec.locales if loc.code == "de")
    return dict(local.features)


def test_a_feature_without_german_copy_stops_the_build() -> None:
    words = _german("hiring_screen")
    del words["commute_km"]
    with pytest.raises(BuildError, match=r"features without copy \['commute_km'\]"):
        load_spec("hiring_screen", local_features={"de": words})


def test_an_untranslated_category_stops_the_build() -> None:
    words = _german("hiring_screen")
    words["gender"] = dataclasses.replace(words["gender"], categories={"female": "weiblich"})
    with pytest.raises(BuildError, match="gender translates categories"):
        load_spec("hiring_screen", local_features={"de": words})


def test_a_unit_in_one_language_only_stops_the_build() -> None:
    words = _german("diabetes_progression")
    words["bmi"] = dataclasses.replace(words["bmi"], unit=None)
    with pytest.raises(BuildError, match="bmi has a unit in one locale only"):
        load_spec("diabetes_progression", local_features={"de": words})


def test_breast_cancer_words_come_from_the_templates_in_each_locale() -> None:
    assert LOCALES == ("de",)
    words = cancer_local_features(read_copy("breast_cancer", "de"))
    assert len(words) == 30
    radius = words["worst_radius"]
    assert radius.label == "Kernradius (ungünstigster Wert)"
    assert radius.subject == "Der Messwert „Kernradius (ungünstigster Wert)“"
    assert "Mittel der drei größten Werte" in radius.description
