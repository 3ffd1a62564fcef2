"""The model card: what Clarion needs to know to talk about a model.

A card is YAML (so JSON is accepted too). It names the model, its task, its
classes and, per feature, the type, the allowed values and the words used to
talk about it to people. Cards are validated strictly: an unknown key is a
typo, and a typo in a compliance document is a defect.

Feature encoding, as the model sees it:
- ``numeric`` and ``integer``: the number itself;
- ``binary``: 0 or 1 (``true``/``false`` are accepted);
- ``categorical``: the category's *index* in ``categories`` when the graph input
  is numeric, the category string itself when the graph input is a string tensor.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from service.errors import BundleRejected

__all__ = [
    "ConfidenceSpec",
    "Feature",
    "LocalCopy",
    "ModelCard",
    "OutputSpec",
    "Phrases",
    "Player",
    "ReasonCode",
    "derived",
    "load_card",
    "parse_card",
]

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
# Locales other than English, as two-letter ISO 639-1 codes; English copy is the card's own fields.
LOCALE_PATTERN = r"^[a-z]{2}$"
_LOCALE_RE = re.compile(LOCALE_PATTERN)

FeatureType = Literal["numeric", "integer", "binary", "categorical"]
Actionability = Literal["actionable", "hard_to_change", "immutable"]
# Which way a counterfactual may move a numeric feature (advice nobody would ship, such as
# "borrow for longer", is ruled out by the card, not by the search).
Direction = Literal["increase", "decrease", "any"]
# Jurisdictions whose rights wording the notices carry: ISO 3166-1 alpha-2, or EU.
JURISDICTION_PATTERN = r"^[A-Z]{2}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Phrases(_Strict):
    """How to say that a feature pushed the outcome up or down."""

    raises: str | None = None
    lowers: str | None = None


class LocalCopy(_Strict):
    """A feature's (or reason code's) words in one more locale; missing fields fall back to English.

    ``categories`` maps a category, as the card lists it, to its localised name.
    """

    label: str | None = None
    description: str | None = None
    unit: str | None = None
    raises: str | None = None
    lowers: str | None = None
    categories: Mapping[str, str] = Field(default_factory=dict)


def _check_locales(translations: Mapping[str, LocalCopy], owner: str) -> None:
    for locale in translations:
        if not _LOCALE_RE.match(locale) or locale == "en":
            raise ValueError(
                f"{owner}: translation locale {locale!r} must be a two-letter code other than 'en' "
                "(English copy goes in the card's own fields)"
            )


class ReasonCode(_Strict):
    """Words for a reason code that several features share (otherwise the feature's own copy)."""

    label: str | None = None
    phrases: Phrases = Phrases()
    translations: Mapping[str, LocalCopy] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_copy(self) -> ReasonCode:
        _check_locales(self.translations, "reason code")
        return self


class ConfidenceSpec(_Strict):
    """Calibrated confidence buckets: thresholds on the predicted class's probability.

    Written by ``service.people.confidence.calibrate_buckets`` from labelled held-out rows;
    ``basis`` says on what data (and ``observed`` the accuracy seen in each bucket).
    """

    high: float = Field(gt=0, le=1)
    moderate: float = Field(gt=0, le=1)
    basis: str = Field(min_length=1)
    observed: Mapping[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_order(self) -> ConfidenceSpec:
        if self.moderate > self.high:
            raise ValueError(
                f"confidence thresholds must satisfy moderate <= high; got "
                f"moderate={self.moderate}, high={self.high}"
            )
        unknown = set(self.observed) - {"high", "moderate", "low"}
        if unknown:
            raise ValueError(f"confidence.observed has unknown buckets {sorted(unknown)}")
        return self


class Feature(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    label: str | None = None
    description: str | None = None
    type: FeatureType = "numeric"
    unit: str | None = None
    format: str | None = None
    categories: tuple[str | int | float, ...] | None = None
    range: tuple[float, float] | None = None
    nullable: bool = False
    group: str | None = Field(default=None, pattern=NAME_PATTERN)
    actionability: Actionability = "actionable"
    protected: bool = False
    proxy_for: str | None = None
    sensitive: bool = False
    code: str | None = None
    phrases: Phrases = Phrases()
    translations: Mapping[str, LocalCopy] = Field(default_factory=dict)
    # Advice controls for counterfactuals: values never proposed (a category, or 1 for a
    # one-hot column or binary flag that must never be switched on) and the only
    # direction a numeric value may be moved in.
    never_suggest: tuple[str | int | float, ...] = ()
    direction: Direction = "any"

    @model_validator(mode="after")
    def _check_values(self) -> Feature:
        if self.type == "categorical":
            if not self.categories:
                raise ValueError(f"categorical feature {self.name!r} needs 'categories'")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError(f"feature {self.name!r} lists a category twice")
        elif self.categories is not None:
            raise ValueError(
                f"'categories' is only allowed on categorical features ({self.name!r})"
            )
        if self.range is not None:
            if self.type in ("categorical", "binary"):
                raise ValueError(f"'range' is only allowed on numeric features ({self.name!r})")
            if not self.range[0] <= self.range[1]:
                raise ValueError(f"feature {self.name!r} has an empty range {list(self.range)}")
        if self.format is not None:
            try:
                format(1234.5, self.format)
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    f"feature {self.name!r}: 'format' must be a Python format spec for numbers "
                    f"such as ',.0f' or '.1%'; got {self.format!r}"
                ) from exc
        self._check_advice()
        _check_locales(self.translations, f"feature {self.name!r}")
        known = {str(c) for c in self.categories or ()}
        for locale, local in self.translations.items():
            unknown = sorted(set(local.categories) - known)
            if unknown:
                raise ValueError(
                    f"feature {self.name!r}: translations.{locale}.categories names unknown "
                    f"categories {unknown}"
                )
        return self

    def _check_advice(self) -> None:
        if self.direction != "any" and self.type not in ("numeric", "integer"):
            raise ValueError(
                f"feature {self.name!r}: 'direction' applies to numeric and integer features; "
                f"this one is {self.type}"
            )
        if not self.never_suggest:
            return
        if self.type == "categorical":
            allowed = {str(c) for c in self.categories or ()}
        elif self.type == "binary":
            allowed = {"0", "1", "False", "True"}
        else:
            raise ValueError(
                f"feature {self.name!r}: 'never_suggest' applies to categorical and binary "
                f"features; this one is {self.type}"
            )
        unknown = sorted(str(v) for v in self.never_suggest if str(v) not in allowed)
        if unknown:
            raise ValueError(
                f"feature {self.name!r}: never_suggest names values it cannot take: {unknown}"
            )

    def never_suggests(self, value: float) -> bool:
        """Whether a counterfactual may not propose this encoded value (see the module notes)."""
        if self.type == "binary":
            return any(float(v) == value for v in self.never_suggest)
        if self.type == "categorical" and self.categories is not None:
            banned = {str(v) for v in self.never_suggest}
            for index, category in enumerate(self.categories):
                if str(category) in banned and (
                    value == index or (isinstance(category, (int, float)) and value == category)
                ):
                    return True
        return False

    @property
    def display_label(self) -> str:
        return self.label or self.name.replace("_", " ")


class OutputSpec(_Strict):
    """Which output space answers by default, and how raw scores relate to probabilities.

    ``link`` is the map from class probabilities to the model's raw (margin) space:
    ``logit`` for binary models, ``log`` (centred log-probabilities) for multiclass
    ones, ``identity`` for models that average probabilities (random forests).
    ``auto`` reads it from the graph where it can and otherwise picks logit/log.
    """

    default: Literal["raw", "probability"] = "raw"
    link: Literal["auto", "identity", "logit", "log"] = "auto"


class Player(_Strict):
    """One participant of the Shapley game: a feature, or the one-hot columns of one raw feature."""

    name: str
    label: str
    columns: tuple[int, ...]


class ModelCard(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    version: str = Field(min_length=1, max_length=64)
    task: Literal["classification", "regression"]
    domain: str = "general"
    description: str | None = None
    features: tuple[Feature, ...] = Field(min_length=1)
    classes: tuple[str, ...] | None = None
    positive_class: str | None = None
    output: OutputSpec = OutputSpec()
    groups: Mapping[str, str] = Field(default_factory=dict)
    max_reasons: int = Field(default=4, ge=1, le=10)
    # The outcome the person hopes for (credit: approved; hiring: advance). Frames notices
    # and counterfactuals; without it they stay neutral.
    favorable_class: str | None = None
    # locale ("en", "de", ...) -> class -> how to name the outcome to people.
    outcome_labels: Mapping[str, Mapping[str, str]] = Field(default_factory=dict)
    reason_codes: Mapping[str, ReasonCode] = Field(default_factory=dict)
    confidence: ConfidenceSpec | None = None
    # Where the people the model decides about live: picks the rights paragraph of the
    # notices (US: FCRA wording; EU: GDPR; DE: GDPR and BDSG). None: general wording.
    jurisdiction: str | None = Field(default=None, pattern=JURISDICTION_PATTERN)

    @model_validator(mode="after")
    def _check(self) -> ModelCard:
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"feature names must be unique; repeated: {dupes}")
        if self.task == "classification":
            if not self.classes or len(self.classes) < 2:
                raise ValueError("a classification card needs 'classes' with at least two labels")
            if len(set(self.classes)) != len(self.classes):
                raise ValueError("'classes' lists a label twice")
            if self.positive_class is not None and self.positive_class not in self.classes:
                raise ValueError(
                    f"positive_class {self.positive_class!r} is not one of "
                    f"classes {list(self.classes)}"
                )
            if self.positive_class is None and len(self.classes) == 2:
                # As scikit-learn and shap do: a binary model is explained toward its second
                # class, so that signs never flip with the predicted class. The field stays
                # out of ``model_fields_set``, which is how loading knows to warn.
                object.__setattr__(self, "positive_class", self.classes[1])
        elif self.classes is not None or self.positive_class is not None:
            raise ValueError("a regression card takes no 'classes' or 'positive_class'")
        clash = set(self.groups) & set(names)
        if clash:
            raise ValueError(f"group names may not equal feature names: {sorted(clash)}")
        orphans = sorted(set(self.groups) - {f.group for f in self.features if f.group})
        if orphans:  # a typo would silently drop the reviewed label
            raise ValueError(f"groups {orphans} label no group of any feature")
        self._check_people_copy()
        return self

    def _check_people_copy(self) -> None:
        """Reason codes, outcome names and confidence must agree with the features and classes."""
        classes = set(self.classes or ())
        if self.favorable_class is not None and self.favorable_class not in classes:
            raise ValueError(
                f"favorable_class {self.favorable_class!r} is not one of classes "
                f"{list(self.classes or ())}"
            )
        for locale, labels in self.outcome_labels.items():
            if locale != "en" and not _LOCALE_RE.match(locale):
                raise ValueError(f"outcome_labels locale {locale!r} is not a two-letter code")
            unknown = sorted(set(labels) - classes)
            if unknown:
                raise ValueError(f"outcome_labels.{locale} names unknown classes {unknown}")
        codes: dict[str, list[Feature]] = {}
        for f in self.features:
            if f.code is not None:
                codes.setdefault(f.code, []).append(f)
        unused = sorted(set(self.reason_codes) - set(codes))
        if unused:
            raise ValueError(f"reason_codes {unused} are not the code of any feature")
        # A player without a code is its own reason code, under its name: no other code
        # may take that name, or two unrelated reasons would share a code.
        uncoded = {p.name for p in self.players if self.features[p.columns[0]].code is None}
        taken = sorted(uncoded & set(codes))
        if taken:
            raise ValueError(
                f"reason codes {taken} equal the name of a feature or group without a code"
            )
        # A protected player (a group is protected if any column is) must never stand
        # behind a shared code as an innocent one: sharing players must agree.
        protection: dict[str, set[bool]] = {}
        for player in self.players:
            columns = [self.features[c] for c in player.columns]
            code = columns[0].code or player.name
            protection.setdefault(code, set()).add(any(f.protected for f in columns))
        mixed = sorted(code for code, kinds in protection.items() if len(kinds) > 1)
        if mixed:
            raise ValueError(
                f"reason codes {mixed} are shared by protected and unprotected features"
            )
        if self.confidence is not None and self.task == "regression":
            raise ValueError("'confidence' buckets apply to classifiers; this card is a regressor")

    @property
    def positive_class_defaulted(self) -> bool:
        """True when a binary card left ``positive_class`` out and the second class was taken."""
        return self.positive_class is not None and "positive_class" not in self.model_fields_set

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.classes if self.classes is not None else ("value",)

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def players(self) -> tuple[Player, ...]:
        """Players in card order; a group stands where its first column stands."""
        return derived(self, "players", self._players)

    def _players(self) -> tuple[Player, ...]:
        players: list[Player] = []
        index: dict[str, int] = {}
        for column, f in enumerate(self.features):
            if f.group is None:
                players.append(Player(name=f.name, label=f.display_label, columns=(column,)))
                continue
            if f.group in index:
                p = players[index[f.group]]
                players[index[f.group]] = p.model_copy(update={"columns": (*p.columns, column)})
            else:
                index[f.group] = len(players)
                label = self.groups.get(f.group, f.group.replace("_", " "))
                players.append(Player(name=f.group, label=label, columns=(column,)))
        return tuple(players)


def parse_card(text: str | bytes) -> ModelCard:
    """Parse and validate a card from YAML or JSON text.

    Raises BundleRejected with every problem listed, each naming its field.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BundleRejected(f"the card is not valid YAML or JSON: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise BundleRejected("the card must be a mapping of fields (YAML or JSON object)")
    try:
        return ModelCard.model_validate(raw)
    except ValidationError as exc:
        details = [
            {"field": ".".join(["card", *(str(p) for p in err["loc"])]), "problem": err["msg"]}
            for err in exc.errors()
        ]
        summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details[:5])
        raise BundleRejected(f"the card is invalid: {summary}", details=details) from exc


def load_card(path: Any) -> ModelCard:
    """Read ``card.yaml`` (or ``card.json``) from a path."""
    with open(path, "rb") as fh:
        return parse_card(fh.read())


# Values derived from a card (its players, the reasons' player table) are computed once
# per card, not per request. A card is frozen, but ``model_copy(update=...)`` makes a new
# one without validation, so an entry is valid only while the card's features and groups
# are the very same objects it was computed from.
_DERIVED: dict[tuple[int, str], tuple[object, object, Any]] = {}
_DERIVED_LOCK = threading.Lock()
T = TypeVar("T")


def derived(card: ModelCard, name: str, compute: Callable[[], T]) -> T:
    """``compute()`` for this card, computed once (``name`` tells the values apart)."""
    key = (id(card), name)
    entry = _DERIVED.get(key)
    if entry is not None and entry[0] is card.features and entry[1] is card.groups:
        return cast(T, entry[2])
    value = compute()
    with _DERIVED_LOCK:
        if len(_DERIVED) > 1024:
            _DERIVED.clear()
        _DERIVED[key] = (card.features, card.groups, value)
    return value
