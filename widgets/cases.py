"""Cases to preview: the input form a card implies, and sample cases labelled by outcome.

``form_fields`` reads the features of a model (``GET /v1/models/{name}``) and says
which input each needs: a number within the card's range (integers step by one), a
choice among the card's categories, or a 0/1 flag. ``case_labels`` names sample cases
by their predicted outcome so that a designer can pick, say, a declined one;
``default_model`` says which model the pages open on. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DEMO_MODEL",
    "FormField",
    "adverse_classes",
    "case_labels",
    "coerce",
    "default_model",
    "form_fields",
    "is_adverse",
    "outcome_text",
]

Kind = Literal["number", "integer", "choice", "flag"]
# The credit demo shows the most (reasons, notices, what could change): open on it.
DEMO_MODEL = "german_credit"


def default_model(names: Sequence[str]) -> int:
    """Where a model list starts: the credit demo when it is served, else the first model."""
    return names.index(DEMO_MODEL) if DEMO_MODEL in names else 0


@dataclass(frozen=True)
class FormField:
    """One input of the case form, as the card describes the feature."""

    name: str
    label: str
    kind: Kind
    help: str
    options: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None

    def default(self) -> Any:
        """A valid starting value: the middle of the range, or the first option."""
        if self.kind == "choice":
            return self.options[0]
        if self.kind == "flag":
            return 0
        if self.low is not None and self.high is not None:
            middle = (self.low + self.high) / 2
            return round(middle) if self.kind == "integer" else middle
        return 0 if self.kind == "integer" else 0.0


def _help(feature: Mapping[str, Any]) -> str:
    parts = [str(feature.get("description") or "")]
    if feature.get("unit"):
        parts.append(f"Unit: {feature['unit']}.")
    if feature.get("range"):
        low, high = feature["range"]
        parts.append(f"Range: {low:g} to {high:g}.")
    if feature.get("protected"):
        parts.append("Protected attribute: never shown as a reason.")
    return " ".join(p for p in parts if p)


def form_fields(detail: Mapping[str, Any]) -> list[FormField]:
    """The inputs for every feature of the card, in card order."""
    fields = []
    for f in detail["features"]:
        kind: Kind
        type_ = f.get("type", "numeric")
        if type_ == "categorical":
            kind = "choice"
        elif type_ == "binary":
            kind = "flag"
        elif type_ == "integer":
            kind = "integer"
        else:
            kind = "number"
        low, high = f["range"] if f.get("range") else (None, None)
        fields.append(
            FormField(
                name=f["name"],
                label=f.get("label") or f["name"].replace("_", " "),
                kind=kind,
                help=_help(f),
                options=tuple(f.get("categories") or ()),
                low=None if low is None else float(low),
                high=None if high is None else float(high),
            )
        )
    return fields


def coerce(field: FormField, value: Any) -> Any:
    """A form value as the API expects it (ints for integer features and flags)."""
    if field.kind in ("integer", "flag"):
        return int(value)
    if field.kind == "number":
        return float(value)
    return value


def adverse_classes(detail: Mapping[str, Any]) -> set[str]:
    """Classes that are not the card's favourable outcome (empty if the card names none)."""
    card = detail.get("card") or {}
    favourable = card.get("favorable_class")
    classes = detail.get("classes") or []
    return {str(c) for c in classes if c != favourable} if favourable else set()


def is_adverse(prediction: Mapping[str, Any], detail: Mapping[str, Any]) -> bool:
    return str(prediction.get("label")) in adverse_classes(detail)


def outcome_text(prediction: Mapping[str, Any], detail: Mapping[str, Any]) -> str:
    """``"bad (adverse outcome), 92%"``, ``"good (favourable), 71%"`` or ``"value 152.3"``."""
    label = prediction.get("label")
    if label is None:
        value = prediction.get("value")
        return f"value {value:.4g}" if isinstance(value, int | float) else "no prediction"
    probability = (prediction.get("probabilities") or {}).get(label)
    card = detail.get("card") or {}
    if card.get("favorable_class"):
        kind = " (adverse outcome)" if is_adverse(prediction, detail) else " (favourable)"
    else:
        kind = ""
    share = f", {probability:.0%}" if isinstance(probability, int | float) else ""
    return f"{label}{kind}{share}"


def case_labels(predictions: Sequence[Mapping[str, Any]], detail: Mapping[str, Any]) -> list[str]:
    """One label per sample case: ``"Case 1: bad (adverse outcome), 92%"``."""
    return [f"Case {i}: {outcome_text(p, detail)}" for i, p in enumerate(predictions, 1)]
