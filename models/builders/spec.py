"""The words of a bundle: card copy from ``models/card_copy*.yaml`` and the card they make.

``card_copy.yaml`` holds the English copy, ``card_copy.<locale>.yaml`` the same features'
words in another locale (today: German). ``load_spec`` reads both and fails the build
when a locale misses a feature, a category, a unit or an outcome label, so that no card
ships half translated. Phrases are templates: ``{s}`` is a feature's ``subject``, the
start of a reason sentence ("Your savings", "Ihr Sparguthaben").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml
from numpy.typing import NDArray

from .common import CARD_VERSION, COPY_DIR, BuildError, tidy

__all__ = [
    "LOCALES",
    "Feat",
    "LocalFeat",
    "Locale",
    "Spec",
    "check_ranges",
    "copy_file",
    "load_spec",
    "read_copy",
    "to_matrix",
]

LOCALES = ("de",)  # besides English, which is the card's own fields


def copy_file(locale: str = "en") -> str:
    return "card_copy.yaml" if locale == "en" else f"card_copy.{locale}.yaml"


def read_copy(name: str, locale: str = "en") -> dict[str, Any]:
    """One bundle's section of the copy file for ``locale``."""
    path = COPY_DIR / copy_file(locale)
    copy = yaml.safe_load(path.read_text(encoding="utf-8"))
    if name not in copy:
        raise BuildError(f"{path.name} has no section for {name!r}")
    return dict(copy[name])


@dataclass(frozen=True)
class Feat:
    """One card feature: its encoding and the English words used to talk about it."""

    name: str
    label: str
    description: str
    code: str
    subject: str  # start of a reason sentence, e.g. "Your checking account balance"
    type: str = "numeric"
    unit: str | None = None
    categories: tuple[str, ...] | None = None
    range: tuple[float, float] | None = None
    actionability: str = "actionable"
    protected: bool = False
    proxy_for: str | None = None
    sensitive: bool = False
    column: str | None = None  # raw data column (german_credit)
    codes: Mapping[str, Any] | None = None  # raw code -> card value (german_credit)
    never_suggest: tuple[str, ...] = ()  # values a counterfactual may never propose
    direction: str = "any"  # which way a counterfactual may move a numeric value

    @classmethod
    def from_copy(cls, entry: Mapping[str, Any]) -> Feat:
        fields = dict(entry)
        if fields.get("type") == "categorical" and "categories" not in fields:
            fields["categories"] = list((fields.get("codes") or {}).values())
        for key in ("categories", "range", "never_suggest"):
            if fields.get(key) is not None:
                fields[key] = tuple(fields[key])
        return cls(**fields)

    def to_card(self, raises: str, lowers: str) -> dict[str, Any]:
        """The card entry; None-valued optional fields are left out."""
        entry: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "type": self.type,
            "unit": self.unit,
            "categories": list(self.categories) if self.categories else None,
            "range": [tidy(v) for v in self.range] if self.range else None,
            "nullable": False,
            "actionability": self.actionability,
            "protected": self.protected,
            "proxy_for": self.proxy_for,
            "sensitive": self.sensitive,
            "code": self.code,
            "phrases": {
                "raises": raises.format(s=self.subject),
                "lowers": lowers.format(s=self.subject),
            },
            "never_suggest": list(self.never_suggest) if self.never_suggest else None,
            "direction": self.direction if self.direction != "any" else None,
        }
        return {k: v for k, v in entry.items() if v is not None}


@dataclass(frozen=True)
class LocalFeat:
    """A feature's words in one more locale; ``categories`` maps the card's category to them."""

    label: str
    description: str
    subject: str
    unit: str | None = None
    categories: Mapping[str, str] = field(default_factory=dict)

    def to_card(self, raises: str, lowers: str) -> dict[str, Any]:
        """The card's ``translations.<locale>`` entry (service.models.card.LocalCopy's fields)."""
        entry: dict[str, Any] = {"label": self.label, "description": self.description}
        if self.unit is not None:
            entry["unit"] = self.unit
        entry["raises"] = raises.format(s=self.subject)
        entry["lowers"] = lowers.format(s=self.subject)
        if self.categories:
            entry["categories"] = dict(self.categories)
        return entry


@dataclass(frozen=True)
class Locale:
    """A bundle's copy in one more locale: phrase templates, outcome names, per-feature words."""

    code: str
    raises: str
    lowers: str
    outcome_labels: Mapping[str, str]
    features: Mapping[str, LocalFeat]


def _check_locale(local: Locale, features: Sequence[Feat], classes: Sequence[str] | None) -> None:
    """Every feature, category, unit and outcome has words in the locale; nothing else does."""
    where = copy_file(local.code)
    names = {f.name for f in features}
    missing, extra = sorted(names - set(local.features)), sorted(set(local.features) - names)
    if missing or extra:
        raise BuildError(f"{where}: features without copy {missing}, unknown features {extra}")
    for f in features:
        words = local.features[f.name]
        wanted = {str(c) for c in f.categories or ()}
        if set(words.categories) != wanted:
            raise BuildError(
                f"{where}: {f.name} translates categories {sorted(words.categories)}, "
                f"the card has {sorted(wanted)}"
            )
        if (f.unit is None) != (words.unit is None):
            raise BuildError(f"{where}: {f.name} has a unit in one locale only")
    if set(local.outcome_labels) != set(classes or ()):
        raise BuildError(
            f"{where}: outcome_labels name {sorted(local.outcome_labels)}, "
            f"the classes are {sorted(classes or ())}"
        )


