"""What one explained decision tells a person: worded reasons, confidence, screening,
review, counterfactuals and the notice. ``narratives.narrate`` returns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from service.models.prediction import Prediction
from service.people.notice import Notice

__all__ = ["Counterfactual", "QualityGate", "Review", "Screening", "ShownReason", "Told"]


@dataclass(frozen=True)
class ShownReason:
    """A principal reason as shown: its code, words and the features behind it."""

    code: str
    text: str
    features: Sequence[str]
    contribution: float  # summed toward the explained outcome, in the output space
    contributions: Mapping[str, float]
    direction: Literal["raises", "lowers"]
    flags: Sequence[str] = ()  # proxy, untranslated, generic_copy
    proxy_for: Sequence[str] = ()


@dataclass(frozen=True)
class Screening:
    suppressed: Sequence[str] = ()  # protected features kept out of the reasons
    flagged: Sequence[str] = ()  # proxies shown among them


@dataclass(frozen=True)
class Counterfactual:
    changes: Mapping[str, Any]  # feature -> new value, as a person gives it
    was: Mapping[str, Any]
    prediction: Prediction
    cost: float
    text: str = ""


@dataclass(frozen=True)
class QualityGate:
    name: str
    value: float
    limit: float
    at_least: bool
    passed: bool


@dataclass(frozen=True)
class Review:
    required: bool = False
    why: Sequence[str] = ()
    gates: Sequence[QualityGate] = ()


@dataclass(frozen=True)
class Told:
    reasons: Sequence[ShownReason] = ()
    narrative: str = ""
    confidence: Literal["high", "moderate", "low", "not_rated"] = "not_rated"
    confidence_basis: str = ""
    screening: Screening = field(default_factory=Screening)
    review: Review = field(default_factory=Review)
    counterfactuals: Sequence[Counterfactual] = ()
    counterfactual_note: str | None = None
    notice: Notice | None = None
