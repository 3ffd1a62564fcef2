"""Quality badges: what a reviewer should know about one explanation before trusting it.

``quality_badges`` reads an instance explanation as the API returns it (confidence,
review decision and gates, screening, reason flags) and returns short badges, each
with a state: ``ok`` (passes), ``warn`` (needs attention) or ``info`` (neutral). The
state is always in the words too ("passed", "failed"), never in colour alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Badge", "State", "gate_badges", "quality_badges", "quality_rows"]

State = Literal["ok", "warn", "info"]
_GATE_NAMES = {
    "additivity_residual": "Additivity residual",
    "sampling_error": "Sampling error",
    "fidelity_r2": "Local fidelity R²",
    "local_prediction_error": "Local prediction error",
}


@dataclass(frozen=True)
class Badge:
    label: str
    state: State
    help: str = ""

    @property
    def icon(self) -> str:
        return {"ok": "✓", "warn": "!", "info": "·"}[self.state]


def _number(value: float) -> str:
    return f"{value:.2g}" if abs(value) < 1e-3 and value != 0 else f"{value:.3g}"


def gate_badges(explanation: Mapping[str, Any]) -> list[Badge]:
    """One badge per quality gate (additivity residual, sampling error, ...): figure, limit."""
    badges: list[Badge] = []
    for gate in (explanation.get("review") or {}).get("gates", []):
        name = _GATE_NAMES.get(gate["name"], gate["name"].replace("_", " "))
        sign = "≥" if gate.get("at_least") else "≤"
        verdict = "passed" if gate["passed"] else "failed"
        badges.append(
            Badge(
                f"{name} {_number(gate['value'])} {sign} {_number(gate['limit'])}: {verdict}",
                "ok" if gate["passed"] else "warn",
            )
        )
    return badges


def quality_badges(explanation: Mapping[str, Any], *, gates: bool = True) -> list[Badge]:
    """Badges for confidence, human review, each quality gate, screening and copy.

    ``gates=False`` leaves the gates' figures out (``gate_badges`` has them), for a
    reader who needs the verdict, not the statistics.
    """
    badges: list[Badge] = []
    confidence = explanation.get("confidence", "not_rated")
    badges.append(
        Badge(
            f"Confidence: {confidence.replace('_', ' ')}",
            "warn" if confidence == "low" else "info" if confidence == "not_rated" else "ok",
            explanation.get("confidence_basis", ""),
        )
    )
    review = explanation.get("review") or {}
    if review.get("required"):
        why = ", ".join(str(w).replace("_", " ") for w in review.get("why", []))
        badges.append(Badge(f"Human review required: {why}", "warn"))
    else:
        badges.append(Badge("No human review needed", "ok"))
    if gates:
        badges += gate_badges(explanation)
    screening = explanation.get("screening") or {}
    if screening.get("suppressed"):
        badges.append(
            Badge(
                "Protected, kept out of the reasons: " + ", ".join(screening["suppressed"]),
                "info",
            )
        )
    if screening.get("flagged"):
        badges.append(Badge("Proxy among the reasons: " + ", ".join(screening["flagged"]), "warn"))
    reasons = explanation.get("reasons", [])
    untranslated = sum(1 for r in reasons if "untranslated" in r.get("flags", []))
    generic = sum(1 for r in reasons if "generic_copy" in r.get("flags", []))
    if untranslated:
        badges.append(Badge(f"{untranslated} reason(s) fell back to English copy", "warn"))
    if generic:
        badges.append(Badge(f"{generic} reason(s) use generic wording (no reviewed copy)", "warn"))
    if reasons and not untranslated and not generic:
        badges.append(Badge("All reasons use reviewed copy", "ok"))
    return badges


def quality_rows(explanation: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The raw quality figures as table rows: metric, value."""
    return [
        {"metric": _GATE_NAMES.get(k, k.replace("_", " ")), "value": float(v)}
        for k, v in sorted((explanation.get("quality") or {}).items())
    ]