@dataclass(frozen=True)
class Spec:
    """Everything a bundle's card and README say that is not measured."""

    name: str
    description: str
    domain: str
    features: tuple[Feat, ...]
    raises: str  # phrase templates; {s} = the feature's subject
    lowers: str
    source: str
    intended_use: str
    limitations: tuple[str, ...]
    classes: tuple[str, ...] | None = None
    positive_class: str | None = None
    favorable_class: str | None = None  # the outcome the person hopes for, if there is one
    link: str | None = None
    outcome_labels: Mapping[str, str] = field(default_factory=dict)  # class -> English words
    locales: tuple[Locale, ...] = ()
    jurisdiction: str | None = None  # picks the notices' rights paragraph (US, EU, DE, ...)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> Feat:
        return self.features[self.feature_names.index(name)]

    def card(self, confidence: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The card as a plain mapping, in the order it is written."""
        card: dict[str, Any] = {
            "name": self.name,
            "version": CARD_VERSION,
            "task": "classification" if self.classes else "regression",
            "domain": self.domain,
            "description": self.description,
        }
        if self.jurisdiction:
            card["jurisdiction"] = self.jurisdiction
        if self.classes:
            card["classes"] = list(self.classes)
            card["positive_class"] = self.positive_class
            if self.favorable_class:
                card["favorable_class"] = self.favorable_class
            card["outcome_labels"] = {
                "en": dict(self.outcome_labels),
                **{local.code: dict(local.outcome_labels) for local in self.locales},
            }
            card["output"] = {"default": "probability", "link": self.link or "auto"}
        else:
            card["output"] = {"default": "raw"}
        if confidence is not None:
            card["confidence"] = dict(confidence)
        card["max_reasons"] = 4
        card["features"] = []
        for f in self.features:
            entry = f.to_card(self.raises, self.lowers)
            if self.locales:
                entry["translations"] = {
                    local.code: local.features[f.name].to_card(local.raises, local.lowers)
                    for local in self.locales
                }
            card["features"].append(entry)
        return card


def _local_feat(entry: Mapping[str, Any]) -> LocalFeat:
    fields = dict(entry)
    fields["categories"] = {str(k): str(v) for k, v in (fields.get("categories") or {}).items()}
    return LocalFeat(**fields)


_SPEC_KEYS = ("description", "domain", "raises", "lowers", "source", "intended_use")


def load_spec(
    name: str,
    features: Sequence[Feat] | None = None,
    local_features: Mapping[str, Mapping[str, LocalFeat]] | None = None,
) -> Spec:
    """The bundle's copy in every locale.

    ``features`` replaces the English feature list and ``local_features`` (locale ->
    feature name -> words) the other locales' ``features`` sections, for bundles whose
    features are generated from templates (breast_cancer).
    """
    copy = read_copy(name)
    feats = (
        tuple(features) if features is not None else tuple(map(Feat.from_copy, copy["features"]))
    )
    classes = tuple(copy["classes"]) if "classes" in copy else None
    locales = []
    for code in LOCALES:
        local = read_copy(name, code)
        words = (local_features or {}).get(code)
        if words is None:
            words = {n: _local_feat(e) for n, e in (local.get("features") or {}).items()}
        locale = Locale(
            code=code,
            raises=local["raises"],
            lowers=local["lowers"],
            outcome_labels=dict(local.get("outcome_labels") or {}),
            features=dict(words),
        )
        _check_locale(locale, feats, classes)
        locales.append(locale)
    outcome_labels = dict(copy.get("outcome_labels") or {})
    if set(outcome_labels) != set(classes or ()):
        raise BuildError(f"card_copy.yaml: {name}'s outcome_labels do not match its classes")
    return Spec(
        name=name,
        features=feats,
        limitations=tuple(copy["limitations"]),
        classes=classes,
        positive_class=copy.get("positive_class"),
        favorable_class=copy.get("favorable_class"),
        link=copy.get("link"),
        jurisdiction=copy.get("jurisdiction"),
        outcome_labels=outcome_labels,
        locales=tuple(locales),
        **{k: copy[k] for k in _SPEC_KEYS},
    )


def to_matrix(frame: pd.DataFrame, features: Sequence[Feat]) -> NDArray[np.float32]:
    """Card-facing rows -> the model's float32 matrix [N, F]; categories become their index."""
    columns = []
    for f in features:
        col = frame[f.name]
        if f.type == "categorical":
            codes = col.map({c: i for i, c in enumerate(f.categories or ())})
            if codes.isna().any():
                raise BuildError(f"{f.name}: values outside the card's categories")
            columns.append(codes.to_numpy(dtype=np.float64))
        else:
            columns.append(col.to_numpy(dtype=np.float64))
    return np.column_stack(columns).astype(np.float32)


def check_ranges(frame: pd.DataFrame, features: Sequence[Feat]) -> None:
    """Every numeric column lies inside its card range; raises BuildError otherwise."""
    for f in features:
        if f.range is not None:
            lo, hi = float(frame[f.name].min()), float(frame[f.name].max())
            if lo < f.range[0] or hi > f.range[1]:
                raise BuildError(f"{f.name}: data span [{lo}, {hi}], card range {f.range}")
